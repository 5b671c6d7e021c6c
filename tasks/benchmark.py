"""What the benchmark flow computes before and after its jobs: the test sets, the restorers, the report.

The jobs themselves are the `benchmark` stage (evaluation.jobs), run by the generic runner like every
distill stage. Nothing here imports Prefect: flows.benchmark wraps these functions in its tasks.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from evaluation.inference import Restorer, identity, load_checkpoint
from evaluation.lpips import Lpips
from evaluation.report import write_report
from evaluation.test_sets import TestSet, read_test_sets
from storage.store import Store

RESULT_COLUMNS = ("label", "model", "step", "test_set", "subset", "protocol", "psnr", "ssim", "lpips", "n",
                  "checkpoint")


def resolve_device(device: str) -> torch.device:
    """`auto`: the GPU when this machine has one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def test_sets_of(store: Store, data_root: str, only: list[str] | None) -> list[TestSet]:
    """RainRAG's test subsets (from the manifest) and the public test splits (from samples)."""
    return read_test_sets(store, Path(data_root), only)


def restorers_of(checkpoints: list[str], with_identity: bool, lpips: bool,
                 device: str) -> tuple[list[Restorer], Lpips | None, torch.device]:
    """The identity (when asked) and the network of every checkpoint on `device`, and the LPIPS scorer
    when asked (a missing package or weights fails here, before any image is restored)."""
    where = resolve_device(device)
    restorers = [identity()] if with_identity else []
    restorers += [load_checkpoint(path, where) for path in checkpoints]
    return restorers, Lpips(where) if lpips else None, where


def cell(value):
    """Artifact tables are JSON: +inf PSNR (exact match) becomes the string "inf"."""
    if isinstance(value, float):
        return "inf" if math.isinf(value) else round(value, 4)
    return value


def report(store: Store, rows: list[dict], protocols: list[str]) -> tuple[Path, Path, str, list[dict]]:
    """<store>/reports/benchmark.{md,png}: (markdown path, png path, markdown, the rows as a JSON table)."""
    md_path, png_path, markdown = write_report(store.reports, rows, protocols)
    return md_path, png_path, markdown, [{c: cell(r[c]) for c in RESULT_COLUMNS} for r in rows]
