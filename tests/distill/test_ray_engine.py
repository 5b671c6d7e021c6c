"""engine=ray on a real two-node Ray cluster (127.0.0.1): the same store as the local engine, shards on
both nodes, a worker SIGKILLed mid-shard, and runs killed on one engine resumed on the other."""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pyarrow.parquet as pq
import pytest

from storage.store import Store
from tests.ray_cluster import SECOND_NODE, free_port, two_node_cluster

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DATASETS = ("Rain100L", "RainDrop", "GTAV-NightRain", "SPA-Data", "Real3000")   # 5 datasets, real references
FLOATS = {"rainy_quality", "clean_quality", "mean_s_ssim", "max_s_ssim", "mean_s_vis", "max_s_vis", "mean_s_txt",
          "min_s_txt"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import ray

    with two_node_cluster(tmp_path_factory.mktemp("ray-logs")) as running:
        yield running
        ray.shutdown()   # before the cluster stops: a connected driver exits with its raylet


def start(data: Path, store: Path, models: Path, *extra: str) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    args = ["--data-root", str(data), "--store", str(store), "--profile", "offline", "--models-dir", str(models),
            "--shard-size", "32", "--k1", "12", "--k2", "5", "--k3", "2", "--ssim-size", "64",
            "--datasets", *DATASETS, *extra]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.Popen([sys.executable, "-m", "flows.distill", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def finish(process: subprocess.Popen) -> str:
    output = process.communicate(timeout=900)[0].decode()
    assert process.returncode == 0, output[-4000:]
    return output


def on_ray(cluster) -> tuple[str, ...]:
    return ("--engine", "ray", "--ray-address", cluster.address)


@pytest.fixture(scope="module")
def local_store(corpus_store, offline_profile, tmp_path_factory, prefect_harness) -> Path:
    """The same settings through the local engine: what every Ray run must equal."""
    store = tmp_path_factory.mktemp("local") / "store"
    finish(start(corpus_store[0], store, offline_profile.models_dir))
    return store


def manifest(store: Path) -> list[dict]:
    return pq.read_table(store / "manifest.parquet").to_pylist()


def votes(store: Path) -> list[tuple]:
    """Every vote but its latency (a wall-clock measurement), in a stable order."""
    return duckdb.sql(f"select * exclude (latency_s) from read_parquet('{store}/votes/*/*.parquet') "
                      "order by sample_id, judge").fetchall()


def assert_same_rainrag(store: Path, reference: Path) -> None:
    """Row for row: the same pairs, subsets, splits, votes and every other column; scores equal to
    float32 rounding (SSIM's torch blur sums in an order set by the process's thread count)."""
    ours, theirs = manifest(store), manifest(reference)
    assert [(r["sample_id"], r["subset"], r["split"]) for r in ours] == \
           [(r["sample_id"], r["subset"], r["split"]) for r in theirs]
    for a, b in zip(ours, theirs):
        assert {k: v for k, v in a.items() if k not in FLOATS} == {k: v for k, v in b.items() if k not in FLOATS}
        assert all(a[k] == b[k] or math.isclose(a[k], b[k], rel_tol=1e-6) for k in FLOATS & set(a)), a["sample_id"]
    assert votes(store) == votes(reference)


def assert_one_part_per_shard(store: Path) -> None:
    for table in ("samples", "quality", "captions", "embeddings", "retrievals", "votes", "inspections"):
        for shard in (store / table).glob("shard=*"):
            assert len(list(shard.glob("part-*.parquet"))) == 1, shard


def workers(store: Path, stage: str) -> set[str]:
    return {r.worker for r in Store(store).ledger.records(stage) if r.status == "done"}


def node_ids(cluster) -> dict[str, str]:
    """node id (its first 12 characters, as workers record it) -> "head" or "second"."""
    import ray
    from tasks.ray_engine import connect

    connect(cluster.address)
    return {n["NodeID"][:12]: "second" if SECOND_NODE in n["Resources"] else "head" for n in ray.nodes() if n["Alive"]}


def test_the_whole_flow_on_ray_runs_on_both_nodes_and_equals_the_local_engine(
        cluster, corpus_store, offline_profile, local_store, tmp_path):
    store = tmp_path / "store"
    output = finish(start(corpus_store[0], store, offline_profile.models_dir, *on_ray(cluster)))
    assert "judge on ray" in output   # one task run per stage on Ray, not one per shard
    assert_same_rainrag(store, local_store)
    assert_one_part_per_shard(store)
    names = node_ids(cluster)
    for stage in ("ingest", "quality", "caption", "embed", "retrieve", "judge", "inspect"):
        used = {names[w.split("/")[1]] for w in workers(store, stage)}
        assert used == {"head", "second"}, f"{stage} ran on {used}"
    # the pool outlives its stage: the offline profile's light stages share their workers' processes
    assert workers(store, "quality") & workers(store, "caption") & workers(store, "embed")
    assert workers(store, "retrieve") & workers(store, "judge") & workers(store, "inspect")
    assert_no_worker_left(cluster)


def assert_no_worker_left(cluster) -> None:
    """The flow's end stops its pool: no ShardWorker process stays on the cluster."""
    deadline = time.monotonic() + 30
    while True:
        left = []
        for process in cluster.processes():
            try:
                if "ShardWorker" in " ".join(process.cmdline()):
                    left.append(process.pid)
            except psutil.Error:
                continue
        if not left:
            return
        assert time.monotonic() < deadline, f"ShardWorker processes left after the flow: {left}"
        time.sleep(0.5)


def test_a_worker_sigkilled_mid_shard_loses_and_duplicates_nothing(
        cluster, corpus_store, offline_profile, local_store, tmp_path):
    store = tmp_path / "store"
    run = start(corpus_store[0], store, offline_profile.models_dir, *on_ray(cluster))
    killed, deadline = None, time.monotonic() + 600
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        for process in cluster.processes():   # a worker inside a shard is titled ray::ShardWorker.run
            try:
                if "ShardWorker.run" in " ".join(process.cmdline()):
                    process.send_signal(signal.SIGKILL)
                    killed = process.pid
                    break
            except psutil.Error:   # a process that ended while we looked
                continue
        time.sleep(0.02)
    assert killed is not None, "no worker was caught inside a shard"
    output = finish(run)
    assert "its Ray worker died" in output and "retried on another worker" in output
    assert_same_rainrag(store, local_store)
    assert_one_part_per_shard(store)
    keys = [(v[0], v[1]) for v in votes(store)]
    assert len(keys) == len(set(keys))
    assert not [r for r in Store(store).ledger.records() if r.status == "failed"]


def kill_when(run: subprocess.Popen, store: Path, stage: str) -> None:
    """SIGKILL the run (its whole process group) once `stage` has a done shard in the ledger."""
    deadline = time.monotonic() + 600
    while not (store / "_ledger" / stage).exists() or \
            not any(r.status == "done" for r in Store(store).ledger.records(stage)):
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


@pytest.mark.parametrize("first, then", [("local", "ray"), ("ray", "local")])
def test_a_run_killed_on_one_engine_resumes_on_the_other(
        cluster, corpus_store, offline_profile, local_store, tmp_path, first, then):
    engine = {"local": ("--engine", "local"), "ray": on_ray(cluster)}
    store = tmp_path / "store"
    kill_when(start(corpus_store[0], store, offline_profile.models_dir, *engine[first]), store, "caption")
    done_before = {(r.stage, r.shard) for r in Store(store).ledger.records() if r.status == "done"}
    output = finish(start(corpus_store[0], store, offline_profile.models_dir, *engine[then]))
    assert ("judge on ray" in output) == (then == "ray")   # the resumed run used the other engine
    assert re.search(r"ingest: \d+ shards, [1-9]\d* already done", output), "the resumed run redid ingest"
    assert_same_rainrag(store, local_store)
    assert_one_part_per_shard(store)
    assert done_before <= {(r.stage, r.shard) for r in Store(store).ledger.records() if r.status == "done"}


def test_a_node_that_cannot_see_the_data_fails_before_any_shard(cluster, corpus_store, tmp_path):
    from models.pipeline.profiles import load_profile
    from storage.stage import plan
    from tasks.engine import NodeCannotSee
    from tasks.ray_engine import connect, run_on_ray
    from tests.distill.stages import build

    connect(cluster.address)
    store = Store(tmp_path / "store")
    stage = build("inspect", store, tmp_path / "nowhere", load_profile("offline", models_dir=tmp_path))
    pending = [plan(store, stage, ["x-00000"])[0][0]]
    with pytest.raises(NodeCannotSee, match=r"node ray:[\d.]+/\w+/\d+ cannot see the data root .*nowhere"):
        run_on_ray(store, stage, pending, tmp_path / "nowhere", lambda outcome: None)
    assert not list(store.ledger.records())


def test_an_unreachable_cluster_is_an_error_before_the_flow_starts(corpus_store, offline_profile, tmp_path, capsys):
    from flows.distill import main

    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as exit_:
        main(["--data-root", str(corpus_store[0]), "--store", str(tmp_path / "store"), "--models-dir",
              str(offline_profile.models_dir), "--engine", "ray", "--ray-address", address])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: no Ray cluster at {address}")
