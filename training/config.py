"""The training configuration: every constant of the paper's protocol with where it comes from.

Tags: [paper] main paper, [repo] the authors' released training code, [ours] our choice where neither
gives a value (paper-notes §4-5). The resolved config is stored in every checkpoint; a resume with a
different config is refused unless asked (see training.checkpoint).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.restoration.reweighting import Reweighting

# Fields that change how a run is driven but not what it computes: free to differ on resume.
RUN_CONTROL = frozenset({"num_workers", "log_every", "ckpt_every", "keep_checkpoints", "progress"})


class ReweightConfig(BaseModel):
    """Per-type loss weights from the validation-loss slopes (models.restoration.reweighting)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["paper", "released", "fixed"] = Field(
        "paper", description="paper Eqs. 6-10 [paper]; the authors' code variant [repo]; constant weights")
    window: int = Field(10, ge=2, description="N, evaluations per slope fit [repo]")
    tau: float = Field(5.0, gt=0, description="τ of the adaptivity factor [repo]")
    warmup: int = Field(20, ge=0, description="evaluations with uniform weights first [repo: 20 epochs]")
    floor: float = Field(0.1, ge=0, lt=0.25, description="'released' only: minimum weight per type [repo]")
    fixed: list[float] | None = Field(None, description="'fixed' only: weights in DRS, DRD, NRS, NRD order; "
                                                        "None = uniform [ours]")

    def build(self) -> Reweighting:
        return Reweighting(self.method, self.window, self.tau, self.warmup, self.floor,
                           tuple(self.fixed) if self.fixed is not None else None)


class TrainConfig(BaseModel):
    """One training run of a restoration network on RainRAG (or any data in its layout)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str = Field("unirain", description="registry name: unirain, restormer, prenet [paper]")
    network_overrides: dict[str, Any] = Field(
        default_factory=dict, description="fields of the network's config dataclass, e.g. small dims for CPU")
    steps: int = Field(300_000, ge=1, description="optimiser steps [paper: 300k iterations]")
    batch_size: int = Field(8, ge=1, description="images per step over all GPUs [paper]")
    crop: int = Field(128, ge=8, description="random training crop side [paper]")
    lr: float = Field(2e-4, gt=0, description="AdamW learning rate at step 0 [paper]")
    lr_min: float = Field(1e-6, ge=0, description="end of the cosine decay [paper]")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay [repo: torch default]")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas [repo: torch default]")
    # UniRain's balance_loss() is already weighted by its config's balance_weight (0.01, after MoCE-IR):
    # 1.0 here adds it as the network defines it instead of shrinking it a second time.
    balance_loss_weight: float = Field(1.0, ge=0, description="× net.balance_loss(), the MoE auxiliary loss [ours]")
    batch_fraction_loss: bool | None = Field(
        None, description="scale each type's L1 by its share of the batch [repo: train.py]; off: ℓ = Σ ω_i ℓ_i "
                          "[paper]; unset: on with the `released` reweighting, off otherwise")
    amp: Literal["bf16", "fp16", "off"] = Field(
        "bf16", description="autocast dtype on CUDA [ours]; fp16 adds a gradient scaler; always off on CPU")
    reweighting: ReweightConfig = Field(default_factory=ReweightConfig)
    val_every: int = Field(1000, ge=1, description="steps between validations [ours; repo: once per epoch]")
    val_fraction: float = Field(0.05, gt=0, lt=1, description="share of a type's training pairs held out "
                                                               "for validation, by clean background [ours]")
    val_max_per_type: int = Field(100, ge=1, description="validation pairs per type at most [ours]")
    val_crop: int = Field(128, ge=8, description="validation centre-crop side [repo]")
    seed: int = Field(0, ge=0, description="seeds the network, the data order and the augmentations")
    num_workers: int = Field(4, ge=0, description="data-loading processes per GPU (0: main process)")
    log_every: int = Field(50, ge=1, description="steps between training-loss log rows")
    ckpt_every: int = Field(1000, ge=1, description="steps between checkpoints (and one at the end)")
    keep_checkpoints: int = Field(2, ge=1, description="newest checkpoints kept on disk")
    progress: bool = Field(True, description="tqdm progress bar on rank 0")

    @model_validator(mode="before")
    @classmethod
    def _resolve_batch_fraction_loss(cls, values: Any) -> Any:
        """Unset, the batch-share scaling follows the reweighting: the released code scales, the paper does
        not. Resolved here, so the config a checkpoint stores says which was used."""
        if isinstance(values, dict) and values.get("batch_fraction_loss") is None:
            reweighting = values.get("reweighting") or {}
            method = reweighting.method if isinstance(reweighting, ReweightConfig) else reweighting.get("method")
            values = {**values, "batch_fraction_loss": method == "released"}
        return values

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        for name in ("crop", "val_crop"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name}={getattr(self, name)} must be a multiple of 8: the U-shaped networks "
                                 "halve the resolution three times")
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min={self.lr_min} is above lr={self.lr}")
        return self

    def compared_on_resume(self) -> dict[str, Any]:
        """The resolved config minus the run-control fields: what a checkpoint must agree with."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in RUN_CONTROL}
