"""Test sets from `samples` and from a manifest, jobs and their resume, and the Table-1-style report."""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pytest

from evaluation.inference import identity
from evaluation.jobs import STAGE, Inference, run_job
from evaluation.published import PUBLISHED
from evaluation.report import build_sections, to_markdown
from evaluation.test_sets import RAINRAG, read_test_sets
from storage.ledger import LedgerRecord
from storage.store import Store
from training.layout import read_samples


def test_public_test_sets_are_the_paired_test_splits(corpus_store):
    data, store, _ = corpus_store
    sets = read_test_sets(Store(store), data)
    samples = read_samples(Store(store))
    expected = {r["dataset"] for r in samples if r["split"] == "test" and r["clean_path"] is not None}
    assert {s.key for s in sets} == expected and "Real3000" not in expected  # unpaired: no ground truth
    for test_set in sets:
        ids = {r["sample_id"] for r in samples if r["dataset"] == test_set.name and r["split"] == "test"}
        assert {p.stem for p in test_set.pairs} == ids and test_set.source == "samples"
    assert [s.key for s in read_test_sets(Store(store), data, ["SPA-Data"])] == ["SPA-Data"]
    with pytest.raises(ValueError, match=r"no test set \['Test9'\].*present: .*Rain100L"):
        read_test_sets(Store(store), data, ["Test9"])


def write_manifest(store: Store, rows: list[dict]) -> None:
    """A `manifest` table part recorded done in the ledger, as the manifest stage leaves it."""
    table = pa.Table.from_pylist(rows)
    path = store.write_part("manifest", "00000", "fixture", table)
    store.ledger.write(LedgerRecord(stage="manifest", shard="00000", fingerprint="fixture", status="done",
                                    started=time.time(), finished=time.time(), rows={"manifest": len(rows)},
                                    outputs={"manifest": path.relative_to(store.root).as_posix()}))


def manifest_rows(samples: list[dict]) -> list[dict]:
    """Rain100L's test pairs as RainRAG's DRS test subset, RainDrop's as DRD, one train row that must not count."""
    chosen = {"Rain100L": "drs", "RainDrop": "drd"}
    rows = [{"sample_id": r["sample_id"], "dataset": r["dataset"], "subset": chosen[r["dataset"]], "split": "test",
             "rainy_path": r["rainy_path"], "clean_path": r["clean_path"]}
            for r in samples if r["dataset"] in chosen and r["split"] == "test"]
    train = next(r for r in samples if r["dataset"] == "Rain100L" and r["split"] == "train")
    return rows + [{"sample_id": train["sample_id"], "dataset": "Rain100L", "subset": "drs", "split": "train",
                    "rainy_path": train["rainy_path"], "clean_path": train["clean_path"]}]


def test_manifest_gives_rainrag_subsets_and_the_report_averages_them(corpus_store, store_copy):
    data = corpus_store[0]
    store = Store(store_copy)
    assert not [s for s in read_test_sets(store, data) if s.name == RAINRAG]  # no manifest yet: skipped
    samples = read_samples(store)
    write_manifest(store, manifest_rows(samples))
    rainrag = [s for s in read_test_sets(store, data) if s.name == RAINRAG]
    assert [s.key for s in rainrag] == ["RainRAG-DRS", "RainRAG-DRD"] and all(s.source == "manifest" for s in rainrag)
    n_drs = sum(r["dataset"] == "Rain100L" and r["split"] == "test" for r in samples)
    assert len(rainrag[0].pairs) == n_drs  # the train row stays out

    rows = [row for s in rainrag
            for row in run_job(store, identity(), s, ["pyiqa_default"], Inference())[0].to_pylist()]
    section = build_sections(rows, ["pyiqa_default"])[0]
    # the paper's order; NRS and NRD are columns too because the published UniRain row has them
    assert section.columns[:5] == ["RainRAG-DRS", "RainRAG-DRD", "RainRAG-NRS", "RainRAG-NRD", "RainRAG"]
    assert section.counts == {"RainRAG-DRS": len(rainrag[0].pairs), "RainRAG-DRD": len(rainrag[1].pairs)}
    ours = section.lines[0]
    mean_psnr = (rows[0]["psnr"] + rows[1]["psnr"]) / 2
    mean_ssim = (rows[0]["ssim"] + rows[1]["ssim"]) / 2
    assert ours.label == "identity (rainy input)" and ours.cells["RainRAG"] == f"{mean_psnr:.2f} / {mean_ssim:.4f}"
    published = {line.label: line for line in section.lines if line.published}
    assert published["input (published: UniRain paper, Table 1)"].cells == {"RainRAG": "23.13 / 0.7220"}
    assert published["UniRain (published: UniRain paper, Tables 1-2)"].cells["RainRAG-DRS"] == "29.58 / 0.8400"
    markdown = to_markdown([section])
    assert "| *UniRain (published: UniRain paper, Tables 1-2)* | *29.58 / 0.8400* |" in markdown

    bad = manifest_rows(samples)[:1]
    bad[0]["subset"] = "day"
    write_manifest(store, bad)
    with pytest.raises(ValueError, match="subset 'day'; expected one of"):
        read_test_sets(store, data)


def test_job_resumes_from_the_ledger_and_redoes_a_changed_test_set(corpus_store, store_copy):
    data = corpus_store[0]
    store = Store(store_copy)
    test_set = read_test_sets(store, data, ["Rain200H"])[0]
    table, computed = run_job(store, identity(), test_set, ["matlab_y_double"], Inference())
    assert computed and table.num_rows == 1 and table.column("n")[0].as_py() == len(test_set.pairs)
    again, computed = run_job(store, identity(), test_set, ["matlab_y_double"], Inference())
    assert not computed and again.equals(table)
    _, computed = run_job(store, identity(), test_set, ["matlab_y_double", "skimage_rgb"], Inference())
    assert computed  # another protocol list is another job
    smaller = type(test_set)(test_set.name, test_set.subset, test_set.source, test_set.pairs[:-1])
    table, computed = run_job(store, identity(), smaller, ["matlab_y_double"], Inference())
    assert computed and table.column("n")[0].as_py() == len(test_set.pairs) - 1  # stale output removed
    assert len(list(store.root.glob("results/shard=identity+Rain200H/part-*.parquet"))) == 1
    assert sum(1 for _ in store.ledger.records(STAGE)) == 3


def test_published_rows_name_known_protocols_and_plausible_numbers():
    from evaluation.protocols import PROTOCOLS

    for row in PUBLISHED:
        assert row.protocol in PROTOCOLS and row.cells
        assert all(15 < psnr < 60 and 0.5 < ssim < 1 for psnr, ssim in row.cells.values())
    assert np.isclose(np.mean([29.58, 24.71, 35.23, 26.21]), 28.93, atol=0.01)  # Table 1's mean of the subsets


def test_report_keeps_two_checkpoints_with_one_label_apart():
    def row(checkpoint: str, psnr: float) -> dict:
        return {"checkpoint": checkpoint, "label": "unirain@100", "model": "unirain", "test_set": "Rain100L",
                "subset": "all", "protocol": "matlab_y_u8", "psnr": psnr, "ssim": 0.5, "lpips": None, "n": 3}

    section = build_sections([row("/a/ckpt.pt", 30.0), row("/b/ckpt.pt", float("inf"))], ["matlab_y_u8"])[0]
    ours = [line for line in section.lines if not line.published]
    assert [line.label for line in ours] == ["unirain@100 (unirain) [/a/ckpt.pt]", "unirain@100 (unirain) [/b/ckpt.pt]"]
    assert [line.cells["Rain100L"] for line in ours] == ["30.00 / 0.5000", "inf / 0.5000"]
    assert section.counts["Rain100L"] == 3 and "Rain100L (n=3)" in to_markdown([section])
