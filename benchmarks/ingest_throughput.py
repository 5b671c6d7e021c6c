"""Ingest throughput and memory on a generated tree of many files.

    python -m benchmarks.ingest_throughput --files 100000 [--small 25000] [--workdir DIR]

For each tree size it reports, measured in this one run on this machine:
- the time of a plain read of every file's bytes (page cache warm, as ingest's will be),
- the ingest stage on the same tree without orchestration (discovery, hashing, full decode, Parquet,
  ledger, catalog) and its ratio to the plain read,
- the whole ingest flow under Prefect (with its temporary server's start-up),
- each one's unchanged rerun (the ledger skips every shard), and the peak RSS of the process running
  it (the Prefect server is a separate process).
Peak RSS at two tree sizes shows whether memory grows with the tree. Numbers go to stdout and, as
JSON, to `benchmarks/out/ingest_throughput.json`.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

VARIANTS = 14  # DDN-Data: 14 rainy images per clean one


def generate_ddn_tree(root: Path, files: int, side: int = 48) -> int:
    """A DDN-Data tree of about `files` small, distinct JPEGs; returns the number written."""
    rng = np.random.default_rng(0)
    rainy_dir = root / "DDN-Data" / "training" / "rainy_image"
    clean_dir = root / "DDN-Data" / "training" / "ground_truth"
    rainy_dir.mkdir(parents=True, exist_ok=True)
    clean_dir.mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    written, clean_id = 0, 0
    while written < files:
        clean_id += 1
        pixels = np.roll(base, clean_id, axis=(0, 1))
        pixels[0, :3] = [clean_id % 256, (clean_id >> 8) % 256, (clean_id >> 16) % 256]
        _save(pixels, clean_dir / f"{clean_id}.jpg")
        written += 1
        for k in range(1, VARIANTS + 1):
            rainy = pixels.copy()
            rainy[k::VARIANTS, :, :] = 255  # streak rows make every variant distinct
            _save(rainy, rainy_dir / f"{clean_id}_{k}.jpg")
            written += 1
    return written


def _save(pixels: np.ndarray, path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    path.write_bytes(buffer.getvalue())


def plain_read(root: Path) -> tuple[float, int, int]:
    """Seconds, files and bytes to read every file under root once."""
    start, files, total = time.perf_counter(), 0, 0
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                total += len(handle.read())
            files += 1
    return time.perf_counter() - start, files, total


def ingest_engine(data: Path, store_root: Path) -> int:
    """The ingest stage without Prefect: discovery, then every shard through `run_shard`, one thread.

    The same calls the flow's tasks make, minus the orchestration, so the ratio to a plain read is
    the cost of the stage itself.
    """
    from storage.catalog import refresh_catalog
    from storage.store import Store
    from tasks.dag import ingest_into_store

    store = Store(store_root)
    shards = ingest_into_store(data, store)
    refresh_catalog(store)
    return sum(store.read_shard("samples", s).num_rows for s in shards)


def run_child(mode: str, data: Path, store: Path) -> dict:
    """Run the ingest `engine` or `flow` in a child process; its wall time and its own peak RSS."""
    call = (f"ingest(data_root={str(data)!r}, store={str(store)!r})" if mode == "flow"
            else f"ingest_engine(Path({str(data)!r}), Path({str(store)!r}))")
    code = ("import json, resource, time; from pathlib import Path; from flows.ingest import ingest; "
            "from benchmarks.ingest_throughput import ingest_engine; t = time.perf_counter(); "
            f"{call}; "
            "print('RESULT', json.dumps({'seconds': time.perf_counter() - t, "
            "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def measure(workdir: Path, files: int) -> dict:
    data, store = workdir / f"data-{files}", workdir / f"store-{files}"
    shutil.rmtree(store, ignore_errors=True)
    if not data.exists():
        generate_ddn_tree(data, files)
    plain_read(data)  # warm the page cache so both sides read from memory
    read_seconds, count, size = plain_read(data)
    engine = run_child("engine", data, store)
    engine_rerun = run_child("engine", data, store)
    shutil.rmtree(store)
    flow = run_child("flow", data, store)
    flow_rerun = run_child("flow", data, store)
    return {"files": count, "bytes": size, "plain_read_s": read_seconds,
            "engine_s": engine["seconds"], "engine_over_read": engine["seconds"] / read_seconds,
            "engine_files_per_s": count / engine["seconds"], "engine_peak_rss_mb": engine["peak_rss_mb"],
            "engine_unchanged_rerun_s": engine_rerun["seconds"],
            "flow_s": flow["seconds"], "flow_peak_rss_mb": flow["peak_rss_mb"],
            "flow_unchanged_rerun_s": flow_rerun["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=25_000, help="a smaller tree, to see if memory grows")
    parser.add_argument("--workdir", type=Path, help="keep trees here (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rainrag-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = [measure(workdir, n) for n in (args.small, args.files)]
    for r in results:
        print(f"{r['files']:>7} files ({r['bytes'] / 1e6:.0f} MB): plain read {r['plain_read_s']:.2f} s; "
              f"ingest stage {r['engine_s']:.1f} s = {r['engine_over_read']:.0f}x the plain read "
              f"({r['engine_files_per_s']:.0f} files/s), peak RSS {r['engine_peak_rss_mb']:.0f} MB, "
              f"unchanged rerun {r['engine_unchanged_rerun_s']:.1f} s; "
              f"flow (Prefect, temporary server) {r['flow_s']:.1f} s, peak RSS {r['flow_peak_rss_mb']:.0f} MB, "
              f"unchanged rerun {r['flow_unchanged_rerun_s']:.1f} s")
    small, large = results
    print(f"peak RSS ratio {large['files']} / {small['files']} files: "
          f"stage {large['engine_peak_rss_mb'] / small['engine_peak_rss_mb']:.2f}, "
          f"flow {large['flow_peak_rss_mb'] / small['flow_peak_rss_mb']:.2f}")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest_throughput.json").write_text(json.dumps(results, indent=1))
    if not args.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
