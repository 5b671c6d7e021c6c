"""Per-type loss weights for multi-type deraining: pure functions over validation-loss histories.

`history` is a float array of shape (T, K): row t holds the K per-type validation losses of the t-th
evaluation. The weights ω (K,) multiply the per-type training losses: ℓ = Σ_i ω_i ℓ_i.

Methods (paper-notes §4):
- "paper" (default): UniRain Eqs. 6-10, CoBa's RCS/ACS/DF renamed TBS/TSS/AF:
    α_i(t)  least-squares slope of type i over the last N evaluations                      [Eq. 6]
    TBS_i = softmax_i( K·α_i(t) / Σ_j |α_j(t)| )                                           [Eq. 7]
    TSS_i = softmax_i( −N·α_i(t) / Σ_{k=t−N+1..t} |α_i(k)| )                               [Eq. 8]
    AF    = min( t · softmax_t( −τ·t·α_max(t) / Σ_{i≤t} |α_max(i)| ), 1 ),  α_max = slope of max_i ℓ_i
    ω_i   = AF·TBS_i + (1 − AF)·TSS_i                                                      [Eq. 10]
- "released": the authors' released training code: AF without the t· factor and the min, over the
  last N records only; ω passes through softmax(K·ω) twice, then the floor ω(1 − f·K) + f.
- "fixed": constant weights (uniform unless given).

Both adaptive methods return uniform weights during the first `warmup` evaluations and start their
slope records at evaluation `warmup`, as the released code does; where fewer than N records exist
yet, N and t are the number of records available.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

Method = Literal["paper", "released", "fixed"]
EPS = 1e-8  # [repo] keeps the |slope| normalisers finite on a perfectly flat curve


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def least_squares_slope(y: np.ndarray) -> float:
    """Slope of the least-squares line through (0, y_0), (1, y_1), ...; 0 for fewer than 2 points."""
    if len(y) < 2:
        return 0.0
    x = np.arange(len(y), dtype=np.float64)
    x -= x.mean()
    return float(np.dot(x, y - np.mean(y)) / np.dot(x, x))


def window_slopes(history: np.ndarray, window: int, t: int) -> tuple[np.ndarray, float]:
    """(α_i(t) for every type, α_max(t)) over evaluations max(0, t−N+1) .. t."""
    rows = np.asarray(history, dtype=np.float64)[max(0, t - window + 1):t + 1]
    per_type = np.array([least_squares_slope(rows[:, i]) for i in range(rows.shape[1])])
    return per_type, least_squares_slope(rows.max(axis=1))


def slope_records(history: np.ndarray, window: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Slopes recorded at every evaluation t = start .. T−1: (R, K) per type and (R,) of the max loss."""
    records = [window_slopes(history, window, t) for t in range(start, len(history))]
    return np.array([r[0] for r in records]), np.array([r[1] for r in records])


def balance_score(slopes: np.ndarray) -> np.ndarray:
    """TBS: favours the types whose loss currently falls slowest (or rises) relative to the others."""
    return softmax(len(slopes) * slopes / (np.abs(slopes).sum() + EPS))


def stability_score(slope_window: np.ndarray) -> np.ndarray:
    """TSS over the last n slope records (n, K): damps a type whose latest slope is large for it."""
    n = len(slope_window)
    return softmax(-n * slope_window[-1] / (np.abs(slope_window).sum(axis=0) + EPS))


def adaptivity_factor(max_slopes: np.ndarray, tau: float) -> float:
    """Paper AF over every record so far: 1 while the worst type's loss keeps falling steadily."""
    t = len(max_slopes)
    logits = -tau * t * max_slopes / (np.abs(max_slopes).sum() + EPS)
    return float(min(t * softmax(logits)[-1], 1.0))


def released_adaptivity_factor(max_slopes: np.ndarray, window: int, tau: float) -> float:
    """The released code's AF: softmax over the last N records only, no t· factor, no min(·, 1)."""
    recent = max_slopes[-window:]
    logits = -len(recent) * recent / (np.abs(recent).sum() + EPS)
    return float(softmax(tau * logits)[-1])


@dataclass(frozen=True)
class Reweighting:
    """How the per-type weights follow the validation losses; `weights(history)` is the whole API."""

    method: Method = "paper"
    window: int = 10          # N [repo]
    tau: float = 5.0          # τ [repo]
    warmup: int = 20          # evaluations with uniform weights [repo]
    floor: float = 0.1        # "released" only: every weight stays ≥ floor [repo]
    fixed: Sequence[float] | None = None  # "fixed" only; None = uniform

    def __post_init__(self) -> None:
        if self.method not in ("paper", "released", "fixed"):
            raise ValueError(f"unknown reweighting method {self.method!r}: use paper, released or fixed")
        if self.window < 2 or self.warmup < 0 or self.tau <= 0:
            raise ValueError(f"need window >= 2, warmup >= 0, tau > 0; got {self.window}, {self.warmup}, {self.tau}")

    def weights(self, history: np.ndarray, num_types: int | None = None) -> np.ndarray:
        """ω (K,) after the evaluations in `history` (T, K); K from `num_types` when T = 0."""
        history = np.asarray(history, dtype=np.float64)
        k = num_types if num_types is not None else history.shape[1]
        history = history.reshape(len(history), k)
        if self.method == "fixed":
            return self._fixed(k)
        if len(history) <= self.warmup:
            return np.full(k, 1.0 / k)
        slopes, max_slopes = slope_records(history, self.window, self.warmup)
        tbs, tss = balance_score(slopes[-1]), stability_score(slopes[-self.window:])
        if self.method == "paper":
            af = adaptivity_factor(max_slopes, self.tau)
            return af * tbs + (1.0 - af) * tss
        af = released_adaptivity_factor(max_slopes, self.window, self.tau)
        mixed = softmax(k * softmax(k * (af * tbs + (1.0 - af) * tss)))
        return mixed * (1.0 - self.floor * k) + self.floor

    def _fixed(self, k: int) -> np.ndarray:
        if self.fixed is None:
            return np.full(k, 1.0 / k)
        weights = np.asarray(self.fixed, dtype=np.float64)
        if weights.shape != (k,) or (weights < 0).any():
            raise ValueError(f"fixed weights must be {k} non-negative numbers, got {list(self.fixed)}")
        return weights
