"""What a training checkpoint holds, and whether a run may continue from one.

Contents: model, optimizer, scheduler and grad-scaler states, the step, the RNG states of python,
numpy, torch and CUDA for every rank, the resolved config, the data fingerprint, the reweighting
history and the metrics log. The files themselves (where, how written and read) are
models.restoration.checkpoints, shared with inference.
"""
from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch

from models.restoration.checkpoints import checkpoint_dir, load_latest, save
from training.config import RUN_CONTROL, TrainConfig

__all__ = ["ResumeMismatch", "check_resumable", "checkpoint_dir", "load_latest", "rng_state", "save",
           "set_rng_state"]
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
