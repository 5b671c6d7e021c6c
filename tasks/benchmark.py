"""The benchmark's Prefect tasks: thin wrappers over evaluation, which computes everything.

One task run per (restorer, test set) job, never per image; a job's progress is a Prefect progress
artifact. Jobs the ledger records as done return their stored rows without restoring an image.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from prefect import get_run_logger, task
from prefect.artifacts import (create_link_artifact, create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE

from evaluation.inference import Restorer, identity, load_checkpoint
from evaluation.jobs import Inference, run_job
from evaluation.lpips import Lpips
from evaluation.report import write_report
from evaluation.test_sets import TestSet, read_test_sets
from storage.store import Store


def resolve_device(device: str) -> torch.device:
    """`auto`: the GPU when this machine has one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@task(name="find-test-sets", cache_policy=NO_CACHE)
def find_test_sets(store: Store, data_root: str, only: list[str] | None) -> list[TestSet]:
    """RainRAG's test subsets (from the manifest) and the public test splits (from samples)."""
    sets = read_test_sets(store, Path(data_root), only)
    get_run_logger().info("%d test sets: %s", len(sets), ", ".join(f"{s.key} ({len(s.pairs)})" for s in sets))
    return sets


@task(name="load-restorers", cache_policy=NO_CACHE)
def load_restorers(checkpoints: list[str], with_identity: bool, lpips: bool,
                   device: str) -> tuple[list[Restorer], Lpips | None]:
    """The identity (when asked) and the network of every checkpoint on `device`, and the LPIPS scorer
    when asked (a missing package or weights fails here, before any image is restored)."""
    where = resolve_device(device)
    restorers = [identity()] if with_identity else []
    restorers += [load_checkpoint(path, where) for path in checkpoints]
    get_run_logger().info("restorers on %s: %s", where, ", ".join(r.label for r in restorers))
    return restorers, Lpips(where) if lpips else None


@task(name="benchmark-job", task_run_name="{restorer.label}/{test_set.key}", cache_policy=NO_CACHE)
def benchmark_job(store: Store, restorer: Restorer, test_set: TestSet, protocols: list[str],
                  inference: Inference, lpips: Lpips | None) -> list[dict]:
    """Restore one test set with one restorer, score the saved PNGs and file the rows in `results`."""
    logger = get_run_logger()
    progress = None

    def on_image(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = create_progress_artifact(0.0, description=f"{restorer.label} on {test_set.key}: images restored")
        if done == total or done % max(1, total // 20) == 0:
            update_progress_artifact(progress, progress=100.0 * done / total)

    table, computed = run_job(store, restorer, test_set, protocols, inference, lpips, on_image)
    logger.info("%s on %s: %s", restorer.label, test_set.key, "scored" if computed else "already done (ledger)")
    return table.to_pylist()


def _cell(value):
    """Artifact tables are JSON: +inf PSNR (exact match) becomes the string "inf"."""
    if isinstance(value, float):
        return "inf" if math.isinf(value) else round(value, 4)
    return value


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(store: Store, rows: list[dict], protocols: list[str]) -> dict:
    """Write <store>/reports/benchmark.{md,png} and attach the report, the rows and the PNG to the flow run."""
    md_path, png_path, markdown = write_report(store.reports, rows, protocols)
    create_markdown_artifact(key="benchmark-report", markdown=markdown,
                             description="Table-1-style report: ours beside published numbers, per protocol")
    columns = ("label", "model", "step", "test_set", "subset", "protocol", "psnr", "ssim", "lpips", "n", "checkpoint")
    create_table_artifact(key="benchmark-results", table=[{c: _cell(r[c]) for c in columns} for r in rows],
                          description="rows of the results table made or read by this run")
    create_link_artifact(key="benchmark-report-png", link=png_path.as_uri(), link_text=png_path.name,
                         description="the report as an image")
    return {"markdown": str(md_path), "png": str(png_path)}
