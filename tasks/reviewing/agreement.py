"""Agreement statistics of the human–judge study (supplement Table 2), each with a bootstrap interval.

- percent agreement: the share of items two raters label alike;
- Cohen's κ (scikit-learn): two raters, corrected for the agreement their label frequencies make by chance;
- Fleiss' κ (statsmodels): several raters per item;
- Gwet's AC1: chance agreement taken from how far the labels are from uniform, so that it stays meaningful
  when one class dominates (most pairs kept), where κ is paradoxically low [Gwet 2008, Br J Math Stat
  Psychol 61:29-48, eqs. 7-8 and the multi-rater form]. No maintained library computes it, so it is here.

Intervals resample the items (scipy.stats.bootstrap, percentile method: BCa is undefined when every
resample gives the same value, as with perfect agreement). A statistic that is undefined (κ when both
raters use one label only) is NaN, and so is an interval made of such resamples.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.stats import bootstrap
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

LABELS = ("keep", "discard")
RESAMPLES = 2000


def percent_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)])) if len(a) else float("nan")


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    if len(set(a) | set(b)) < 2:
        return float("nan")   # both raters used one and the same label: chance agreement is 1
    return float(cohen_kappa_score(list(a), list(b), labels=list(LABELS)))


def counts(ratings: Sequence[Sequence[str]]) -> np.ndarray:
    """Per item the labels of its raters -> (items, labels) counts."""
    return np.array([[labels.count(label) for label in LABELS] for labels in map(list, ratings)], dtype=float)


def fleiss_kappa(table: np.ndarray) -> float:
    """(items, labels) counts, the same number of raters per item."""
    if table.shape[0] == 0 or np.count_nonzero(table.sum(axis=0)) < 2:
        return float("nan")
    return float(statsmodels_fleiss_kappa(table, method="fleiss"))


def gwet_ac1(table: np.ndarray) -> float:
    """Gwet's AC1 of (items, labels) counts; items with fewer than two ratings are left out."""
    raters = table.sum(axis=1)                                  # (items,)
    table, raters = table[raters >= 2], raters[raters >= 2]
    if not len(table):
        return float("nan")
    q = table.shape[1]
    observed = np.mean((table * (table - 1)).sum(axis=1) / (raters * (raters - 1)))
    share = np.mean(table / raters[:, None], axis=0)            # (labels,) how often each label is given
    chance = float((share * (1 - share)).sum() / (q - 1))
    return float((observed - chance) / (1 - chance))


def two_rater_table(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    return counts([[x, y] for x, y in zip(a, b, strict=True)])


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def text(self, percent: bool = False) -> str:
        """`0.84 [0.61, 0.97]`, or `84.0 % [61.0, 97.0]`; n/a when undefined, no interval when it is."""
        if np.isnan(self.value):
            return "n/a"
        show = (lambda v: f"{100 * v:.1f}") if percent else (lambda v: f"{v:.2f}")
        interval = "" if np.isnan(self.low) else f" [{show(self.low)}, {show(self.high)}]"
        return show(self.value) + (" %" if percent else "") + interval


def with_interval(statistic: Callable[[np.ndarray], float], items: int, seed: int = 0,
                  resamples: int = RESAMPLES) -> Estimate:
    """statistic(indices of the items) and its 95 % bootstrap interval over the items."""
    value = statistic(np.arange(items))
    if items < 2 or np.isnan(value):
        return Estimate(value, float("nan"), float("nan"))
    with warnings.catch_warnings():   # resamples where κ is undefined make a NaN bound, reported as such
        warnings.simplefilter("ignore")
        result = bootstrap((np.arange(items),), lambda idx: statistic(idx.astype(int)), vectorized=False,
                           n_resamples=resamples, method="percentile", confidence_level=0.95,
                           random_state=np.random.default_rng(seed))
    return Estimate(value, float(result.confidence_interval.low), float(result.confidence_interval.high))
