"""The distill flow on the sample corpus through the local engine and through Ray, the same CPUs each.

    python -m benchmarks.ray_engine [--scale 3] [--cpus 2]

Local: `python -m flows.distill --workers CPUS`. Ray: a one-node cluster of CPUS CPUs started here
(`ray start --head --block`, stopped by its process group), `--engine ray`. Both with the `offline`
profile into fresh stores, one after the other on this machine; reported as images/s and their ratio
(stdout and benchmarks/out/ray_engine.json). The manifests are compared as a check.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from corpus import generate_corpus

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
        port = "6399"
        head = subprocess.Popen([RAY, "start", "--head", "--block", "--port", port, "--num-cpus", str(args.cpus),
                                 "--include-dashboard", "false", "--disable-usage-stats"], env=ENV,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(15)   # the head's GCS and raylet up
            on_ray = distill(data, Path(tmp) / "ray", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}")
        finally:
            os.killpg(head.pid, signal.SIGINT)
            head.wait(timeout=60)
        same = [r["sample_id"] for r in pq.read_table(Path(tmp) / "local" / "manifest.parquet").to_pylist()] == \
               [r["sample_id"] for r in pq.read_table(Path(tmp) / "ray" / "manifest.parquet").to_pylist()]
    result = {"scale": args.scale, "cpus": args.cpus, "images": images, "local_s": local, "ray_s": on_ray,
              "local_images_per_s": images / local, "ray_images_per_s": images / on_ray,
              "ray_over_local": local / on_ray, "same_manifest_ids": same}
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray_engine.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
