"""Copies of datasets add no pair: a byte copy and a resized, re-encoded copy of the sample corpus's data."""
from __future__ import annotations

import io
import shutil
from collections import Counter

import numpy as np
import pyarrow as pa
from PIL import Image

from storage.ledger import LedgerRecord
from storage.schemas import DUPLICATES
from storage.stage import GLOBAL_SHARD, plan, run_inline
from storage.store import Store
from tasks.audit import dataset_card
from tasks.curation.duplicates import TABLE_ORDER, DedupConfig, exact_links, group_rows, near_links
from tests.distill.stages import FAST_RETRIEVAL, build, distil


def table(store: Store, name: str) -> list[dict]:
    shards = [GLOBAL_SHARD] if name in ("manifest", "decisions", "duplicates") else store.current_shards("samples")
    return pa.concat_tables(store.read_shard(name, s) for s in shards).to_pylist()


def resized_copy(source, target, scale: float = 0.75) -> None:
    """Every PNG of `source` at `scale`, through JPEG quality 85 and back to PNG: other bytes, other size."""
    for path in sorted(source.rglob("*.png")):
        image = Image.open(path).convert("RGB")
        small = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=85)
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(buffer).save(out)


def test_a_byte_copy_and_a_resized_copy_of_datasets_add_no_pair(distilled_copy, offline_profile):
    data, store = distilled_copy
    before = {r["sample_id"] for r in table(store, "manifest")}
    votes_before = len(table(store, "votes"))
    shutil.copytree(data / "Rain200H", data / "Rain200L")        # Rain200H shipped again under another name
    resized_copy(data / "Rain100L", data / "Rain100H")           # and Rain100L, resized and re-encoded
    published = distil(data, store, offline_profile)

    samples = {r["sample_id"]: r for r in table(store, "samples")}
    copies = {sid for sid, r in samples.items() if r["dataset"] in ("Rain200L", "Rain100H") and r["clean_path"]}
    assert len(copies) == 15 + 18
    manifest = table(store, "manifest")
    assert len(manifest) == len(before), "the copies added pairs"
    content = Counter((samples[r["sample_id"]]["rainy_hash"], samples[r["sample_id"]]["clean_hash"]) for r in manifest)
    assert max(content.values()) == 1
    # Rain200H's pairs were released in 1.0: they stay, although Rain200L precedes it in the supplement's table
    assert TABLE_ORDER.index("Rain200L") < TABLE_ORDER.index("Rain200H")
    assert {r["sample_id"] for r in manifest} == before

    decisions = {r["sample_id"]: r for r in table(store, "decisions")}
    duplicates = {r["sample_id"]: r for r in table(store, "duplicates")}
    # Rain100H: a resized copy of each of Rain100L's 18 pairs, its 6 test ones decided as public test
    # images first. Rain200L: byte copies of Rain200H's 15 pairs; those of its 5 public test pairs are
    # train pairs in Rain200L's layout, and would leak that benchmark.
    assert Counter(samples[s]["dataset"] for s in duplicates) == {"Rain100H": 18, "Rain200L": 15}
    decided = {sid for sid, d in decisions.items() if d["stage"] == "duplicate"}
    assert decided == {sid for sid in duplicates if samples[sid]["split"] != "test"}
    by_dataset = Counter(samples[s]["dataset"] for s in decided)
    assert by_dataset == {"Rain100H": 12, "Rain200L": 15}, by_dataset
    for sid, row in duplicates.items():
        other = samples[row["duplicate_of"]]
        if sid in decided:
            assert decisions[sid]["duplicate_of"] == row["duplicate_of"] and decisions[sid]["reason"] == row["reason"]
        if samples[sid]["dataset"] == "Rain100H":
            assert (row["kind"], other["dataset"]) == ("near", "Rain100L") and row["correlation"] >= 0.8
        else:
            assert row["kind"] == "exact" and other["dataset"] == "Rain200H"
            assert (samples[sid]["rainy_hash"], samples[sid]["clean_hash"]) == \
                   (other["rainy_hash"], other["clean_hash"])
        assert row["of_public_test"] == (other["split"] == "test")
        if row["of_public_test"] and sid in decided:
            assert "leak the benchmark" in row["reason"]
    # never judged: not one judge call for the 33 copies
    votes = table(store, "votes")
    assert not {v["sample_id"] for v in votes} & set(duplicates)
    assert len(votes) == votes_before

    lines = dataset_card(store).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| dataset |") and "duplicate" in line)
    column = [c.strip() for c in lines[start].strip("|").split("|")].index("duplicate")
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    assert {d: int(rows[d][column]) for d in by_dataset} == dict(by_dataset)
    # RainRAG itself did not change: no new version
    assert not published.new and published.version.name == "1.0"


def test_renderings_of_one_background_are_not_duplicates(distilled):
    """DDN-Data's rainy variants share their clean image and look alike in hash; they are distinct pairs."""
    store = Store(distilled[1])
    samples = table(store, "samples")
    ddn = [s for s in samples if s["dataset"] == "DDN-Data"]
    assert max(Counter(s["clean_hash"] for s in ddn).values()) == 3
    assert not {d["sample_id"] for d in table(store, "duplicates")} & {s["sample_id"] for s in ddn}


def test_the_keep_rule_prefers_a_released_member_then_the_train_split_then_table_order():
    def pair(sid, dataset, split, signature):
        return {"sample_id": sid, "dataset": dataset, "split": split, "rainy_hash": sid, "clean_hash": sid,
                "filename": f"/s/samples/shard={dataset}-00000/part-x.parquet", "rainy_phash": 5, "clean_phash": 9,
                "rain_signature": signature}

    rng = np.random.default_rng(0)
    base = rng.normal(size=256)
    near = [(base + rng.normal(scale=0.05, size=256)).astype(np.float16) for _ in range(3)]
    pairs = [pair("a", "Rain800", "train", near[0]), pair("b", "Rain100L", "all", near[1]),
             pair("c", "Rain13K", "train", near[2]), pair("z", "Rain12", "train", rng.normal(size=256))]
    links = exact_links(pairs) + near_links(pairs, DedupConfig())
    assert sorted((a, b) for a, b, _ in links) == [(0, 1), (0, 2), (1, 2)]   # "z" is another rain layer

    def stays(released=frozenset()):
        rows = group_rows(pairs, links, set(released))
        assert len({r["duplicate_of"] for r in rows}) == 1 and len(rows) == 2
        return rows[0]["duplicate_of"]

    assert stays() == "a"                  # Rain800 precedes Rain13K; Rain100L's split is not a train split
    assert stays({"c"}) == "c"             # a released member stays whatever the order
    pairs[1]["split"] = "test"
    rows = group_rows(pairs, links, {"c"})
    assert {r["duplicate_of"] for r in rows} == {"b"} and all(r["of_public_test"] for r in rows)


def test_dedup_thresholds_are_settings_and_rerun_only_what_they_change(distilled_copy, offline_profile):
    data, store = distilled_copy
    assert plan(store, build("dedup", store, data, offline_profile), [GLOBAL_SHARD])[0] == []
    stricter = build("dedup", store, data, offline_profile, dedup_min_correlation=0.95, dedup_max_phash_distance=2)
    assert stricter.config == DedupConfig(0.95, 2)
    assert len(run_inline(store, stricter, [GLOBAL_SHARD])) == 1
    # dedup ran again and found the same (no) duplicates: no judge shard has to run again
    judge = build("judge", store, data, offline_profile, **FAST_RETRIEVAL)
    assert plan(store, judge, store.current_shards("samples"))[0] == []


def test_a_judge_shard_is_fingerprinted_by_its_own_duplicates_only(distilled_copy, offline_profile):
    """A dedup result that marks a sample of this shard re-runs this shard's judging, and only this one's."""
    data, store = distilled_copy
    judge = build("judge", store, data, offline_profile, **FAST_RETRIEVAL)
    shards = store.current_shards("samples")
    before = {s: judge.input_fingerprint(store, s) for s in shards}
    marked = shards[0]
    victim = store.read_shard("samples", marked)["sample_id"][0].as_py()
    row = {"sample_id": victim, "shard": marked, "dataset": "x", "duplicate_of": "y", "duplicate_dataset": "x",
           "kind": "exact", "of_public_test": False, "correlation": None, "group_size": 2, "reason": "planted"}
    path = store.write_part("duplicates", GLOBAL_SHARD, "planted", pa.Table.from_pylist([row], schema=DUPLICATES))
    outputs = {"duplicates": path.relative_to(store.root).as_posix()}
    store.ledger.write(LedgerRecord(stage="dedup", shard=GLOBAL_SHARD, fingerprint="planted", status="done",
                                    started=0.0, finished=0.0, outputs=outputs))
    after = {s: judge.input_fingerprint(store, s) for s in shards}
    assert [s for s in shards if after[s] != before[s]] == [marked]
    assert judge.read_input(store, marked)["duplicates"] == frozenset({victim})
