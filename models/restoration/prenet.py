"""PReNet (Ren et al., CVPR 2019), the recurrent convolutional baseline of the paper's Table 1.

Each of `stages` passes concatenates the rainy input with the current estimate, runs a conv, a
ConvLSTM cell carrying state across stages, five residual blocks and a conv back to an image that is
added to the input. The same weights serve every stage, so the network is small (≈0.17 M parameters)
and trains on CPU. Only the last stage's estimate is returned; the original's per-stage outputs are
not needed by a trainer that supervises the final image.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.restoration.blocks import ResBlock
from models.restoration.registry import register


@dataclass(frozen=True)
class PReNetConfig:
    channels: int = 3  # RGB in and out
    width: int = 32  # feature channels (original 32)
    stages: int = 6  # recurrent passes (original 6)
    res_blocks: int = 5  # residual blocks per pass (original 5)

    def __post_init__(self):
        if self.stages < 1 or self.res_blocks < 0:
            raise ValueError(f"stages must be ≥ 1 and res_blocks ≥ 0, got {self.stages}, {self.res_blocks}")


class ConvLSTMCell(nn.Module):
    """LSTM whose gates are 3×3 convolutions over [features, hidden]; carries rain state across stages."""

    def __init__(self, width: int):
        super().__init__()
        self.gates = nn.Conv2d(width * 2, width * 4, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)  # 4 × (B, width, H, W)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


@register("prenet")
class PReNet(nn.Module):
    """x (B, 3, H, W) in [0, 1] → derained (B, 3, H, W); fully convolutional, any H, W."""

    config_class = PReNetConfig

    def __init__(self, config: PReNetConfig | None = None):
        super().__init__()
        self.config = config or PReNetConfig()
        c = self.config
        self.head = nn.Sequential(nn.Conv2d(c.channels * 2, c.width, kernel_size=3, padding=1), nn.ReLU())
        self.lstm = ConvLSTMCell(c.width)
        self.body = nn.Sequential(*(ResBlock(c.width) for _ in range(c.res_blocks)))
        self.tail = nn.Conv2d(c.width, c.channels, kernel_size=3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        b, _, h, w = image.shape
        hidden = image.new_zeros(b, self.config.width, h, w)
        cell = torch.zeros_like(hidden)
        x = image
        for _ in range(self.config.stages):
            feat = self.head(torch.cat([image, x], dim=1))  # (B, width, H, W)
            hidden, cell = self.lstm(feat, hidden, cell)
            x = image + self.tail(self.body(hidden))
        return x

    def balance_loss(self) -> torch.Tensor:
        """PReNet has no mixture of experts: always 0."""
        return self.tail.weight.new_zeros(())
