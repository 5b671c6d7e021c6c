"""From votes to RainRAG on the sample corpus: subsets, the split, the manifest file and the export."""
from __future__ import annotations

import json
import os
import re
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from storage.stage import GLOBAL_SHARD, plan, run_inline
from tasks.curation.decisions import STAGES
from tasks.curation.split import TEST_PER_SUBSET, held_out_target
from tasks.curation.subsets import SUBSETS, decide_subset
from tasks.judging.decision import count_votes
from tasks.manifest import ManifestConfig, build_manifest, publish_manifest
from tests.distill.stages import build
from tools.export import export, main
from training.data import SUBSETS as TRAINING_SUBSETS, read_manifest


def table(store, name, shards):
    return pa.concat_tables(store.read_shard(name, s) for s in shards)


def judge_and_inspect(store, data, profile, shards):
    """inspect, dedup and judge, in the DAG's order: what the manifest step reads besides retrieval."""
    run_inline(store, build("inspect", store, data, profile), shards)
    run_inline(store, build("dedup", store, data, profile), [GLOBAL_SHARD])
    run_inline(store, build("judge", store, data, profile), shards)


def test_measured_subsets_agree_with_the_labels_of_labelled_datasets(retrieved_copy, offline_profile):
    data, store, shards = retrieved_copy
    run_inline(store, build("inspect", store, data, offline_profile), shards)
    inspections = {r["sample_id"]: r for r in table(store, "inspections", shards).to_pylist()}
    samples = [s for s in table(store, "samples", shards).to_pylist() if s["clean_path"]]
    assert all(inspections[s["sample_id"]]["status"] == "ok" for s in samples)
    labelled = [decide_subset(s["time_of_day"], s["rain_type"], None) for s in samples]
    measured = [decide_subset(None, None, inspections[s["sample_id"]]) for s in samples]
    assert {d.source for d in labelled} == {"dataset"} and {d.source for d in measured} == {"image"}
    agree = sum(a.subset == b.subset for a, b in zip(labelled, measured)) / len(samples)
    assert agree >= 0.85, agree           # corpus: 94 % (night 21/24, drops 27/30 measured right)
    assert {d.subset for d in measured} == set(SUBSETS)
    undecided = decide_subset("day", None, {"status": "error", "error": "OSError: x.png"})
    assert undecided.subset is None and "x.png" in undecided.reason
    assert decide_subset("day", "streak", None).subset == "DRS"


def test_manifest_keeps_majority_pairs_splits_by_background_and_trains(retrieved_copy, offline_profile):
    data, store, shards = retrieved_copy
    # RaindropClarity mixes day and night: as if its layout had no label, the images decide
    part = store.current_part("samples", "RaindropClarity-00000")
    samples = pq.read_table(part)
    pq.write_table(samples.set_column(samples.schema.get_field_index("time_of_day"), "time_of_day",
                                      pa.nulls(len(samples), pa.string())), part)
    judge_and_inspect(store, data, offline_profile, shards)
    run_inline(store, build("manifest", store, data, offline_profile, min_yes=2, test_per_subset=100), [GLOBAL_SHARD])
    manifest = store.read_shard("manifest", GLOBAL_SHARD).to_pylist()
    votes: dict[str, list[str]] = {}
    for v in table(store, "votes", shards).to_pylist():
        votes.setdefault(v["sample_id"], []).append(v["answer"])
    samples = {s["sample_id"]: s for s in table(store, "samples", shards).to_pylist()}
    expected = {sid for sid, answers in votes.items()
                if count_votes(answers).yes >= 2 and samples[sid]["split"] != "test"}
    assert {m["sample_id"] for m in manifest} == expected and 20 < len(expected) < len(votes)
    for m in manifest:
        tally = count_votes(votes[m["sample_id"]])
        assert (m["yes_votes"], m["no_votes"], m["abstain_votes"], m["error_votes"]) == \
               (tally.yes, tally.no, tally.abstain, tally.error)
        assert m["rainy_path"] == samples[m["sample_id"]]["rainy_path"] and m["references"]
        assert m["max_s_ssim"] >= m["mean_s_ssim"] and m["config"]
        assert m["subset_source"] == ("image" if m["dataset"] == "RaindropClarity" else "dataset")
    sides: dict[str, set[str]] = {}
    for m in manifest:
        sides.setdefault(m["clean_hash"], set()).add(m["split"])
    assert all(len(s) == 1 for s in sides.values()), "a clean background straddles train and test"
    per_subset = Counter(m["subset"] for m in manifest)
    tests = Counter(m["subset"] for m in manifest if m["split"] == "test")
    assert sum(tests.values()) > 0 and all(tests[s] <= held_out_target(per_subset[s], 100) + 3 for s in SUBSETS)

    path = publish_manifest(store).path
    pairs = read_manifest(path)
    assert len(pairs) == sum(m["split"] == "train" for m in manifest)
    assert {TRAINING_SUBSETS[p.label] for p in pairs} <= set(SUBSETS) and all((data / p.rainy).is_file() for p in pairs)

    assert plan(store, build("manifest", store, data, offline_profile, min_yes=2, test_per_subset=100), [GLOBAL_SHARD])[0] == []   # unchanged inputs: skipped
    # the offline judges share their checks two by two, so a pair has 3, 1 or 0 yes votes: min_yes 1 is
    # the setting that changes what is kept
    lenient = build("manifest", store, data, offline_profile, min_yes=1, test_per_subset=100)
    assert len(plan(store, lenient, [GLOBAL_SHARD])[0]) == 1
    run_inline(store, lenient, [GLOBAL_SHARD])
    any_yes = {m["sample_id"] for m in store.read_shard("manifest", GLOBAL_SHARD).to_pylist()}
    assert any_yes > expected and all(count_votes(votes[s]).yes >= 1 for s in any_yes)
    assert pq.read_table(publish_manifest(store).path).num_rows == len(any_yes)


def test_every_candidate_has_one_decision_with_its_reason(retrieved_copy, offline_profile):
    data, store, shards = retrieved_copy
    judge_and_inspect(store, data, offline_profile, shards)
    run_inline(store, build("manifest", store, data, offline_profile, min_yes=2, test_per_subset=100), [GLOBAL_SHARD])
    decisions = store.read_shard("decisions", GLOBAL_SHARD).to_pylist()
    samples, rejects = table(store, "samples", shards).to_pylist(), table(store, "rejects", shards).to_pylist()
    assert Counter(d["sample_id"] for d in decisions) == Counter(r["sample_id"] for r in samples + rejects)
    assert all(d["stage"] in STAGES and d["reason"] for d in decisions)
    assert Counter(d["stage"] for d in decisions if d["stage"] == "ingest") == Counter(ingest=len(rejects))
    by_id = {d["sample_id"]: d for d in decisions if d["stage"] != "ingest"}
    manifest = {m["sample_id"]: m for m in store.read_shard("manifest", GLOBAL_SHARD).to_pylist()}
    assert {sid for sid, d in by_id.items() if d["stage"] == "kept"} == set(manifest)
    assert all((by_id[sid]["subset"], by_id[sid]["split"]) == (m["subset"], m["split"]) for sid, m in manifest.items())
    for sample in samples:
        decided = by_id[sample["sample_id"]]
        if sample["clean_path"] is None:
            assert decided["stage"] == "pairing" and decided["yes_votes"] is None
        elif sample["split"] == "test":
            assert decided["stage"] == "public_test" and "held out for benchmarks" in decided["reason"]
    discarded = [d for d in by_id.values() if d["stage"] == "judges"]
    assert discarded and all(re.fullmatch(r"[01] of 3 judges said yes, 2 needed", d["reason"]) for d in discarded)
    assert all([part.split("=")[0] for part in d["judge_reasons"].split(" | ")] == ["judge_1", "judge_2", "judge_3"]
               for d in discarded)
    # a candidate ingest rejected is decided there, with its code and message
    reject = {"sample_id": "Rain200H/x", "dataset": "Rain200H", "split": "train", "code": "corrupt_image",
              "reason": "rain/X2/x.png: image file is truncated"}
    [row] = build_manifest([], [reject], ManifestConfig(min_yes=2, test_per_subset=100))["decisions"].to_pylist()
    assert (row["stage"], row["reason"], row["source_split"]) == \
           ("ingest", "corrupt_image: rain/X2/x.png: image file is truncated", "train")


def test_export_writes_the_authors_layout_with_hard_links(retrieved_copy, offline_profile, tmp_path, capsys):
    data, store, shards = retrieved_copy
    judge_and_inspect(store, data, offline_profile, shards)
    run_inline(store, build("manifest", store, data, offline_profile, min_yes=2, test_per_subset=100), [GLOBAL_SHARD])
    manifest = store.read_shard("manifest", GLOBAL_SHARD).to_pylist()
    out = tmp_path / "rainrag"
    summary = export(store.root, data, out)
    counts = Counter((m["split"], m["subset"].lower()) for m in manifest)
    assert summary["pairs"] == {f"{s}/{sub}": n for (s, sub), n in sorted(counts.items())}
    halves = [m for m in manifest if m["side_by_side"]]
    assert summary["files"] == {"hardlink": len(manifest) - len(halves), "split": len(halves)} and halves
    for m in manifest:
        name = f"{m['dataset']}-{m['sample_id']}{'.png' if m['side_by_side'] else os.path.splitext(m['rainy_path'])[1].lower()}"
        folder = out / m["split"] / m["subset"].lower()
        if m["side_by_side"]:   # one file holding both images: two PNG halves, each half as wide
            with Image.open(data / m["rainy_path"]) as whole, Image.open(folder / "input" / name) as rainy, \
                    Image.open(folder / "target" / name) as clean:
                assert rainy.size == clean.size == (whole.width // 2, whole.height)
            continue
        assert os.path.samefile(folder / "input" / name, data / m["rainy_path"])
        assert os.path.samefile(folder / "target" / name, data / m["clean_path"])
    train = read_manifest_from_layout(out / "train")
    assert train == Counter(m["subset"] for m in manifest if m["split"] == "train")

    (out / "train" / "drs" / "input" / "stale.png").write_bytes(b"old")
    main(["--store", str(store.root), "--data-root", str(data), "--out", str(out), "--split", "train", "--copy"])
    printed = capsys.readouterr().out
    assert f"train with: python -m flows.train --data {out / 'train'}" in printed and "removed 1 stale" in printed
    again = json.loads((out / "export.json").read_text())
    train_rows = [m for m in manifest if m["split"] == "train"]
    assert again["removed_stale"] == 1
    assert again["files"] == {"copy": sum(not m["side_by_side"] for m in train_rows),
                              "split": sum(bool(m["side_by_side"]) for m in train_rows)}
    some = next(m for m in train_rows if not m["side_by_side"])
    copied = out / "train" / some["subset"].lower() / "input" / f"{some['dataset']}-{some['sample_id']}" \
        f"{os.path.splitext(some['rainy_path'])[1].lower()}"
    assert copied.read_bytes() == (data / some["rainy_path"]).read_bytes()
    assert not os.path.samefile(copied, data / some["rainy_path"])
    assert (out / "test").is_dir() and any((out / "test").rglob("*.png"))   # the other split left as it was

    # an export that stops half way (here: a data root without the files) leaves no export.json behind
    (tmp_path / "moved").mkdir()
    with pytest.raises(SystemExit) as exited:
        main(["--store", str(store.root), "--data-root", str(tmp_path / "moved"), "--out", str(out)])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.startswith(f"error: cannot export {tmp_path / 'moved'}/")
    assert f"{out} is incomplete and has no export.json" in err and not (out / "export.json").exists()


def read_manifest_from_layout(root) -> Counter:
    from training.data import read_layout

    return Counter(TRAINING_SUBSETS[p.label] for p in read_layout(root))


def test_export_refuses_a_store_without_a_manifest(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--store", str(tmp_path / "nowhere"), "--data-root", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exited.value.code == 2 and "nowhere does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "out").exists()


def test_test_per_subset_reaches_the_split(retrieved_copy, offline_profile):
    """--test-per-subset / the deployment's test_per_subset decide how many pairs each subset gives to test."""
    data, store, shards = retrieved_copy
    judge_and_inspect(store, data, offline_profile, shards)
    tests_by_setting = {}
    for setting in (0, 2, TEST_PER_SUBSET):   # TEST_PER_SUBSET: the CLI's and the deployment's default
        run_inline(store, build("manifest", store, data, offline_profile, min_yes=2, test_per_subset=setting), [GLOBAL_SHARD])
        manifest = store.read_shard("manifest", GLOBAL_SHARD).to_pylist()
        tests_by_setting[setting] = Counter(m["subset"] for m in manifest if m["split"] == "test")
        per_subset = Counter(m["subset"] for m in manifest)
        assert all(tests_by_setting[setting][s] <= held_out_target(per_subset[s], setting) for s in SUBSETS), \
            (setting, tests_by_setting[setting])
    assert sum(tests_by_setting[0].values()) == 0
    assert 0 < sum(tests_by_setting[2].values()) < sum(tests_by_setting[TEST_PER_SUBSET].values())
    assert all(n <= 2 for n in tests_by_setting[2].values())
