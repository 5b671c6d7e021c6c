"""Tiny training configs for the training tests."""
from __future__ import annotations

from training.config import TrainConfig

# A UniRain with every paper structure (soft-MoE encoder, hard-MoE decoder, 4 levels) at toy width.
TINY_UNIRAIN = {"dim": 8, "enc_blocks": [1, 1, 1, 1], "dec_blocks": [1, 1, 1], "refine_blocks": 1,
                "num_experts": [2, 2, 2, 2]}

def tiny_config(**changes) -> TrainConfig:
    """The tiny UniRain on 32² crops, main-process data loading, a log row every step, no progress bar."""
    values = dict(network="unirain", network_overrides=TINY_UNIRAIN, steps=12, batch_size=4, crop=32, val_crop=64,
                  val_every=4, ckpt_every=5, log_every=1, num_workers=0, lr=2e-3, val_fraction=0.1,
                  reweighting={"warmup": 1, "window": 3}, progress=False)
    return TrainConfig.model_validate({**values, **changes})

