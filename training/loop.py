"""The training loop: one trainer for every registered restoration network.

AdamW with cosine decay, per-type L1 weighted by the reweighting weights plus the MoE balance loss,
autocast on CUDA, DDP when launched by torchrun (WORLD_SIZE > 1; rank 0 logs and checkpoints),
validation every `val_every` steps, resume from the newest checkpoint in `out`.

Exact resume: the data stream is a pure function of (seed, position) (training.data), every loader
has its own generator so creating one never draws from the global RNG, and the checkpoint restores
the global RNGs (the routers' noise draws from torch's) — a run killed and resumed logs the same
losses as one that never stopped.
"""
from __future__ import annotations

import logging
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.restoration.registry import build
from storage.atomic import write_json
from training import checkpoint
from training.config import TrainConfig
from training.curves import plot_curves, write_log
from training.data import SUBSETS, CenterCrops, StepBatches, TrainingData, TrainStream, prepare_data
from training.evaluate import PSNR_PROTOCOL, type_losses, validate

log = logging.getLogger(__name__)
OnStep = Callable[[int], None]


@dataclass(frozen=True)
class Runtime:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_runtime() -> Runtime:
    """This process's rank and device; joins the process group when torchrun started several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
        if cuda:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    return Runtime(dist.get_rank() if world > 1 else 0, world, device)


@dataclass
class Progress:
    """What evolves besides module states: all of it goes into the checkpoint."""

    step: int = 0
    val_history: list[list[float]] = field(default_factory=list)  # per validation: L1 per active type
    log: list[dict] = field(default_factory=list)


@dataclass
class Trainer:
    config: TrainConfig
    data: TrainingData
    out: Path
    rt: Runtime
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    progress: Progress = field(default_factory=Progress)

    @property
    def types(self) -> list[str]:
        return [SUBSETS[label] for label in self.data.labels]

    @property
    def net(self) -> nn.Module:
        """The network itself, under DDP or not."""
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    def autocast(self):
        if self.rt.device.type != "cuda" or self.config.amp == "off":
            return nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def weights(self) -> torch.Tensor:
        values = self.config.reweighting.build().weights(np.array(self.progress.val_history), len(self.types))
        return torch.as_tensor(values, dtype=torch.float32, device=self.rt.device)


def build_trainer(config: TrainConfig, data: TrainingData, out: Path, rt: Runtime) -> Trainer:
    """Network, AdamW and its cosine schedule, seeded so every rank starts from the same weights."""
    random.seed(config.seed + rt.rank)
    np.random.seed(config.seed + rt.rank)
    torch.manual_seed(config.seed)
    net = build(config.network, **config.network_overrides).to(rt.device)
    torch.manual_seed(config.seed + rt.rank)  # each rank its own routing noise
    model = net
    if rt.world > 1:  # unused experts of a hard-routed MoE get no gradient in a step
        model = DistributedDataParallel(net, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                                        find_unused_parameters=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, betas=config.betas,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps, eta_min=config.lr_min)
    scaler = torch.amp.GradScaler("cuda", enabled=rt.device.type == "cuda" and config.amp == "fp16")
    return Trainer(config, data, Path(out), rt, model, optimizer, scheduler, scaler)


def resume(trainer: Trainer, allow_changes: bool) -> None:
    """Continue from the newest checkpoint in the output folder, if there is one."""
    state = checkpoint.load_latest(trainer.out)
    if state is None:
        return
    checkpoint.check_resumable(state, trainer.config, trainer.data.fingerprint, allow_changes)
    trainer.net.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.scheduler.T_max = trainer.config.steps  # an allowed change of steps reshapes the rest of the decay
    trainer.scaler.load_state_dict(state["scaler"])
    rng = state["rng"]
    checkpoint.set_rng_state(rng[trainer.rt.rank] if trainer.rt.rank < len(rng) else rng[0])
    trainer.progress = Progress(state["step"], state["val_history"], state["log"])
    if trainer.rt.main:
        log.info("resumed from %s at step %d", state["path"], state["step"])


def save_checkpoint(trainer: Trainer) -> Path | None:
    """Every rank hands its RNG state to rank 0, which writes the checkpoint."""
    states = [checkpoint.rng_state()]
    if trainer.rt.world > 1:
        states = [None] * trainer.rt.world
        dist.all_gather_object(states, checkpoint.rng_state())
    if not trainer.rt.main:
        return None
    p = trainer.progress
    return checkpoint.save(trainer.out, {
        "step": p.step, "model": trainer.net.state_dict(), "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(), "scaler": trainer.scaler.state_dict(), "rng": states,
        "config": trainer.config.model_dump(mode="json"), "data_fingerprint": trainer.data.fingerprint,
        "types": trainer.types, "val_history": p.val_history, "log": p.log,
    }, trainer.config.keep_checkpoints)


def loaders(trainer: Trainer) -> tuple[DataLoader, DataLoader]:
    """Training batches from the current step on, and this rank's share of the validation crops."""
    c, rt, data = trainer.config, trainer.rt, trainer.data
    # Own generators: a loader must not draw its worker seed from the global RNG the checkpoint restores.
    common = dict(num_workers=c.num_workers, pin_memory=rt.device.type == "cuda")
    slots = {label: i for i, label in enumerate(data.labels)}
    train = DataLoader(TrainStream(data.root, data.train, c.crop, c.seed),
                       batch_sampler=StepBatches(trainer.progress.step, c.steps, c.batch_size, rt.rank, rt.world),
                       collate_fn=partial(collate, slots), generator=torch.Generator().manual_seed(c.seed), **common)
    val = DataLoader(CenterCrops(data.root, data.val[rt.rank::rt.world], c.val_crop),
                     batch_size=max(1, c.batch_size // rt.world), collate_fn=partial(collate, slots),
                     generator=torch.Generator().manual_seed(c.seed), **common)
    return train, val


def collate(slots: dict[int, int], items: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack a batch; labels become slots 0..k−1 over the types present in training."""
    rainy, clean, labels = zip(*items)
    return torch.stack(rainy), torch.stack(clean), torch.tensor([slots[label] for label in labels])


def train_step(trainer: Trainer, batch, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """One optimiser step; returns the step's losses as tensors (read only when logged)."""
    c, device = trainer.config, trainer.rt.device
    rainy, clean, slots = (t.to(device, non_blocking=True) for t in batch)
    with trainer.autocast():
        restored = trainer.model(rainy)
        balance = trainer.net.balance_loss()
    per_type, counts = type_losses(restored.float(), clean, slots, len(weights))
    share = counts / len(slots) if c.batch_fraction_loss else (counts > 0).float()
    loss = (weights * share * per_type).sum() + c.balance_loss_weight * balance.float()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.scaler.scale(loss).backward()
    trainer.scaler.step(trainer.optimizer)
    trainer.scaler.update()
    trainer.scheduler.step()
    return {"loss": loss.detach(), "balance": balance.detach().float(), "per_type": per_type.detach(),
            "counts": counts}


def log_train(trainer: Trainer, losses: dict[str, torch.Tensor]) -> dict:
    """A training log row, averaged over the DDP processes."""
    k = len(trainer.types)
    packed = torch.cat([losses["loss"].view(1), losses["balance"].view(1), losses["per_type"] * losses["counts"],
                        losses["counts"].float()]).double()
    if trainer.rt.world > 1:
        dist.all_reduce(packed)
    world = trainer.rt.world
    row = {"step": trainer.progress.step, "kind": "train", "lr": trainer.scheduler.get_last_lr()[0],
           "loss": packed[0].item() / world, "balance": packed[1].item() / world}
    for i, name in enumerate(trainer.types):
        count = packed[2 + k + i].item()
        row[f"l1_{name}"] = packed[2 + i].item() / count if count else None
    trainer.progress.log.append(row)
    return row


def run_validation(trainer: Trainer, val_loader: DataLoader) -> dict:
    """Validate, extend the reweighting history and log the row with the weights now in force."""
    result = validate(trainer.net, val_loader, len(trainer.types), trainer.rt.device, trainer.autocast)
    trainer.progress.val_history.append(result["l1"])
    weights = trainer.weights().tolist()
    row = {"step": trainer.progress.step, "kind": "val"}
    for i, name in enumerate(trainer.types):
        row.update({f"l1_{name}": result["l1"][i], f"psnr_{name}": result["psnr"][i],
                    f"psnr_input_{name}": result["psnr_input"][i], f"weight_{name}": weights[i]})
    trainer.progress.log.append(row)
    if trainer.rt.main:
        write_log(trainer.out / "log.parquet", trainer.progress.log)
        plot_curves(trainer.out / "curves.png", trainer.progress.log, trainer.types)
    return row


def final_metrics(trainer: Trainer, last_checkpoint: Path | None) -> dict:
    """Per-type PSNR of the last validation next to the rainy input's, and where the outputs are."""
    last = next(row for row in reversed(trainer.progress.log) if row["kind"] == "val")
    per_type = {t: {"psnr": last[f"psnr_{t}"], "psnr_input": last[f"psnr_input_{t}"], "l1": last[f"l1_{t}"],
                    "weight": last[f"weight_{t}"], "val_pairs": sum(SUBSETS[p.label] == t for p in trainer.data.val)}
                for t in trainer.types}
    newest = last_checkpoint or max(checkpoint.checkpoint_dir(trainer.out).glob("ckpt-*.pt"))
    return {
        "step": trainer.progress.step, "protocol": PSNR_PROTOCOL, "types": per_type,
        "psnr_mean": float(np.mean([v["psnr"] for v in per_type.values()])),
        "psnr_input_mean": float(np.mean([v["psnr_input"] for v in per_type.values()])),
        "checkpoint": str(newest), "curves": str(trainer.out / "curves.png"), "log": str(trainer.out / "log.parquet"),
    }


def fit(trainer: Trainer, on_step: OnStep | None = None) -> Path | None:
    """Train from the current step to `steps`; returns the last checkpoint written, if any."""
    c, p = trainer.config, trainer.progress
    train_loader, val_loader = loaders(trainer)
    weights, saved = trainer.weights(), None
    bar = tqdm(total=c.steps, initial=p.step, disable=not (c.progress and trainer.rt.main), desc="train")
    for batch in train_loader:
        losses = train_step(trainer, batch, weights)
        p.step += 1
        bar.update(1)
        if p.step % c.log_every == 0 or p.step == c.steps:
            bar.set_postfix(loss=f"{log_train(trainer, losses)['loss']:.4f}")
        if p.step % c.val_every == 0 or p.step == c.steps:
            run_validation(trainer, val_loader)
            weights = trainer.weights()
        if p.step % c.ckpt_every == 0 or p.step == c.steps:
            saved = save_checkpoint(trainer)
        if on_step is not None:
            on_step(p.step)
    bar.close()
    return saved


def train(config: TrainConfig, data: str | Path, out: str | Path, data_root: str | Path | None = None,
          allow_changes: bool = False, on_step: OnStep | None = None) -> dict:
    """Train (or finish training) `config.network` on `data` into `out`; returns the final metrics."""
    rt = init_runtime()
    try:
        prepared = prepare_data(Path(data), config.val_fraction, config.val_max_per_type,
                                Path(data_root) if data_root else None)
        trainer = build_trainer(config, prepared, Path(out).expanduser().resolve(), rt)
        resume(trainer, allow_changes)
        if rt.main:
            write_json(trainer.out / "config.json", {
                "config": config.model_dump(mode="json"), "data": str(Path(data).resolve()),
                "data_fingerprint": prepared.fingerprint, "types": trainer.types,
                "train_pairs": len(prepared.train), "val_pairs": len(prepared.val)})
        saved = fit(trainer, on_step)
        metrics = final_metrics(trainer, saved) if rt.main else {}
        if rt.main:
            write_json(trainer.out / "metrics.json", metrics)
        return metrics
    finally:
        if rt.world > 1:
            dist.barrier()
            dist.destroy_process_group()
