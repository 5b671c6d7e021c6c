"""Nested-expert mixtures of experts with per-image routing (UniRain §3, after MoCE-IR).

An MoE layer holds n experts of nested capacities R_i = dim / 2^i, i = 1..n [paper]. The paper leaves the
expert body open; here an expert is a gated-Dconv FFN whose gated width is `expansion · R_i` [ours], so
the layer replaces the GDFN of a Restormer block while the attention stays shared. Expert 1 is the
widest, expert n the cheapest.

Routing is per image, as in the paper and MoCE-IR: logits = W·GAP(x), plus ε ~ N(0, σ²) only in
training (the paper writes GAP(x + ε); noise on the logits is the noisy gating of Shazeer et al. (2017)
behind MoCE-IR's noisy top-1 routing, and pixel noise would average away under GAP). Eval is noise-free,
hence deterministic.

- SoftMoE (encoder): w = softmax(logits), every expert runs, y = Σ w_i · y_i.
- HardMoE (decoder): g = TopK(softmax(logits)), only the k selected experts run on each image and
  y = Σ g_i · y_i with the top-k probabilities NOT renormalised [paper].

Each layer stores `balance_terms` after its forward, the cv² over experts of Shazeer et al. (2017):
`importance` (of the summed gates, scaled by each expert's relative complexity when the layer is
complexity-weighted, so that the cheap experts are favoured, as in MoCE-IR) and, for HardMoE, `load`
(expected images per expert) and `load_weighted` (the same, cost-scaled). `balance_loss` combines them
over the model, in one of two ways:

- `moce` (default): weight × the mean over the hard-MoE layers of 0.5·importance + 0.5·load, the
  complexity weight on importance only — MoCE-IR's aggregation (its decoder blocks; the soft encoder
  layers, where every expert runs anyway, add nothing).
- `sum`: weight × the sum over every MoE layer of importance + load_weighted (soft layers: importance).
  With 0.01 this is about 43× MoCE-IR's on the paper's UniRain: in a 1,500-step CPU run it was 60-80 %
  of the loss and collapsed every hard layer onto its two narrowest experts. Kept as an option.
"""
from __future__ import annotations

import torch
from torch import nn

from models.restoration.blocks import GDFN

AGGREGATIONS = ("moce", "sum")


def nested_widths(dim: int, num_experts: int, expansion: float) -> list[int]:
    """Gated widths of the n nested experts: expansion · dim / 2^i for i = 1..n (at least 1)."""
    return [max(1, int(expansion * dim / 2 ** i)) for i in range(1, num_experts + 1)]


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation over experts; 0 for a single expert (nothing to balance)."""
    if x.numel() < 2:
        return x.new_zeros(())
    return x.var() / (x.mean() ** 2 + 1e-10)


class MoE(nn.Module):
    """Shared parts of both mixtures: nested experts, the per-image router and the balance loss state."""

    def __init__(self, dim: int, num_experts: int, expansion: float, bias: bool, noise_std: float,
                 complexity_weighted: bool):
        super().__init__()
        if num_experts < 1:
            raise ValueError(f"an MoE layer needs at least one expert, got {num_experts}")
        widths = nested_widths(dim, num_experts, expansion)
        self.experts = nn.ModuleList(GDFN(dim, w, bias) for w in widths)
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.noise_std = noise_std
        cost = torch.tensor(widths, dtype=torch.float32)
        # Relative cost of each expert (mean 1); a GDFN's cost is linear in its gated width.
        complexity = cost / cost.mean() if complexity_weighted else torch.ones_like(cost)
        self.register_buffer("complexity", complexity, persistent=False)
        self.balance_terms: dict[str, torch.Tensor] = {}
        self.last_weights: torch.Tensor | None = None

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(clean, noisy) router logits, each (B, n); noisy == clean outside training."""
        clean = self.router(x.mean(dim=(2, 3)))  # (B, n)
        if self.training and self.noise_std > 0:
            return clean, clean + torch.randn_like(clean) * self.noise_std
        return clean, clean


class SoftMoE(MoE):
    """Every expert runs; the output is the softmax-weighted sum (encoder)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, noisy = self.route(x)
        weights = noisy.softmax(dim=-1)  # (B, n)
        self.last_weights = weights.detach()
        y = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            y = y + weights[:, i].view(-1, 1, 1, 1) * expert(x)
        # Every expert sees every image, so load equals importance: one cv² term.
        self.balance_terms = {"importance": cv_squared(weights.sum(dim=0) * self.complexity)}
        return y


class HardMoE(MoE):
    """Only the top-k experts of each image run; their softmax weights are used as they are (decoder).

    An expert that no image of the batch selected receives no gradient in that step: distributed
    training needs unused-parameter detection (DDP `find_unused_parameters=True`).
    """

    def __init__(self, dim: int, num_experts: int, expansion: float, bias: bool, noise_std: float,
                 complexity_weighted: bool, top_k: int):
        super().__init__(dim, num_experts, expansion, bias, noise_std, complexity_weighted)
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in 1..{num_experts}, got {top_k}")
        self.top_k = top_k
        self.last_selected: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clean, noisy = self.route(x)
        probs = noisy.softmax(dim=-1)  # (B, n)
        top_p, top_i = probs.topk(self.top_k, dim=-1)  # (B, k)
        gates = torch.zeros_like(probs).scatter(1, top_i, top_p)  # (B, n), zero outside the top-k
        selected = torch.zeros_like(probs, dtype=torch.bool).scatter(1, top_i, True)  # (B, n)
        self.last_weights, self.last_selected = gates.detach(), selected
        y = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            rows = selected[:, i].nonzero().squeeze(1)  # (B_i,) images routed to expert i
            if rows.numel():
                y = y.index_add(0, rows, gates[rows, i].view(-1, 1, 1, 1) * expert(x[rows]))
        load = self._load(clean, noisy, selected)  # (n,)
        self.balance_terms = {"importance": cv_squared(gates.sum(dim=0) * self.complexity),
                              "load": cv_squared(load), "load_weighted": cv_squared(load * self.complexity)}
        return y

    def _load(self, clean: torch.Tensor, noisy: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        """Expected number of images per expert (Shazeer et al. 2017), differentiable through the noise.

        P(expert i in the top-k) = Φ((clean_i − threshold) / σ), where the threshold is the k+1-th largest
        noisy logit for an expert already inside and the k-th largest for one outside. Without noise (or
        with every expert selected) it falls back to the hard counts, which carry no gradient.
        """
        if not (self.training and self.noise_std > 0 and self.top_k < clean.shape[-1]):
            return selected.float().sum(dim=0)
        top = noisy.topk(self.top_k + 1, dim=-1).values  # (B, k+1)
        threshold = torch.where(selected, top[:, self.top_k:], top[:, self.top_k - 1:self.top_k])  # (B, n)
        return torch.special.ndtr((clean - threshold) / self.noise_std).sum(dim=0)


def balance_loss(model: nn.Module, weight: float, aggregation: str = "moce") -> torch.Tensor:
    """The MoE balance loss of the model's last forward (see the module docstring); 0 when it has none."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown balance aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    zero = torch.zeros((), device=next(model.parameters()).device)
    layers = [m for m in model.modules() if isinstance(m, MoE) and m.balance_terms]
    if aggregation == "sum":
        return weight * sum((sum(m.balance_terms[t] for t in ("importance", "load_weighted") if t in m.balance_terms)
                             for m in layers), zero)
    hard = [0.5 * m.balance_terms["importance"] + 0.5 * m.balance_terms["load"] for m in layers
            if isinstance(m, HardMoE)]
    return weight * torch.stack(hard).mean() if hard else zero


def routing_shares(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per hard-MoE layer of the last forward: the share of the batch's images that ran each expert, (n,)."""
    return {name: m.last_selected.float().mean(dim=0) for name, m in model.named_modules()
            if isinstance(m, HardMoE) and m.last_selected is not None}
