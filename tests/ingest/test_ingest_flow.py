"""The ingest flow under Prefect: resume from the ledger, write nothing on an unchanged tree,
re-run only what changed, and survive SIGKILL without duplicates."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def write_ddn_tree(root: Path, clean_ids: range, variants: int = 2, side: int = 48) -> None:
    """A DDN-Data tree (rainy_image/I_K.jpg -> ground_truth/I.jpg) of noise images."""
    rng = np.random.default_rng(0)
    for folder in ("rainy_image", "ground_truth"):
        (root / "DDN-Data" / "training" / folder).mkdir(parents=True, exist_ok=True)
    for i in clean_ids:
        pixels = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"DDN-Data/training/ground_truth/{i}.jpg", quality=90)
        for k in range(1, variants + 1):
            rainy = np.clip(pixels.astype(int) + 20 * k, 0, 255).astype(np.uint8)
            Image.fromarray(rainy).save(root / f"DDN-Data/training/rainy_image/{i}_{k}.jpg", quality=90)


def snapshot(store: Path) -> dict[str, int]:
    return {p.relative_to(store).as_posix(): p.stat().st_mtime_ns for p in store.rglob("*")
            if p.is_file() and "_staging" not in p.parts}


def table(store: Path, sql: str) -> list[tuple]:
    con = duckdb.connect((store / "rainrag.duckdb").as_posix(), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_rerun_skips_done_work_and_reruns_only_what_changed(tmp_path, prefect_harness):
    from flows.ingest import REASONS_SQL, ingest
    from storage.catalog import query
    from storage.store import Store

    data, store = tmp_path / "data", tmp_path / "store"
    write_ddn_tree(data, range(1, 9))
    (data / "DDN-Data/training/rainy_image/99_1.jpg").write_bytes(
        (data / "DDN-Data/training/rainy_image/1_1.jpg").read_bytes())
    first = ingest(data_root=str(data), store=str(store), shard_size=4)
    assert first == [{"dataset": "DDN-Data", "samples": 16, "rejects": 1}]
    assert query(Store(store), REASONS_SQL) == [{
        "dataset": "DDN-Data", "code": "missing_partner", "rejects": 1, "example": "DDN-Data/training/rainy_image/99_1.jpg",
        "example_reason": "missing clean partner: none of ['training/ground_truth/99.jpg'] exists"}]
    before = snapshot(store)

    ingest(data_root=str(data), store=str(store), shard_size=4)
    assert snapshot(store) == before, "a second ingest of an unchanged tree must write nothing"

    Image.new("RGB", (48, 48), "white").save(data / "DDN-Data/training/rainy_image/3_1.jpg")
    ingest(data_root=str(data), store=str(store), shard_size=4)
    after = snapshot(store)
    changed_ledger = [k for k in after if k.startswith("_ledger/") and k not in before]
    assert len(changed_ledger) == 1, "touching one file re-runs exactly its shard"

    (data / "Real3000" / "real3000").mkdir(parents=True)
    Image.new("RGB", (20, 10), "gray").save(data / "Real3000/real3000/1800.png")
    counts = ingest(data_root=str(data), store=str(store), shard_size=4)
    assert counts == [{"dataset": "DDN-Data", "samples": 16, "rejects": 1},
                      {"dataset": "Real3000", "samples": 1, "rejects": 0}]
    new_ledger = [k for k in snapshot(store) if k.startswith("_ledger/") and k not in after]
    assert [Path(k).parts[2] for k in new_ledger] == ["Real3000-00000"], "adding a dataset runs only its shards"


def _run_cli(data: Path, store: Path, env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.ingest", "--data-root", str(data), "--store", str(store), "--shard-size", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def test_sigkill_midway_then_rerun_equals_an_uninterrupted_run(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    data = tmp_path / "data"
    write_ddn_tree(data, range(1, 61), variants=2, side=96)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": os.getcwd()}

    killed_store = tmp_path / "killed"
    process = _run_cli(data, killed_store, env)
    deadline = time.time() + 180
    while time.time() < deadline and len(list(killed_store.glob("_ledger/ingest/*/*.json"))) < 4:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_at_kill = len(list(killed_store.glob("_ledger/ingest/*/*.json")))
    assert 4 <= done_at_kill < 64, f"the kill should land midway, it landed after {done_at_kill} shards"

    resumed = _run_cli(data, killed_store, env)
    output = resumed.communicate(timeout=300)[0].decode()
    assert resumed.returncode == 0, output
    assert f"{done_at_kill} already done" in output

    clean_store = tmp_path / "clean"
    reference = _run_cli(data, clean_store, env)
    assert reference.wait(timeout=300) == 0

    query = "select * exclude (rainy_path_raw, clean_path_raw) from samples order by sample_id"
    killed_rows, clean_rows = table(killed_store, query), table(clean_store, query)
    assert len(clean_rows) == 120 and killed_rows == clean_rows
    assert table(killed_store, "select count(*) - count(distinct sample_id) from samples") == [(0,)]
