"""Parameter and FLOP counts of the restoration networks, with torch's FlopCounterMode.

Two numbers per forward, because the literature and the counter disagree on what a FLOP is:

- `flops`: FlopCounterMode's total: 2 FLOPs per multiply-add, over convolutions, linear layers and
  matrix products (so MDTA's attention matmuls are included).
- `macs`: multiply-adds of convolution and linear layers only. This is the papers' "FLOPs": the count
  of module-hook profilers (thop, ptflops), which do not see MDTA's functional matmuls. It reproduces
  Restormer's published 140.99 G at 256×256 exactly, so UniRain's 126.5 G is read in it too.

A hard-MoE layer's cost depends on routing; `routing_range` gives it for the narrowest, balanced and
widest routing, and `routed` for the routing a trained model actually takes on given images (the
balanced figure is the one that matches the paper; a model whose routing collapsed onto its narrow
experts costs less and restores worse). Run `python -m models.restoration.complexity` for the table
of every registered network, and `python -m evaluation.routing --checkpoint CKPT --images DIR` for a
trained model's routing.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from models.restoration.moe import HardMoE, routing_shares
from models.restoration.registry import NETWORKS, build, names

_MAC_OPS = {"aten.convolution", "aten.mm", "aten.addmm"}  # conv and linear; aten.bmm is attention


@dataclass(frozen=True)
class Complexity:
    flops: float  # FlopCounterMode total (2 per multiply-add, attention matmuls included)
    macs: float  # conv + linear multiply-adds: the papers' "FLOPs"

    def __add__(self, other: Complexity) -> Complexity:
        return Complexity(self.flops + other.flops, self.macs + other.macs)

    def __sub__(self, other: Complexity) -> Complexity:
        return Complexity(self.flops - other.flops, self.macs - other.macs)

    def __mul__(self, factor: float) -> Complexity:
        return Complexity(self.flops * factor, self.macs * factor)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _from_ops(ops: dict) -> Complexity:
    """Complexity of one FlopCounterMode entry {op: FLOPs}."""
    return Complexity(flops=float(sum(ops.values())),
                      macs=sum(v for op, v in ops.items() if str(op) in _MAC_OPS) / 2)


def _measure(model: nn.Module, shape: tuple[int, ...]) -> dict[str, Complexity]:
    """Per-module complexity of one eval forward on a fixed input, keyed as FlopCounterMode names modules
    ("Global" for the whole forward, else the class name of `model` followed by the module's path)."""
    was_training = model.training
    model.eval()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
    return {name: _from_ops(ops) for name, ops in counter.get_flop_counts().items()}


def count_flops(model: nn.Module, shape: tuple[int, ...] = (1, 3, 256, 256)) -> Complexity:
    """Complexity of one eval forward on a fixed random input of `shape` (a hard MoE counts the experts
    that input is routed to; see `routing_range` for the routing-independent numbers)."""
    return _measure(model, shape)["Global"]


def _every_expert(model: nn.Module, shape: tuple[int, ...]) -> tuple[Complexity, dict[str, list[Complexity]]]:
    """(cost of one forward with every expert of every hard-MoE layer on, {layer: cost of each expert})."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, HardMoE)]
    top_k = {name: m.top_k for name, m in layers}
    try:
        for _, m in layers:
            m.top_k = len(m.experts)
        measured = _measure(model, shape)
    finally:
        for name, m in layers:
            m.top_k = top_k[name]
    root = type(model).__name__
    return measured["Global"], {name: [measured[f"{root}.{name}.experts.{i}"] for i in range(len(m.experts))]
                                for name, m in layers}


def routing_range(model: nn.Module, shape: tuple[int, ...] = (1, 3, 256, 256)) -> dict[str, Complexity]:
    """Complexity with every image taking the k narrowest ("min"), k widest ("max") experts of each hard-MoE
    layer, or each expert equally often ("balanced", k/n of all experts). One forward with all experts on."""
    base, experts_of = _every_expert(model, shape)
    bounds = {"min": base, "balanced": base, "max": base}
    for name, costs in experts_of.items():
        experts = sorted(costs, key=lambda c: c.macs)
        every, k = sum(experts, Complexity(0.0, 0.0)), model.get_submodule(name).top_k
        bounds = {"min": bounds["min"] - every + sum(experts[:k], Complexity(0.0, 0.0)),
                  "balanced": bounds["balanced"] - every + every * (k / len(experts)),
                  "max": bounds["max"] - every + sum(experts[-k:], Complexity(0.0, 0.0))}
    return bounds


def mean_routing_shares(model: nn.Module, images: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per hard-MoE layer, the share of `images` ((1, 3, H, W) each) that run each expert, in eval: (n,)."""
    shares: dict[str, torch.Tensor] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for image in images:
                model(image)
                for name, share in routing_shares(model).items():
                    shares[name] = shares.get(name, 0) + share.cpu() / len(images)
    finally:
        model.train(was_training)
    return shares


def routed(model: nn.Module, shares: dict[str, torch.Tensor], shape: tuple[int, ...] = (1, 3, 256, 256)) -> Complexity:
    """Mean complexity per image at `shape` when each hard-MoE layer runs its experts with the given shares
    (`mean_routing_shares`: how a trained model routes real images)."""
    base, experts_of = _every_expert(model, shape)
    total = base
    for name, costs in experts_of.items():
        used = sum((cost * float(p) for cost, p in zip(costs, shares[name])), Complexity(0.0, 0.0))
        total = total - sum(costs, Complexity(0.0, 0.0)) + used
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="square input side (default 256)")
    args = parser.parse_args()
    shape = (1, 3, args.size, args.size)
    print(f"input {shape}; G = 1e9; MACs = conv+linear multiply-adds (the papers' 'FLOPs'); "
          f"FLOPs = FlopCounterMode (2 per multiply-add, attention matmuls included)")
    print(f"{'network':<10} {'params M':>9} {'GMACs':>8} {'GFLOPs':>8}  hard-MoE routing GMACs min..max")
    for name in names():
        model = build(name)
        bounds = routing_range(model, shape)
        spread = (f"{bounds['min'].macs / 1e9:.2f}..{bounds['max'].macs / 1e9:.2f}"
                  if any(isinstance(m, HardMoE) for m in model.modules()) else "-")
        size = bounds["balanced"]
        print(f"{name:<10} {count_parameters(model) / 1e6:>9.3f} {size.macs / 1e9:>8.2f} "
              f"{size.flops / 1e9:>8.2f}  {spread}  ({NETWORKS[name].__name__})")


if __name__ == "__main__":
    main()
