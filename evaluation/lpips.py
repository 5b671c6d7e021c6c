"""LPIPS (Zhang et al. 2018; AlexNet features, v0.1 linear heads), an optional third metric.

It needs the `lpips` package (which ships the linear heads) and torchvision's ImageNet AlexNet weights
on this machine; rainrag never downloads them during a benchmark. When either is missing, asking for
LPIPS is an error that says what is missing and how to get it, before any image is restored.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import torch

ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"  # the file torchvision's alexnet(pretrained=True) loads


class LpipsUnavailable(RuntimeError):
    """LPIPS was asked for but its package or weights are not on this machine."""


def alexnet_weights_path() -> Path:
    """Where torchvision looks for (and would download) the AlexNet weights: <torch hub dir>/checkpoints/."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS


class Lpips:
    """LPIPS distance (lower is better) of two (H, W, 3) uint8 RGB images, restored first."""

    def __init__(self, device: str | torch.device = "cpu"):
        try:
            lpips = importlib.import_module("lpips")
        except ImportError as exc:
            raise LpipsUnavailable(
                "LPIPS needs the `lpips` package, which is not installed here: `pip install lpips`, then put "
                f"the AlexNet weights at {alexnet_weights_path()} (or run without --lpips)") from exc
        weights = alexnet_weights_path()
        if not weights.exists():
            raise LpipsUnavailable(
                f"LPIPS needs torchvision's AlexNet weights {weights}, which are not on this machine; copy "
                f"{ALEXNET_WEIGHTS} there (e.g. from a machine that ran torchvision.models.alexnet(weights="
                "'IMAGENET1K_V1')), or run without --lpips")
        self.device = torch.device(device)
        self.net = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval().to(self.device)

    @staticmethod
    def _tensor(image: np.ndarray) -> torch.Tensor:
        """(1, 3, H, W) float in [-1, 1], the range LPIPS expects."""
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0

    @torch.no_grad()
    def __call__(self, restored: np.ndarray, reference: np.ndarray) -> float:
        a, b = self._tensor(restored).to(self.device), self._tensor(reference).to(self.device)
        return float(self.net(a, b).item())
