"""Training data: the layout builder, manifest reading, the validation split and the sample stream."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.images import halves, load_rgb8
from storage.store import Store
from training.data import (SUBSETS, Pair, StepBatches, TrainStream, prepare_data, random_patch, read_layout,
                           read_manifest, split_validation)
from training.layout import build_layout, read_samples


def test_layout_from_the_store(corpus_store, layout):
    data, store, _ = corpus_store
    summary = json.loads((layout / "layout.json").read_text())
    rows = read_samples(Store(store))
    paired = [r for r in rows if r["clean_path"] is not None]
    assert sum(summary["pairs"].values()) == len(paired)
    assert summary["skipped"] == {"unpaired": len(rows) - len(paired)}  # Real3000 has no clean images
    assert {k.split("/")[1] for k in summary["pairs"]} == {"drs", "drd", "nrs", "nrd"}
    for subset in ("drs", "drd", "nrs", "nrd"):
        inputs = sorted(p.name for p in (layout / "train" / subset / "input").iterdir())
        assert inputs == sorted(p.name for p in (layout / "train" / subset / "target").iterdir())
    # A many-to-one clean image stays one file: both DDN rainy variants of clean 1.jpg link to it.
    ddn = [p for p in (layout / "train/drs/target").iterdir() if p.name.startswith("DDN-Data")]
    assert len({os.path.realpath(p) for p in ddn}) < len(ddn)
    # Side-by-side files become two halves.
    did = next(p for p in (layout / "train/drs/input").iterdir() if p.name.startswith("DID-Data"))
    row = next(r for r in rows if f"{r['dataset']}-{r['sample_id']}.png" == did.name)
    rainy, clean = halves(load_rgb8(data / row["rainy_path"]), row["side_by_side"])
    np.testing.assert_array_equal(load_rgb8(did), rainy)
    np.testing.assert_array_equal(load_rgb8(layout / "train/drs/target" / did.name), clean)


def test_layout_rebuild_removes_what_the_store_no_longer_yields(corpus_store, layout, tmp_path):
    data, store, _ = corpus_store
    out = tmp_path / "layout"
    build_layout(store, data, out)
    stray = out / "train/drs/input/gone.png"
    stray.write_bytes(b"")
    assert build_layout(store, data, out)["removed_stale"] == 1 and not stray.exists()


def test_validation_split_keeps_backgrounds_whole_and_never_touches_test(layout):
    data = prepare_data(layout / "train", fraction=0.1, max_per_type=100)
    assert data.labels == [0, 1, 2, 3] and all(label in {p.label for p in data.val} for label in data.labels)
    assert not {p.background for p in data.train} & {p.background for p in data.val}
    test_names = {p.name for p in (layout / "test").rglob("*") if p.is_file()}
    assert not test_names & {p.rainy.rsplit("/", 1)[1] for p in data.train + data.val}
    again = prepare_data(layout / "train", fraction=0.1, max_per_type=100)
    assert again.val == data.val and again.fingerprint == data.fingerprint


def test_split_holds_out_whole_backgrounds_and_keeps_one_for_training():
    pairs = [Pair(f"r{i}_{k}", f"c{i}", 0, f"c{i}") for i in range(10) for k in range(3)]
    pairs.append(Pair("lonely", "c-lonely", 1, "c-lonely"))
    train, val = split_validation(pairs, fraction=0.2, max_per_type=100)
    assert len(val) == 6 and len({p.background for p in val}) == 2  # 20 % of 30 pairs = 2 backgrounds
    assert [p for p in train if p.label == 1] == [pairs[-1]]  # a single background is never held out


def test_manifest_reads_train_rows_only_and_names_missing_columns(tmp_path):
    rows = [{"rainy_path": "a/r1.png", "clean_path": "a/c1.png", "subset": "NRD", "split": "train"},
            {"rainy_path": "a/r2.png", "clean_path": "a/c2.png", "subset": "DRS", "split": "test"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "manifest.parquet")
    assert read_manifest(tmp_path / "manifest.parquet") == [Pair("a/r1.png", "a/c1.png", 3, "a/c1.png")]
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in rows[0].items() if k != "split"}]), tmp_path / "m2.parquet")
    with pytest.raises(ValueError, match=r"lacks columns \['split'\]"):
        read_manifest(tmp_path / "m2.parquet")


def test_stream_is_a_pure_function_of_seed_and_position(layout):
    pairs = read_layout(layout / "train")
    a, b = TrainStream(layout / "train", pairs, 32, seed=3), TrainStream(layout / "train", pairs, 32, seed=3)
    for position in (5, 0, len(pairs) + 5, 5):  # out of order and across an epoch boundary
        x, y = a[position], b[position]
        assert x[2] == y[2] and x[0].equal(y[0]) and x[1].equal(y[1]) and x[0].shape == (3, 32, 32)
    assert not a[5][0].equal(TrainStream(layout / "train", pairs, 32, seed=4)[5][0])
    first_epoch = {SUBSETS[a._pair_at(i).label] + a._pair_at(i).rainy for i in range(len(pairs))}
    assert len(first_epoch) == len(pairs)  # every pair once per epoch


def test_crop_and_flips_are_the_same_on_both_images():
    image = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    for seed in range(8):
        rainy, clean = random_patch(image, image.copy(), 32, np.random.default_rng(seed))
        assert rainy.shape == (32, 32, 3)
        np.testing.assert_array_equal(rainy, clean)


def test_step_batches_split_each_step_across_ranks():
    ranks = [list(StepBatches(start=2, steps=4, batch_size=6, rank=r, world=3)) for r in range(3)]
    assert ranks[0] == [[12, 13], [18, 19]] and ranks[2] == [[16, 17], [22, 23]]
    assert sorted(i for r in ranks for batch in r for i in batch) == list(range(12, 24))
    with pytest.raises(ValueError, match="not divisible"):
        StepBatches(0, 1, batch_size=5, world=2)
