"""The control plane at full size, simulated: 2.4 M samples in 1,200 shards per stage, with no models.

    python -m benchmarks.control_plane [--samples 2400000] [--shards 1200] [--cpus 2] [--engines local,ray]

The DAG of tasks.dag (its stage names, inputs, outputs, scopes and the offline profile's resources) with
every compute replaced by a synthetic one: each stage reads its real input parts and writes rows of its
real output schemas (storage.schemas) at the paper's sizes — 20 retrieval rows (K2) and 3 votes per
sample, 384/384/768-d float16 vectors, a 400-character expansion, a manifest of 2.2 % of the samples
(52,869 of 2.4 M in the paper), a decision for every sample — with random values where real ones would not compress either (ids,
hashes, vectors). So the ledger, the parts and the catalog are real and of full size; only the work
inside a shard is missing. For each engine, into a fresh store, on a Prefect server of its own and (for
Ray) a one-node cluster of `--cpus` CPUs started here:

  - first run: every stage through tasks.runner.run_stage, timed per stage; the ledger's start and
    finish of each shard give the time spent inside shards, and the rest is the engine's:
    overhead per shard = (stage wall time x workers - seconds inside its shards) / shards;
  - catalog: refresh_catalog, its file size, and two queries over the votes view;
  - unchanged rerun: the ledger's plan of every stage without Prefect (what a rerun costs before it can
    skip everything), then the whole simulated flow again on the same engine.

Reports to stdout and benchmarks/out/control_plane.json, with the store's size per table, the ledger's
file count and size, and the catalog's size. At full size each engine's store holds about 9 GB of parts
(removed before the next engine runs) and takes about 8 minutes on two cores; `--samples 240000
--shards 120` is the same at a tenth.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
import zlib
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from benchmarks.distill_flow import local_prefect
from benchmarks.ray_engine import ray_head
from models.pipeline.profiles import load_profile
from storage import schemas
from storage.catalog import query, refresh_catalog
from storage.stage import GLOBAL_SHARD, Parts, Stage, plan
from storage.store import Store
from tasks.dag import DISTILL
from tasks.engine import LOCAL, Engine
from tasks.runner import run_stage

ROOT = Path(__file__).resolve().parents[1]
DATASETS = 36
K2, JUDGES, KEPT_EVERY = 20, 3, 45   # retrieval rows and votes per sample; 1 in 45 kept (52,869 of 2.4 M)
DUPLICATE_EVERY = 100                # 1 in 100 samples a copy of another
TEXT_DIM, KEYWORD_DIM, IMAGE_DIM = 384, 384, 768   # the paper profile's MiniLM and CLIP ViT-L/14
WORDS = np.array("rain street car wet road night light tree building person umbrella sky cloud window "
                 "streak drop heavy light city lamp reflection puddle traffic sign wall glass blur".split())
# characters of the free-text columns, about what the paper profile's models write
TEXT_CHARS = {"caption": 60, "expansion": 400, "raw": 6, "detail": 40, "reason": 40, "judge_reasons": 60}
ROWS_PER_SAMPLE = {"retrievals": K2, "votes": JUDGES}


@dataclass(frozen=True)
class SyntheticConfig:
    """The whole config of a synthetic stage: the tables it writes and, for the first one, samples per shard."""
    outputs: tuple[str, ...]
    samples: int
    seed: int = 0


def _words(rng: np.random.Generator, rows: int, chars: int) -> pa.Array:
    count = max(1, chars // 6)
    picks = WORDS[rng.integers(0, len(WORDS), size=(rows, count))]
    return pa.array([" ".join(p) for p in picks], pa.string())


def _column(field: pa.Field, keys: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Synthetic values of one column for rows keyed by `keys` (their sample ids)."""
    rows, name, kind = len(keys), field.name, field.type
    if name in ("sample_id", "query_id"):
        return pa.array(keys, pa.string())
    if name in ("reference_id", "other_id"):
        return pa.array(np.char.add("ref/", rng.integers(0, 10**8, rows).astype(str)), pa.string())
    if name.endswith("_raw") or name == "error":
        return pa.nulls(rows, kind)
    if name.endswith("_hash"):
        return pa.array([os.urandom(16).hex() for _ in range(rows)], pa.string())
    if name.endswith("_path") or name == "predictions":
        return pa.array(np.char.add(np.char.add("Rain/train/rain/", keys), ".png"), pa.string())
    if name in TEXT_CHARS:
        return _words(rng, rows, TEXT_CHARS[name])
    if pa.types.is_fixed_size_list(kind):
        values = rng.standard_normal(rows * kind.list_size, dtype=np.float32).astype(np.float16)
        return pa.FixedSizeListArray.from_arrays(pa.array(values), kind.list_size)
    if pa.types.is_list(kind):
        words = WORDS[rng.integers(0, len(WORDS), size=rows * 8)]
        return pa.ListArray.from_arrays(np.arange(0, rows * 8 + 1, 8, dtype=np.int32), pa.array(words))
    if pa.types.is_string(kind):   # categorical columns: a handful of values, as status, split, judge
        return pa.array(np.array(["ok", "train", "test", "yes", "no"])[rng.integers(0, 5, rows)], pa.string())
    if pa.types.is_boolean(kind):
        return pa.array(rng.random(rows) < 0.5)
    if pa.types.is_floating(kind):
        return pa.array(rng.random(rows).astype(np.float32)).cast(kind)
    if pa.types.is_integer(kind):
        return pa.array(rng.integers(0, 2 ** (kind.bit_width - 1) - 1, rows)).cast(kind)
    raise TypeError(f"no synthetic values for {name}: {kind}")


def synthetic_table(schema: pa.Schema, keys: np.ndarray, rng: np.random.Generator) -> pa.Table:
    return pa.Table.from_arrays([_column(f, keys, rng) for f in schema], schema=schema)


OUTPUT_SCHEMAS = {"samples": schemas.SAMPLES, "rejects": schemas.REJECTS, "quality": schemas.QUALITY,
                  "captions": schemas.CAPTIONS, "retrievals": schemas.RETRIEVALS, "votes": schemas.VOTES,
                  "inspections": schemas.INSPECTIONS, "manifest": schemas.MANIFEST, "audit": schemas.AUDIT,
                  "decisions": schemas.DECISIONS, "duplicates": schemas.DUPLICATES,
                  "embeddings": schemas.embeddings_schema(TEXT_DIM, KEYWORD_DIM, IMAGE_DIM)}


def _rng(config: SyntheticConfig, keys: np.ndarray) -> np.random.Generator:
    return np.random.default_rng([config.seed, zlib.crc32(str(keys[0] if len(keys) else "").encode())])


def _ids(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("sample_id").to_numpy(zero_copy_only=False), dtype=str)


def synthetic_compute(inputs: str | dict[str, pa.Table] | Parts, config: SyntheticConfig) -> dict[str, pa.Table]:
    """Rows of each output table for the shard's samples: those the first stage makes up for its shard
    (`inputs` is the shard's name), those of a shard's `samples` part, or the kept ones of every part."""
    if isinstance(inputs, str):
        keys = np.char.add(f"{inputs}/", np.arange(config.samples).astype(str))
        keys_of = {"samples": keys, "rejects": keys[: len(keys) // 100]}
    elif isinstance(inputs, Parts):   # dedup: 1 in 100; manifest: the kept 1 in 45 and a decision for every sample
        keys = _ids(ds.dataset(inputs.files["samples"], format="parquet").to_table(columns=["sample_id"]))
        keys_of = {"duplicates": keys[::DUPLICATE_EVERY], "manifest": keys[::KEPT_EVERY], "decisions": keys,
                   "audit": keys[:: max(1, len(keys) // (4 * DATASETS))]}
    else:
        keys = _ids(inputs["samples"])
        keys_of = {}
    rng = _rng(config, keys)
    return {t: synthetic_table(OUTPUT_SCHEMAS[t], np.repeat(keys_of.get(t, keys), ROWS_PER_SAMPLE.get(t, 1)), rng)
            for t in config.outputs}


@dataclass(frozen=True)
class ShardNamed:
    """The first stage's input: nothing but its shard's name (as ingest's staged candidates stand for files)."""

    def read(self, store: Store, stage: Stage, shard: str) -> str:
        return shard

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str:
        return shard


def shard_names(count: int) -> list[str]:
    """`count` shards spread over the 36 datasets, named as ingest names them (<dataset>-<index>)."""
    return [f"dataset{i % DATASETS:02d}-{i // DATASETS:04d}" for i in range(count)]


def simulated_dag(samples_per_shard: int, shards: list[str]) -> list[tuple[Stage, list[str]]]:
    """The distill DAG's stages with the offline profile's resources and the synthetic compute, each with
    the shards it runs over (the one shard "all" for a global step)."""
    profile, stages = load_profile("offline"), []
    for spec in DISTILL:
        reader = ShardNamed() if spec.name == "ingest" else spec.reader
        stage = spec.stage(SyntheticConfig(spec.outputs, samples_per_shard), profile)
        stage = dataclasses.replace(stage, inputs=() if spec.name == "ingest" else stage.inputs, reader=reader,
                                    compute=synthetic_compute, repair=None, version=f"{spec.version}-synthetic")
        stages.append((stage, [GLOBAL_SHARD] if spec.scope == "global" else shards))
    return stages


@flow(name="control-plane-bench")
def simulated_flow(store: str, samples_per_shard: int, shards: int, engine: str, ray_address: str) -> dict:
    """Every stage of the simulated DAG on `engine`; wall seconds per stage."""
    target, walls = Store(store), {}
    with ExitStack() as stack:
        if engine == "ray":
            from tasks.ray_engine import session
            stack.enter_context(session(ray_address))
        for stage, keys in simulated_dag(samples_per_shard, shard_names(shards)):
            # as in the distill flow, global steps run in the flow's process whatever the engine
            on = LOCAL if keys == [GLOBAL_SHARD] else Engine(engine, ray_address)
            start = time.perf_counter()
            report = run_stage(target, stage, keys, engine=on)
            if report.failed:
                raise RuntimeError(f"{stage.name}: {len(report.failed)} shards failed: {next(iter(report.failed.values()))}")
            walls[stage.name] = time.perf_counter() - start
    return walls


def inside_shards_s(store: Store) -> dict[str, float]:
    """Seconds spent inside run_shard per stage, from the ledger."""
    seconds: dict[str, float] = {}
    for record in store.ledger.records():
        seconds[record.stage] = seconds.get(record.stage, 0.0) + record.seconds
    return seconds


def folder_sizes(root: Path) -> dict[str, dict[str, int]]:
    """Bytes and files under each top-level entry of the store."""
    sizes = {}
    for entry in sorted(root.iterdir()):
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[entry.name] = {"bytes": sum(p.stat().st_size for p in files), "files": len(files)}
    return sizes


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def measure(engine: str, store_root: Path, args: argparse.Namespace, address: str) -> dict:
    run = simulated_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=args.cpus))
    per_shard = args.samples // args.shards
    walls, first_s = timed(run, str(store_root), per_shard, args.shards, engine, address)
    store, inside = Store(store_root), inside_shards_s(Store(store_root))
    workers = min(args.cpus, args.shards)   # the local engine's threads; the Ray pool's actors (1 CPU each)
    overhead = {name: (walls[name] * workers - inside[name]) / args.shards
                for name in walls if name not in ("manifest", "audit")}
    _, catalog_s = timed(refresh_catalog, store)
    votes, votes_s = timed(query, store, "SELECT answer, count(*) AS n FROM votes GROUP BY answer")
    vectors, vectors_s = timed(query, store, "SELECT count(*) AS n FROM embeddings")
    planned = {}
    for stage, keys in simulated_dag(per_shard, shard_names(args.shards)):
        (pending, _), planned[stage.name] = timed(plan, store, stage, keys)
        if pending:
            raise RuntimeError(f"{stage.name}: {len(pending)} shards not done after the first run")
    _, rerun_s = timed(run, str(store_root), per_shard, args.shards, engine, address)
    return {"first_run_s": first_s, "stage_wall_s": walls, "inside_shards_s": inside,
            "overhead_per_shard_ms": {k: 1000 * v for k, v in overhead.items()},
            "mean_overhead_per_shard_ms": 1000 * sum(overhead.values()) / len(overhead),
            "catalog_refresh_s": catalog_s, "votes_query_s": votes_s, "votes": sum(r["n"] for r in votes),
            "embeddings_query_s": vectors_s, "embeddings": vectors[0]["n"],
            "plan_unchanged_s": sum(planned.values()), "plan_unchanged_per_stage_s": planned,
            "rerun_unchanged_s": rerun_s, "store": folder_sizes(store_root)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2_400_000)
    parser.add_argument("--shards", type=int, default=1200)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--work", type=Path, default=None, help="where the stores go (default: a temporary folder)")
    args = parser.parse_args()
    result = {"samples": args.samples, "shards": args.shards, "cpus": args.cpus, "engines": {}}
    with ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rainrag-control-plane-")))
        stack.enter_context(local_prefect(work / "prefect"))
        out = ROOT / "benchmarks" / "out" / "control_plane.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        for engine in args.engines.split(","):
            with ray_head(args.cpus) if engine == "ray" else nullcontext("auto") as address:
                result["engines"][engine] = measure(engine, work / engine, args, address)
                out.write_text(json.dumps(result, indent=1))   # kept if a later engine fails
                print(json.dumps({engine: result["engines"][engine]}, indent=1), flush=True)
            shutil.rmtree(work / engine)   # ~10 GB at full size: one engine's store on disk at a time
    print(json.dumps(summary(result), indent=1))


def summary(result: dict) -> dict:
    """The numbers the README and the issue ask for, per engine."""
    rows = {}
    for engine, r in result["engines"].items():
        parts = sum(v["bytes"] for k, v in r["store"].items() if not k.startswith("_") and "." not in k)
        rows[engine] = {"first_run_min": r["first_run_s"] / 60, "overhead_per_shard_ms": r["mean_overhead_per_shard_ms"],
                        "plan_unchanged_s": r["plan_unchanged_s"], "rerun_unchanged_s": r["rerun_unchanged_s"],
                        "parts_gb": parts / 1e9, "ledger_mb": r["store"]["_ledger"]["bytes"] / 1e6,
                        "ledger_files": r["store"]["_ledger"]["files"],
                        "catalog_kb": r["store"]["rainrag.duckdb"]["bytes"] / 1e3,
                        "catalog_refresh_s": r["catalog_refresh_s"], "votes_query_s": r["votes_query_s"]}
    return rows


if __name__ == "__main__":
    main()
