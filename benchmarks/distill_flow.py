"""The whole distill flow on the sample corpus against the sum of its bare stage functions, and its rerun.

    python -m benchmarks.distill_flow [--scale 1] [--repeats 2] [--workers 1] [--profile offline]

In one process, on one corpus, with every model loaded beforehand (a one-off cost per process), on a
local Prefect server (`tools.server`, SQLite), after a one-task flow and a bare warm-up run:
  - flow: `flows.distill.distill` into a fresh store, its thread pool at `--workers` (1 = the bare
    run's parallelism);
  - bare: every stage of the DAG on one plain thread without Prefect (`tasks.ingest.ingest_into_store`, then
    `storage.stage.run_inline` for quality, caption, embed, retrieve, judge, inspect, manifest, audit),
    plus what the flow makes besides the stages (catalog, contact sheets, manifest file, dataset card):
    the same work, minus orchestration; both must keep the same number of pairs;
  - `--repeats` rounds of flow then bare, the fastest of each counting; then the flow again on its
    last store, with nothing new (the rerun), three times with Prefect's default settings and three
    times with flow-run heartbeats off, the fastest of each counting.
Reports flow/bare throughput (target >= 0.90) and rerun/first (target <= 2 %), to stdout and
`benchmarks/out/distill_flow.json`. Why two reruns: Prefect (3.9) sends flow-run heartbeats from a
thread that sleeps in one-second steps and is joined when the run ends, so with heartbeats on (the
default, for zombie-run detection) every flow run ends on a whole second after it started; a rerun
that does 0.7 s of work takes about 1.2 s. Heartbeats off (`PREFECT_FLOWS_HEARTBEAT_FREQUENCY` set to
None with `prefect.settings.temporary_settings`) shows rainrag's own cost.
On a machine shared with other work, wall times of the same shard swing between runs; the ledger's
start and finish of every shard separate each run's compute from the time around it, so the report
also gives the throughput ratio at equal compute: the bare run's wall time against it plus the
flow's extra time outside the shards, and each stage's in-shard time on both sides.
"""
from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
from prefect import flow, task
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_HOME, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner

from corpus import generate_corpus
from flows.distill import distill
from models.pipeline.offline.niqe import fit_niqe
from models.pipeline.profiles import load_profile
from models.pipeline.registry import load_role
from storage.catalog import query, refresh_catalog
from storage.images import clean_loader
from storage.stage import run_inline
from storage.store import Store
from tasks.audit import dataset_card
from tasks.dag import DISTILL, ingest_into_store
from tasks.manifest import publish_manifest
from tasks.retrieve import retrieval_sheets
from tasks.run_context import RunContext
from tools import server


def prepare(workdir: Path, scale: int, profile_name: str):
    """The corpus and a profile whose models are all loaded (the offline quality model fitted on its clean images)."""
    data = workdir / "data"
    generate_corpus(data, seed=0, scale=scale)
    profile = load_profile(profile_name, models_dir=workdir / "models")
    spec = profile.roles["quality"]
    if spec.kind == "niqe" and not (profile.models_dir / spec.model_id).exists():
        scratch = Store(workdir / "fit-store")
        shards = ingest_into_store(data, scratch, shard_size=256)
        rows = pa.concat_tables(scratch.read_shard("samples", s) for s in shards).to_pylist()
        clean = {r["clean_hash"]: r for r in rows if r["clean_path"]}
        fit_niqe([clean_loader(data)(r) for r in clean.values()], profile.models_dir / spec.model_id)
    for role in profile.roles:
        load_role(profile, role)
    return data, profile


def bare_run(data: Path, store: Store, profile, shard_size: int) -> dict[str, float]:
    """Every stage's compute in this thread, in the flow's order; seconds per step."""
    times: dict[str, float] = {}

    def timed(name, fn):
        start = time.perf_counter()
        result = fn()
        times[name] = time.perf_counter() - start
        return result

    root = data.resolve()
    timed("ingest", lambda: ingest_into_store(root, store, shard_size=shard_size))
    run = RunContext.of(store, root, profile)   # the flow's default settings
    for spec in DISTILL[1:]:   # building a config is timed with its stage (the pool is read by retrieve's)
        timed(spec.name, lambda: run_inline(store, spec.build(run), spec.shards(run)))
    timed("products", lambda: (refresh_catalog(store), retrieval_sheets(store, run.shards(), run.pool(), root,
                                                                        run.settings.k3),
                               publish_manifest(store), dataset_card(store)))
    return times


@contextmanager
def local_prefect(home: Path):
    """A Prefect server of its own (tools.server, SQLite under `home`), set as this process's API and home."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        server.start(home, "127.0.0.1", port, worker=False, timeout_s=300)
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api", PREFECT_HOME: home}):
            yield
            APILogWorker.drain_all(timeout=10)   # the runs' last logs, while the server still listens
    finally:
        server.stop_recorded(home / "server.pid", "server")


@task
def _one() -> int:
    return 1


@flow(name="bench-warm-up")
def warm_up() -> int:
    """A flow with one task: the client, the engine and their imports, before anything is timed."""
    return _one()


def shard_compute_s(store: Store) -> dict[str, float]:
    """Seconds spent inside shards per stage, from the ledger (runs with one worker: the shards never overlap)."""
    by_stage: dict[str, float] = {}
    for r in store.ledger.records():
        if r.status == "done":
            by_stage[r.stage] = by_stage.get(r.stage, 0.0) + r.finished - r.started
    return by_stage


def flow_run(data: Path, store: Path, profile, shard_size: int, workers: int) -> float:
    run = distill.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
    start = time.perf_counter()
    run(data_root=str(data), store=str(store), profile=profile.name, models_dir=str(profile.models_dir),
        shard_size=shard_size)
    return time.perf_counter() - start


def bare_in_a_thread(data: Path, store: Store, profile, shard_size: int) -> dict[str, float]:
    """`bare_run` on one worker thread, where the flow's task runner runs shards too: the stages' own thread
    pools (torch's among them) ran measurably slower from the main thread on a busy machine."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(bare_run, data, store, profile, shard_size).result()


def measure_rounds(work: Path, data: Path, profile, args) -> list[dict]:
    """A bare warm-up (first calls of every stage's code, discarded), then `repeats` rounds of flow and bare
    run on fresh stores, then the flow again on its last store: one dict per round."""
    bare_in_a_thread(data, Store(work / "warm-up"), profile, args.shard_size)
    rounds = []
    for i in range(args.repeats):
        flow_store, bare_store = Store(work / f"flow-{i}"), Store(work / f"bare-{i}")
        first = flow_run(data, flow_store.root, profile, args.shard_size, args.workers)
        bare = bare_in_a_thread(data, bare_store, profile, args.shard_size)
        kept = [query(s, "select count(*) as n from manifest")[0]["n"] for s in (flow_store, bare_store)]
        if kept[0] != kept[1]:
            raise SystemExit(f"the flow kept {kept[0]} pairs, the bare stages {kept[1]}: not the same work")
        by_stage = {"flow": shard_compute_s(flow_store), "bare": shard_compute_s(bare_store)}
        rounds.append({"flow_first_s": first, "bare_s": sum(bare.values()), "bare_steps_s": bare,
                       "compute_by_stage_s": by_stage,
                       "compute_s": {side: sum(stages.values()) for side, stages in by_stage.items()},
                       "manifest_pairs": kept[0],
                       "images": query(bare_store, "select count(*) as n from samples")[0]["n"]})
    last = work / f"flow-{args.repeats - 1}"
    rounds[-1]["flow_rerun_s"] = [flow_run(data, last, profile, args.shard_size, args.workers) for _ in range(3)]
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        rounds[-1]["flow_rerun_no_heartbeat_s"] = [flow_run(data, last, profile, args.shard_size, args.workers)
                                                   for _ in range(3)]
    return rounds


def summarise(rounds: list[dict]) -> dict:
    """The fastest round of each kind (others' load only ever adds time), and the rerun against that flow."""
    flow = min(rounds, key=lambda r: r["flow_first_s"])
    bare = min(rounds, key=lambda r: r["bare_s"])
    outside = {"flow": flow["flow_first_s"] - flow["compute_s"]["flow"], "bare": bare["bare_s"] - bare["compute_s"]["bare"]}
    rerun, quiet = min(rounds[-1]["flow_rerun_s"]), min(rounds[-1]["flow_rerun_no_heartbeat_s"])
    return {"images": bare["images"], "manifest_pairs": bare["manifest_pairs"], "flow_first_s": flow["flow_first_s"],
            "bare_s": bare["bare_s"], "flow_vs_bare_throughput": bare["bare_s"] / flow["flow_first_s"],
            "outside_shards_s": outside,
            "flow_vs_bare_throughput_at_equal_compute": bare["bare_s"] / (bare["bare_s"] + outside["flow"] - outside["bare"]),
            "flow_rerun_s": rerun, "rerun_vs_first": rerun / flow["flow_first_s"],
            "flow_rerun_no_heartbeat_s": quiet, "rerun_no_heartbeat_vs_first": quiet / flow["flow_first_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="corpus scale (1 = about 170 images)")
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--workers", type=int, default=1, help="the flow's shards at once (1 = like the bare run)")
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of flow + bare; the fastest of each counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rainrag-bench-flow-") as tmp:
        work = Path(tmp)
        data, profile = prepare(work, args.scale, args.profile)
        with local_prefect(work / "prefect"):
            warm_up()
            rounds = measure_rounds(work, data, profile, args)
    result = {"args": vars(args), **summarise(rounds), "rounds": rounds}
    for i, r in enumerate(rounds):
        print(f"round {i}: flow {r['flow_first_s']:7.2f} s (in shards {r['compute_s']['flow']:.2f}), bare "
              f"{r['bare_s']:7.2f} s (in shards {r['compute_s']['bare']:.2f}; "
              f"{', '.join(f'{k} {v:.1f}' for k, v in r['bare_steps_s'].items())})")
        stages = r["compute_by_stage_s"]
        print("  in shards, flow / bare: " + ", ".join(f"{k} {v:.1f}/{stages['bare'].get(k, 0.0):.1f}"
                                                      for k, v in stages["flow"].items()))
    reruns = rounds[-1]
    print(f"reruns: {', '.join(f'{t:.2f}' for t in reruns['flow_rerun_s'])} s; heartbeats off: "
          f"{', '.join(f'{t:.2f}' for t in reruns['flow_rerun_no_heartbeat_s'])} s")
    print(f"{result['images']} images, {result['manifest_pairs']} pairs kept; fastest flow {result['flow_first_s']:.2f} s, "
          f"fastest bare {result['bare_s']:.2f} s")
    print(f"flow/bare throughput {result['flow_vs_bare_throughput']:.3f} (target >= 0.90); at equal compute "
          f"{result['flow_vs_bare_throughput_at_equal_compute']:.3f} (outside the shards: flow "
          f"{result['outside_shards_s']['flow']:.2f} s, bare {result['outside_shards_s']['bare']:.2f} s)")
    print(f"rerun with nothing new {result['flow_rerun_s']:.2f} s = {100 * result['rerun_vs_first']:.2f} % "
          f"of the fastest first run (target <= 2 %); with Prefect's flow-run heartbeats off "
          f"{result['flow_rerun_no_heartbeat_s']:.2f} s = {100 * result['rerun_no_heartbeat_vs_first']:.2f} %")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "distill_flow.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
