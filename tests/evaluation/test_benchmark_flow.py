"""End to end: a small trained UniRain and the identity on the sample corpus's test splits, through the
Prefect flow, into `results`, the report and the flow run's artifacts; the identity row checked against
PSNR computed here independently from the original files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from storage.catalog import query
from storage.store import Store
from tests.prefect_reads import run_artifacts
from training.layout import read_samples

ROOT = Path(__file__).resolve().parents[2]
SETS = ["Rain100L", "DID-Data", "DDN-Data"]  # one-to-one PNG, side-by-side halves, many-to-one JPEG
PROTOCOLS = ["matlab_y_u8", "skimage_rgb"]


def independent_pair(row: dict, data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(rainy, clean) uint8 RGB straight from the data root with Pillow, halves cut here."""
    rainy = np.asarray(Image.open(data / row["rainy_path"]).convert("RGB"))
    if row["side_by_side"] is None:
        return rainy, np.asarray(Image.open(data / row["clean_path"]).convert("RGB"))
    half = rainy.shape[1] // 2
    left, right = rainy[:, :half], rainy[:, half:2 * half]
    return (left, right) if row["side_by_side"] == "left_rainy" else (right, left)


def independent_input_psnr(store: Path, data: Path, dataset: str) -> tuple[float, float, int]:
    """(RGB PSNR by skimage, uint8-Y PSNR written out here, n) of the rainy inputs of a test split."""
    rows = [r for r in read_samples(Store(store)) if r["dataset"] == dataset and r["split"] == "test"]
    rgb, y = [], []
    for row in rows:
        rainy, clean = independent_pair(row, data)
        rgb.append(peak_signal_noise_ratio(clean, rainy))
        # MATLAB's uint8 Y, here in exact rational arithmetic: 16 + round-half-up(Σ w·c / 255) with w in 1/1000
        luma = [16 + np.floor((img[..., 0] * 65481 + img[..., 1] * 128553 + img[..., 2] * 24966) / 255000 + 0.5)
                for img in (rainy.astype(np.int64), clean.astype(np.int64))]
        y.append(10 * np.log10(255.0**2 / np.mean((luma[0] - luma[1]) ** 2)))
    return float(np.mean(rgb)), float(np.mean(y)), len(rows)


@pytest.mark.slow
def test_benchmark_flow_scores_checkpoint_and_identity(corpus_store, store_copy, tiny_run, prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.benchmark import benchmark

    data = corpus_store[0]
    state = benchmark(store=str(store_copy), data_root=str(data), checkpoints=[str(tiny_run)], protocols=PROTOCOLS,
                      test_sets=SETS, return_state=True)
    result = state.result()
    rows = result["rows"]
    assert len(rows) == 2 * len(SETS) * len(PROTOCOLS)
    by = {(r["label"], r["test_set"], r["protocol"]): r for r in rows}

    for dataset in SETS:
        rgb, y, n = independent_input_psnr(store_copy, data, dataset)
        assert by[("identity", dataset, "skimage_rgb")]["psnr"] == pytest.approx(rgb, abs=1e-9)
        assert by[("identity", dataset, "matlab_y_u8")]["psnr"] == pytest.approx(y, abs=1e-9)
        trained = by[("run@4", dataset, "matlab_y_u8")]
        assert trained["model"] == "unirain" and trained["step"] == 4 and trained["n"] == n
        assert trained["checkpoint"] == str(tiny_run / "checkpoints" / "ckpt-00000004.pt")
        assert np.isfinite(trained["psnr"]) and trained["psnr"] != by[("identity", dataset, "matlab_y_u8")]["psnr"]
        saved = sorted(Path(trained["predictions"]).glob("*.png"))
        assert len(saved) == n
        with Image.open(saved[0]) as png:
            assert png.mode == "RGB" and png.format == "PNG"

    # the results table is in the catalog, with the protocol stored beside every number
    catalog = query(Store(store_copy), "select protocol, count(*) as n from results group by 1 order by 1")
    assert catalog == [{"protocol": p, "n": 2 * len(SETS)} for p in PROTOCOLS]

    # the report: markdown + PNG in <store>/reports, published rows marked, and attached to the flow run
    markdown = Path(result["markdown"]).read_text()
    assert "identity (rainy input)" in markdown and "run@4 (unirain)" in markdown
    assert "## `matlab_y_u8`" in markdown and "## `skimage_rgb`" in markdown
    assert "*DRSformer (published: DRSformer paper)*" in markdown and "not reproduced by rainrag" in markdown
    with Image.open(result["png"]) as png:
        assert png.format == "PNG" and png.size[0] > 400
    assert Path(result["markdown"]).parent == store_copy / "reports"
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in run_artifacts(client, state.state_details.flow_run_id)}
    assert {"benchmark-report", "benchmark-results", "benchmark-report-png"} <= set(artifacts)
    assert "identity (rainy input)" in artifacts["benchmark-report"].data

    # a rerun restores and scores nothing: the ledger's records are the ones the first run wrote
    before = {(r.shard, r.fingerprint, r.finished) for r in Store(store_copy).ledger.records("benchmark")}
    again = benchmark(store=str(store_copy), data_root=str(data), checkpoints=[str(tiny_run)], protocols=PROTOCOLS,
                      test_sets=SETS)
    assert {(r.shard, r.fingerprint, r.finished) for r in Store(store_copy).ledger.records("benchmark")} == before
    assert sorted(again["rows"], key=str) == sorted(rows, key=str)

    # the saved outputs are scored again by the folder CLI, which agrees with the table
    identity_row = by[("identity", "Rain100L", "matlab_y_u8")]
    gt_dir = store_copy / "benchmark" / "testsets" / "Rain100L" / "gt"
    out = store_copy.parent / "scores.json"
    done = subprocess.run([sys.executable, "-m", "flows.benchmark", "--pred-dir", identity_row["predictions"],
                           "--gt-dir", str(gt_dir), "--protocol", "matlab_y_u8", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{identity_row['psnr']:.2f}" in done.stdout
    scores = json.loads(out.read_text())["protocols"]["matlab_y_u8"]
    assert scores["mean"]["psnr"] == pytest.approx(identity_row["psnr"]) and len(scores["images"]) == identity_row["n"]


def test_folder_cli_rejects_unpaired_folders(tmp_path):
    for side, names in (("pred", ["a", "b"]), ("gt", ["a", "c"])):
        (tmp_path / side).mkdir()
        for name in names:
            Image.new("RGB", (16, 16)).save(tmp_path / side / f"{name}.png")
    done = subprocess.run([sys.executable, "-m", "flows.benchmark", "--pred-dir", str(tmp_path / "pred"), "--gt-dir",
                           str(tmp_path / "gt"), "--protocol", "basicsr_y_float"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "paired by file stem" in done.stderr and "e.g. c" in done.stderr and "e.g. b" in done.stderr


def test_flow_cli_checks_arguments_before_starting_prefect(tmp_path):
    from flows.benchmark import check_flow_args, parse_args

    args, _ = parse_args(["--store", str(tmp_path), "--data-root", str(tmp_path)])
    assert "no samples table" in check_flow_args(args)
    (tmp_path / "samples").mkdir()
    args, _ = parse_args(["--store", str(tmp_path), "--data-root", str(tmp_path), "--checkpoint", "nowhere.pt"])
    assert check_flow_args(args) == "checkpoint nowhere.pt does not exist"
    args, _ = parse_args(["--store", str(tmp_path), "--data-root", str(tmp_path), "--tile", "100"])
    assert "multiple of 8" in check_flow_args(args)


def test_deployment_runs_the_flow_on_the_gpu_pool():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployment = next(d for d in config["deployments"] if d["entrypoint"] == "flows/benchmark.py:benchmark")
    assert deployment["name"] == "rainrag" and deployment["work_pool"]["name"] == "gpu"
    from flows.benchmark import ALL_PROTOCOLS, benchmark

    assert benchmark.name == "benchmark" and deployment["parameters"]["protocols"] == ALL_PROTOCOLS
