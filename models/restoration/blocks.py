"""Building blocks shared by the restoration networks.

The transformer parts follow Restormer (Zamir et al., CVPR 2022): a with-bias LayerNorm over channels,
multi-Dconv head transposed attention (MDTA, attention across channels so its cost is linear in H·W),
the gated-Dconv feed-forward network (GDFN), a 3×3 overlapped patch embedding and pixel-(un)shuffle
resampling. A transformer block takes its feed-forward module as an argument, which is how UniRain
swaps the GDFN for a mixture of experts without a second block class.

Tensors are NCHW float32 unless a comment says otherwise.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW map, with weight and bias (Restormer's WithBias)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (B, H*W, C)
        t = F.layer_norm(t, (c,), self.weight, self.bias, self.eps)
        return t.transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention: a C×C attention map per head instead of an HW×HW one."""

    def __init__(self, dim: int, num_heads: int, bias: bool):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        # Restormer learns one softmax temperature per head because q, k are L2-normalised.
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        # The depth-wise 3×3 adds local context to q, k, v before the global channel attention.
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)  # 3 × (B, C, H, W)
        q = q.reshape(b, self.num_heads, c // self.num_heads, h * w)  # (B, heads, C/heads, H*W)
        k = k.reshape(b, self.num_heads, c // self.num_heads, h * w)  # (B, heads, C/heads, H*W)
        v = v.reshape(b, self.num_heads, c // self.num_heads, h * w)  # (B, heads, C/heads, H*W)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature  # (B, heads, C/heads, C/heads)
        out = attn.softmax(dim=-1) @ v  # (B, heads, C/heads, H*W)
        return self.project_out(out.reshape(b, c, h, w))  # (B, C, H, W)


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network; `hidden` is the width of the gated branch."""

    def __init__(self, dim: int, hidden: int, bias: bool):
        super().__init__()
        self.hidden = hidden
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)  # 2 × (B, hidden, H, W)
        return self.project_out(F.gelu(x1) * x2)


def gdfn_hidden(dim: int, expansion: float) -> int:
    """Hidden width of a GDFN the way Restormer rounds it (int(dim·γ): 127 for 48 × 2.66)."""
    return int(dim * expansion)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + MDTA(LN(x)), then x + ffn(LN(x)); `ffn` is a GDFN or a mixture of experts."""

    def __init__(self, dim: int, num_heads: int, ffn: nn.Module, bias: bool):
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim)
        self.ffn = ffn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    """3×3 convolution from image channels to the embedding width (overlapping 'patches' of one pixel)."""

    def __init__(self, in_channels: int, dim: int, bias: bool):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve H and W, double C: 3×3 conv to C/2, then PixelUnshuffle(2) gives 4·C/2 = 2C channels."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim // 2, kernel_size=3, padding=1, bias=False),
                                  nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double H and W, halve C: 3×3 conv to 2C, then PixelShuffle(2) gives 2C/4 = C/2 channels."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim * 2, kernel_size=3, padding=1, bias=False),
                                  nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


FFNFactory = Callable[[int, int, str], nn.Module]
"""Builds the feed-forward module of one block from (width, level 0..3, part "encoder" | "decoder")."""


class UShapedTransformer(nn.Module):
    """Restormer's four-level U: embed → encoder levels 1..3 (each then downsampled) → latent level 4 →
    decoder levels 3..1 (upsample, concatenate the skip, 1×1 reduce except at level 1, which keeps the
    2C concat) → refinement at level 1 → 3×3 output conv, added to the input (global residual).

    Level l has width dim·2^l and heads[l]; `ffn` decides what the feed-forward of each block is,
    which is all that separates Restormer (GDFN everywhere) from UniRain (soft / hard MoE).
    H and W are reflect-padded to a multiple of 8 internally and the output is cropped back.
    """

    def __init__(self, channels: int, dim: int, enc_blocks: Sequence[int], dec_blocks: Sequence[int],
                 refine_blocks: int, heads: Sequence[int], bias: bool, ffn: FFNFactory):
        super().__init__()
        widths = [dim * 2 ** level for level in range(4)]

        def stage(width: int, level: int, depth: int, part: str) -> nn.Sequential:
            return nn.Sequential(*(TransformerBlock(width, heads[level], ffn(width, level, part), bias)
                                   for _ in range(depth)))

        self.embed = OverlapPatchEmbed(channels, dim, bias)
        self.encoders = nn.ModuleList(stage(widths[l], l, enc_blocks[l], "encoder") for l in range(4))
        self.downs = nn.ModuleList(Downsample(widths[l]) for l in range(3))
        # Decoder levels 3, 2, 1 (indices 2, 1, 0); level 1 keeps the concatenated 2C channels.
        self.ups = nn.ModuleList(Upsample(widths[l + 1]) for l in (2, 1, 0))
        self.reduces = nn.ModuleList([nn.Conv2d(widths[3], widths[2], kernel_size=1, bias=bias),
                                      nn.Conv2d(widths[2], widths[1], kernel_size=1, bias=bias),
                                      nn.Identity()])
        dec_widths = (widths[2], widths[1], widths[1])
        self.decoders = nn.ModuleList(stage(dec_widths[i], l, dec_blocks[i], "decoder")
                                      for i, l in enumerate((2, 1, 0)))
        self.refinement = stage(widths[1], 0, refine_blocks, "decoder")
        self.output = nn.Conv2d(widths[1], channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x, h, w = pad_to_multiple(image, 8)
        feat = self.embed(x)  # (B, C, H, W)
        skips = []
        for level in range(3):
            feat = self.encoders[level](feat)
            skips.append(feat)
            feat = self.downs[level](feat)  # (B, 2^(level+1)·C, H/2^(level+1), W/2^(level+1))
        feat = self.encoders[3](feat)  # (B, 8C, H/8, W/8)
        for i, level in enumerate((2, 1, 0)):
            feat = torch.cat([self.ups[i](feat), skips[level]], dim=1)  # (B, 2^(level+1)·C, H/2^level, W/2^level)
            feat = self.decoders[i](self.reduces[i](feat))
        feat = self.refinement(feat)  # (B, 2C, H, W)
        return (x + self.output(feat))[..., :h, :w]  # (B, 3, H, W) before padding


class ResBlock(nn.Module):
    """Two 3×3 conv + ReLU with an identity skip and a ReLU after the sum, exactly PReNet's res_conv."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.relu(self.conv2(F.relu(self.conv1(x)))) + x)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad H and W up to a multiple (three 2× downsamplings need 8); returns (x, H, W) before padding.

    Reflect padding avoids the dark borders zero padding would add; it needs H, W ≥ multiple.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    return x, h, w
