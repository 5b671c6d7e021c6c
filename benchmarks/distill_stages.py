"""Images per second of quality, caption and embed with a profile, and the share of wall time
spent outside the model calls (decode, Parquet I/O, ledger, Prefect orchestration).

    python -m benchmarks.distill_stages [--scale 4] [--profile offline] [--workers 1]

The sample corpus (scaled) is generated and ingested in-process, the `offline` quality model is fitted
on its clean images, then each stage runs through the same Prefect runner as the distill flow (task
runs per shard, ledger, artifacts). Model time is summed over calls; with one worker,
outside = 1 − model / wall. Results go to stdout and `benchmarks/out/distill_stages.json`.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from corpus import generate_corpus
from models.pipeline.offline.niqe import fit_niqe
from models.pipeline.profiles import load_profile
from models.pipeline.registry import load_role
from storage.images import clean_loader
from storage.store import Store
from tasks.dag import BY_NAME, ingest_into_store
from tasks.image_batches import MODEL_TIME
from tasks.run_context import RunContext
from tasks.runner import run_stage


def prepare(workdir: Path, scale: int, profile_name: str, shard_size: int):
    data, store = workdir / "data", Store(workdir / "store")
    generate_corpus(data, seed=0, scale=scale)
    shards = ingest_into_store(data, store, shard_size=shard_size)
    profile = load_profile(profile_name, models_dir=workdir / "models")
    rows = pa.concat_tables(store.read_shard("samples", s) for s in shards).to_pylist()
    clean = {r["clean_hash"]: r for r in rows if r["clean_path"]}
    spec = profile.roles["quality"]
    if spec.kind == "niqe" and not (profile.models_dir / spec.model_id).exists():
        fit_niqe([clean_loader(data)(r) for r in clean.values()], profile.models_dir / spec.model_id)
    return data, store, shards, profile, len(rows)


@flow(name="bench-distill-stages")
def timed_stages(data: Path, store: Store, shards: list[str], profile, images: int) -> list[dict]:
    results = []
    run = RunContext.of(store, data, profile, pool_threshold=0.0)
    for stage in (BY_NAME[name].build(run) for name in ("quality", "caption", "embed")):
        for role in profile.roles:   # load outside the timing: a one-off cost per process
            load_role(profile, role)
        MODEL_TIME.model_s, MODEL_TIME.calls = 0.0, 0
        start = time.perf_counter()
        report = run_stage(store, stage, shards)
        wall = time.perf_counter() - start
        assert not report.failed, report.failed
        results.append({"stage": stage.name, "images": images, "wall_s": wall, "model_s": MODEL_TIME.model_s,
                        "model_calls": MODEL_TIME.calls, "images_per_s": images / wall,
                        "outside_model_share": 1.0 - MODEL_TIME.model_s / wall})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=4, help="corpus scale (1 = about 170 images)")
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--workers", type=int, default=1, help="shards at once (1 keeps the accounting exact)")
    parser.add_argument("--shard-size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rainrag-bench-") as tmp:
        data, store, shards, profile, images = prepare(Path(tmp), args.scale, args.profile, args.shard_size)
        run = timed_stages.with_options(task_runner=ThreadPoolTaskRunner(max_workers=args.workers))
        results = run(data, store, shards, profile, images)
    for r in results:
        print(f"{r['stage']:<8} {r['images']:>6} images  {r['wall_s']:7.2f} s  {r['images_per_s']:7.1f} images/s  "
              f"model {r['model_s']:6.2f} s in {r['model_calls']} calls  outside the model {100 * r['outside_model_share']:.1f} %")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "distill_stages.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
