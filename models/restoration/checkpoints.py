"""Training checkpoints of the restoration networks on disk: where they are, how they are written and read.

    <out>/checkpoints/ckpt-<step:08d>.pt

A checkpoint holds everything a run needs to continue exactly where it stopped (training.checkpoint
says what) and the network's registered name and config, which is all inference needs
(evaluation.inference). Files are written atomically (temporary name, fsync, rename), so any
`ckpt-*.pt` is complete; the newest one that loads is the resume point. A checkpoint is a pickle:
load only checkpoints you trust (your own runs).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from storage.atomic import atomic_write

FORMAT = 1
log = logging.getLogger(__name__)


def checkpoint_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def save(out: Path, state: dict[str, Any], keep: int) -> Path:
    """Write `state` as the checkpoint of its step and delete all but the `keep` newest."""
    path = checkpoint_dir(out) / f"ckpt-{state['step']:08d}.pt"
    atomic_write(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))
    for old in sorted(checkpoint_dir(out).glob("ckpt-*.pt"))[:-keep]:
        old.unlink()
    return path


def load_latest(out: Path) -> dict[str, Any] | None:
    """The newest checkpoint that loads, or None for a fresh run."""
    for path in sorted(checkpoint_dir(out).glob("ckpt-*.pt"), reverse=True):
        try:
            # weights_only=False: the RNG states are numpy arrays and tuples, and the file is our own.
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a disk that lied about fsync: fall back to the previous checkpoint
            log.warning("checkpoint %s does not load (%s); trying an older one", path, exc)
            continue
        state["path"] = str(path)
        return state
    return None
