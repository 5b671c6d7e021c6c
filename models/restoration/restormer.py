"""Restormer (Zamir et al., CVPR 2022), the transformer baseline of the paper's Table 1.

The default config is the published deraining model: 26.13 M parameters (dim 48, blocks [4, 6, 6, 8],
4 refinement blocks, heads [1, 2, 4, 8], GDFN expansion 2.66, no conv bias, WithBias LayerNorm).
The decoder mirrors the encoder (levels 3, 2, 1 get blocks[2], blocks[1], blocks[0]) as in the original.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.restoration.blocks import GDFN, UShapedTransformer, gdfn_hidden
from models.restoration.registry import register


@dataclass(frozen=True)
class RestormerConfig:
    channels: int = 3  # RGB in and out
    dim: int = 48  # width of level 1; level l has dim·2^l
    blocks: tuple[int, ...] = (4, 6, 6, 8)  # encoder levels 1..4; the decoder mirrors levels 3..1
    refine_blocks: int = 4
    heads: tuple[int, ...] = (1, 2, 4, 8)
    ffn_expansion: float = 2.66
    bias: bool = False

    def __post_init__(self):
        if len(self.blocks) != 4 or len(self.heads) != 4:
            raise ValueError(f"blocks and heads need 4 levels, got {self.blocks} and {self.heads}")


@register("restormer")
class Restormer(nn.Module):
    """x (B, 3, H, W) in [0, 1] → derained (B, 3, H, W); any H, W ≥ 8."""

    config_class = RestormerConfig

    def __init__(self, config: RestormerConfig | None = None):
        super().__init__()
        self.config = config or RestormerConfig()
        c = self.config

        def ffn(width: int, level: int, part: str) -> nn.Module:
            return GDFN(width, gdfn_hidden(width, c.ffn_expansion), c.bias)

        self.body = UShapedTransformer(c.channels, c.dim, c.blocks, c.blocks[2::-1], c.refine_blocks,
                                       c.heads, c.bias, ffn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def balance_loss(self) -> torch.Tensor:
        """Restormer has no mixture of experts: always 0."""
        return self.body.output.weight.new_zeros(())
