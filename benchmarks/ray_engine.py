"""The distill flow on the sample corpus through the local engine and through Ray, the same CPUs each.

    python -m benchmarks.ray_engine [--scale 3] [--cpus 2]

Local: `python -m flows.distill --workers CPUS`. Ray: `--engine ray` on a one-node cluster of CPUS CPUs
started here (`ray_head`). Both with the `offline` profile into fresh stores, one after the other on this
machine; reported as images/s and their ratio (stdout and benchmarks/out/ray_engine.json), with the Ray
worker processes that ran each stage's shards (how many actor pools the run started). The manifests
are compared as a check.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from corpus import generate_corpus
from storage.store import Store
from tools.process_group import stop_group

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def distill(data: Path, store: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flows.distill", "--data-root", str(data), "--store", str(store),
                    "--profile", "offline", "--shard-size", "64", *extra], check=True, cwd=ROOT, env=ENV,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


@contextmanager
def ray_head(cpus: int) -> Iterator[str]:
    """A one-node Ray cluster of `cpus` CPUs on a free port (`ray start --head --block` in a session of its
    own), stopped by its process group; yields its address. This process leaves the cluster first."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--port", str(port), "--num-cpus", str(cpus),
                             "--include-dashboard", "false", "--disable-usage-stats"], env=ENV,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([RAY, "status", "--address", f"127.0.0.1:{port}"], env=ENV, capture_output=True).returncode:
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head on port {port} did not come up")
            time.sleep(1)
        yield f"127.0.0.1:{port}"
    finally:
        import ray   # a driver still joined to the cluster would outlive its head in errors
        ray.shutdown()
        stop_group(head)


def stage_workers(store: Store) -> dict[str, list[str]]:
    """The Ray worker processes (ray:<ip>/<node>/<pid>) that ran each stage's shards, from the ledger."""
    by_stage: dict[str, set[str]] = {}
    for record in store.ledger.records():
        if record.worker and record.worker.startswith("ray:"):
            by_stage.setdefault(record.stage, set()).add(record.worker)
    return {stage: sorted(workers) for stage, workers in by_stage.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rainrag-ray-bench-") as tmp:
        data = Path(tmp) / "data"
        generate_corpus(data, seed=0, scale=args.scale)
        images = sum(1 for p in data.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        subprocess.run([sys.executable, "-m", "models.pipeline.fetch", "--profile", "offline"], check=True, cwd=ROOT,
                       env=ENV, stdout=subprocess.DEVNULL)
        local = distill(data, Path(tmp) / "local", "--workers", str(args.cpus))
        with ray_head(args.cpus) as address:
            on_ray = distill(data, Path(tmp) / "ray", "--engine", "ray", "--ray-address", address)
        same = [r["sample_id"] for r in pq.read_table(Path(tmp) / "local" / "manifest.parquet").to_pylist()] == \
               [r["sample_id"] for r in pq.read_table(Path(tmp) / "ray" / "manifest.parquet").to_pylist()]
        workers = stage_workers(Store(Path(tmp) / "ray"))
    result = {"scale": args.scale, "cpus": args.cpus, "images": images, "local_s": local, "ray_s": on_ray,
              "local_images_per_s": images / local, "ray_images_per_s": images / on_ray,
              "ray_over_local": local / on_ray, "same_manifest_ids": same, "ray_workers_per_stage": workers,
              "ray_worker_processes": len({w for ws in workers.values() for w in ws})}
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray_engine.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
