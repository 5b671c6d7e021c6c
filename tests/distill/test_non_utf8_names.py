"""A path whose bytes are not UTF-8 travels from the walk through the distill flow, the manifest, the
export and both training readers, and is opened by its exact bytes everywhere."""
from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest

from storage.paths import absolute
from tools.export import export
from training.data import load_pair, read_manifest
from training.layout import build_layout

pytestmark = pytest.mark.slow
FOLDER = b"caf\xe9"   # Latin-1 "café": not valid UTF-8


def test_a_non_utf8_folder_goes_through_distill_export_and_training(corpus_store, offline_profile, tmp_path,
                                                                   prefect_harness):
    from flows.distill import distill

    corpus, _, _ = corpus_store
    data = tmp_path / "data"
    for dataset in ("Rain200H", "Real3000"):   # synthetic pairs, and real rainy images as references
        shutil.copytree(corpus / dataset, data / dataset)
    # Rain200H's layout takes any folders above rain_data_train_Heavy: put its train split under "café"
    hidden = os.fsencode(data / "Rain200H") + b"/" + FOLDER
    os.mkdir(hidden)
    os.rename(data / "Rain200H" / "rain_data_train_Heavy", os.fsdecode(hidden + b"/rain_data_train_Heavy"))

    distill(data_root=str(data), store=str(tmp_path / "store"), profile="offline",
            models_dir=str(offline_profile.models_dir), shard_size=64, k1=12, k2=5, k3=2, ssim_size=64)
    manifest = pq.read_table(tmp_path / "store" / "manifest.parquet").to_pylist()
    moved = [m for m in manifest if m["rainy_path_raw"] is not None]
    assert moved and all(m["rainy_path"].startswith("Rain200H/caf\\xe9/") for m in moved)
    assert all(m["rainy_path_raw"].startswith(b"Rain200H/caf\xe9/") and m["clean_path_raw"] for m in moved)

    summary = export(tmp_path / "store", data, tmp_path / "export")
    assert (tmp_path / "export" / "export.json").is_file() and sum(summary["pairs"].values()) == len(manifest)
    for m in moved:
        name = f"{m['dataset']}-{m['sample_id']}.png"
        exported = tmp_path / "export" / m["split"] / m["subset"].lower()
        assert os.path.samefile(exported / "input" / name, absolute(data, m["rainy_path"], m["rainy_path_raw"]))
        assert os.path.samefile(exported / "target" / name, absolute(data, m["clean_path"], m["clean_path_raw"]))

    layout = build_layout(tmp_path / "store", data, tmp_path / "layout")
    assert layout["pairs"] and not [r for r in layout["skipped"] if "caf" in r]
    pairs = read_manifest(tmp_path / "store" / "manifest.parquet")   # what `flows.train --data` reads
    from_manifest = [p for p in pairs if os.fsencode(p.rainy).startswith(b"Rain200H/caf\xe9/")]
    assert from_manifest, "the manifest's non-UTF-8 train pairs reach training"
    rainy, clean = load_pair(data, from_manifest[0])
    assert rainy.shape == clean.shape and rainy.ndim == 3
