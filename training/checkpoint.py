"""One checkpoint file holds everything a run needs to continue exactly where it stopped.

    <out>/checkpoints/ckpt-<step:08d>.pt

Contents: model, optimizer, scheduler and grad-scaler states, the step, the RNG states of python,
numpy, torch and CUDA for every rank, the resolved config, the data fingerprint, the reweighting
history and the metrics log. Files are written atomically (temporary name, fsync, rename), so any
`ckpt-*.pt` is complete; the newest one that loads is the resume point. A checkpoint is a pickle:
load only checkpoints you trust (your own runs).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from storage.atomic import atomic_write
from training.config import RUN_CONTROL, TrainConfig

FORMAT = 1
log = logging.getLogger(__name__)


class ResumeMismatch(ValueError):
    """The checkpoint was made from other data or another config than the run asked for now."""


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def config_differences(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    now = config.compared_on_resume()
    saved = {k: v for k, v in saved.items() if k not in RUN_CONTROL}
    return [f"{key}: {saved.get(key)!r} in the checkpoint, {now.get(key)!r} now"
            for key in sorted(set(saved) | set(now)) if saved.get(key) != now.get(key)]


def check_resumable(state: dict[str, Any], config: TrainConfig, data_fingerprint: str, allow: bool) -> None:
    """Refuse (ResumeMismatch) to continue a checkpoint on other data or with another config, unless `allow`."""
    problems = config_differences(state["config"], config)
    if state["data_fingerprint"] != data_fingerprint:
        problems.append(f"training data: fingerprint {state['data_fingerprint']} in the checkpoint, "
                        f"{data_fingerprint} now (pairs, file sizes or the validation split changed)")
    if not problems:
        return
    message = f"{state['path']} was made by another run:\n  " + "\n  ".join(problems)
    if not allow:
        raise ResumeMismatch(message + "\nuse a new output folder, or allow the change explicitly "
                                       "(--allow-changes) to continue from this checkpoint")
    log.warning("%s\ncontinuing anyway, as asked", message)
