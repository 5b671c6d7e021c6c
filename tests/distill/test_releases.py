"""RainRAG's versions: released splits never move, a diff lists what changed, a breaking version needs a new major."""
from __future__ import annotations

import shutil
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from corpus import generate_corpus
from corpus.layouts import save, streaks
from flows.release import main as release_main
from storage.catalog import query, refresh_catalog
from tasks.curation.releases import SplitRuleBroken, Version, diff_versions, read_release, versions
from tasks.curation.split import split_pairs
from tests.distill.stages import distil
from tests.prefect_reads import latest_runs, run_artifacts


def rows(store, name: str) -> dict[str, dict]:
    return {r["sample_id"]: r for r in read_release(store, Version.parse(name)).to_pylist()}


def assert_never_moved(store) -> None:
    """Every pair of every release so far: once test, always test; once train, never test."""
    first: dict[str, str] = {}
    for version in versions(store):
        for sid, row in rows(store, version.name).items():
            assert row["split"] == first.setdefault(sid, row["split"]), f"{sid} moved in {version.name}"
    latest = rows(store, versions(store)[-1].name).values()
    splits_of = defaultdict(set)
    for row in latest:
        splits_of[row["clean_hash"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values()), "a clean background in both splits"


def assert_diff_is_exact(store, old: str, new: str) -> None:
    before, after = rows(store, old), rows(store, new)
    diff = diff_versions(store, Version.parse(old), Version.parse(new))
    assert set(diff.added["sample_id"].to_pylist()) == set(after) - set(before)
    assert set(diff.removed["sample_id"].to_pylist()) == set(before) - set(after)
    moved = {s for s in set(before) & set(after)
             if (before[s]["subset"], before[s]["split"]) != (after[s]["subset"], after[s]["split"])}
    assert set(diff.moved["sample_id"].to_pylist()) == moved


def test_released_splits_stay_when_datasets_are_added_and_thresholds_change(distilled_copy, offline_profile,
                                                                            tmp_path, capsys):
    data, store = distilled_copy
    assert [v.name for v in versions(store)] == ["1.0"]
    v1 = rows(store, "1.0")
    assert {r["manifest_version"] for r in v1.values()} == {"1.0"}
    # two datasets added: other scenes, in the layouts of Rain200L and Rain100H
    generate_corpus(tmp_path / "more", seed=1)
    shutil.copytree(tmp_path / "more" / "Rain200H", data / "Rain200L")
    shutil.copytree(tmp_path / "more" / "Rain100L", data / "Rain100H")
    assert distil(data, store, offline_profile).version.name == "1.1"
    v2 = rows(store, "1.1")
    assert len(v2) > len(v1) and set(v1) <= set(v2)
    # without the pins the added pairs would have moved released ones (the split is drawn per subset)
    fresh = split_pairs([{"sample_id": s, "subset": r["subset"], "background": r["clean_hash"]} for s, r in v2.items()])
    assert any(fresh[s] != r["split"] for s, r in v1.items()), "the test would pass without pins"
    assert_never_moved(store)
    assert_diff_is_exact(store, "1.0", "1.1")

    # the offline judges vote 3, 1 or 0 yes (their checks are shared two by two): min_yes 1 is the one that
    # keeps more pairs, and back to 2 drops them again
    assert distil(data, store, offline_profile, min_yes=1).version.name == "1.2"
    v3 = rows(store, "1.2")
    assert set(v3) > set(v2)
    assert distil(data, store, offline_profile, min_yes=2).version.name == "1.3"
    assert {s: r["split"] for s, r in rows(store, "1.3").items()} == {s: r["split"] for s, r in v2.items()}
    assert_never_moved(store)
    for old, new in (("1.1", "1.2"), ("1.2", "1.3"), ("1.0", "1.3")):
        assert_diff_is_exact(store, old, new)
    assert not distil(data, store, offline_profile).new      # nothing changed: no version

    # the catalog has every version; the published manifest is the latest
    refresh_catalog(store)
    counts = {r["manifest_version"]: r["pairs"] for r in
              query(store, "select manifest_version, count(*) as pairs from releases group by 1")}
    assert counts == {"1.0": len(v1), "1.1": len(v2), "1.2": len(v3), "1.3": len(v2)}
    published = pq.read_table(store.root / "manifest.parquet")
    assert set(published["manifest_version"].to_pylist()) == {"1.3"}

    release_main(["list", "--store", str(store.root)])
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["1.0", "1.1", "1.2", "1.3"]
    with pytest.raises(SystemExit) as exited:
        release_main(["diff", "--store", str(store.root), "1.0", "9.9"])
    assert exited.value.code == 2 and "no RainRAG release 9.9" in capsys.readouterr().err


def test_the_diff_command_prints_the_diff_and_attaches_it_to_its_flow_run(distilled_copy, offline_profile,
                                                                            prefect_harness, capsys):
    data, store = distilled_copy
    assert distil(data, store, offline_profile, min_yes=1).version.name == "1.1"
    release_main(["diff", "--store", str(store.root)])          # the latest against the one before it
    printed = capsys.readouterr().out
    expected = diff_versions(store, Version(1, 0), Version(1, 1))
    assert printed.strip() == expected.markdown().strip() and expected.added.num_rows > 0
    assert f"{expected.added.num_rows} pairs added, 0 removed, 0 changed" in printed
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        [run] = [r for r in latest_runs(client, "release-diff") if r.parameters.get("store") == str(store.root)]
        [artifact] = [a for a in run_artifacts(client, run.id) if a.key == "manifest-diff"]
    assert artifact.data == expected.markdown()


def test_a_version_that_would_move_released_pairs_fails_unless_a_new_major_is_asked(distilled_copy, offline_profile):
    data, store = distilled_copy
    v1 = rows(store, "1.0")
    owners = defaultdict(list)
    for row in v1.values():
        owners[row["clean_hash"]].append(row)
    test_pair = next(r for r in v1.values() if r["split"] == "test" and len(owners[r["clean_hash"]]) == 1)
    train_pair = next(r for r in v1.values() if r["split"] == "train" and r["dataset"] == test_pair["dataset"])
    # a re-released dataset: the test pair is now another rain rendering of the train pair's background
    background = np.asarray(Image.open(data / train_pair["clean_path"]).convert("RGB"), np.float32) / 255.0
    save(data / test_pair["rainy_path"], streaks(background, np.random.default_rng(7), "light"))
    shutil.copyfile(data / train_pair["clean_path"], data / test_pair["clean_path"])
    with pytest.raises(SplitRuleBroken) as broken:
        distil(data, store, offline_profile)
    message = str(broken.value)
    assert train_pair["sample_id"] in message and "released in train, now test" in message
    assert "--new-major" in message and [v.name for v in versions(store)] == ["1.0"]

    published = distil(data, store, offline_profile, new_major=True)
    assert (published.version.name, published.previous.name) == ("2.0", "1.0")
    splits_of = defaultdict(set)
    for row in rows(store, "2.0").values():   # a fresh split, still whole backgrounds on one side
        splits_of[row["clean_hash"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    # 2.x goes on from 2.0: nothing changed, no version
    assert not distil(data, store, offline_profile).new
