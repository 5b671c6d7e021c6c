"""Validation during training: per-type L1 (what the reweighting follows) and PSNR on centre crops.

PSNR protocol (named with every number): RGB, float in [0, 1] (restored output clamped), PSNR =
10·log10(1 / MSE) per image, averaged over the images of a type; the crops are `val_crop` squares
from the image centre. This is a model-selection signal, not a paper-comparable test score.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

PSNR_PROTOCOL = "psnr_rgb_float_center_crop"


def per_image_psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB of two (B, 3, H, W) batches in [0, 1]; an exact match is capped at 100 dB."""
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def type_losses(restored: torch.Tensor, clean: torch.Tensor, slots: torch.Tensor, k: int):
    """(mean L1 per type (k,), images per type (k,)); a type absent from the batch has L1 0."""
    errors = (restored - clean).abs().mean(dim=(1, 2, 3))  # (B,)
    sums = torch.zeros(k, device=errors.device, dtype=errors.dtype).index_add(0, slots, errors)
    counts = torch.bincount(slots, minlength=k)
    return sums / counts.clamp_min(1), counts


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, k: int, device: torch.device, autocast) -> dict[str, list[float]]:
    """{"l1", "psnr", "psnr_input"}: per-type means over this process's share of the validation set,
    summed over every DDP process."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(4, k, dtype=torch.float64, device=device)  # l1, psnr, psnr of the input, count
    for rainy, clean, slots in loader:
        rainy, clean, slots = rainy.to(device), clean.to(device), slots.to(device)
        with autocast():
            restored = model(rainy)
        restored = restored.float().clamp(0.0, 1.0)
        rows = (
            (restored - clean).abs().mean(dim=(1, 2, 3)),
            per_image_psnr(restored, clean),
            per_image_psnr(rainy, clean),
            torch.ones(len(slots), device=device),
        )
        for index, values in enumerate(rows):
            totals[index].index_add_(0, slots, values.double())
    if dist.is_initialized():
        dist.all_reduce(totals)
    model.train(was_training)
    means = totals[:3] / totals[3].clamp_min(1)
    return {name: means[i].tolist() for i, name in enumerate(("l1", "psnr", "psnr_input"))}
