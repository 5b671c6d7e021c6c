"""The agreement statistics against values computed by hand and by independent implementations."""
from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_cohens_kappa

from tasks.reviewing.agreement import (cohen_kappa, counts, fleiss_kappa, gwet_ac1, percent_agreement,
                                       two_rater_table, with_interval)


def labels(table: dict[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    """Two raters' label lists from the cells of their 2x2 table."""
    a, b = [], []
    for (x, y), n in table.items():
        a += [x] * n
        b += [y] * n
    return a, b


def test_cohen_kappa_matches_the_hand_value_and_statsmodels():
    # 50 items: both keep 20, keep/discard 5, discard/keep 10, both discard 15 -> p_o = 0.7, p_e = 0.5, κ = 0.4
    a, b = labels({("keep", "keep"): 20, ("keep", "discard"): 5, ("discard", "keep"): 10, ("discard", "discard"): 15})
    assert percent_agreement(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    contingency = np.array([[20, 5], [10, 15]])
    assert cohen_kappa(a, b) == pytest.approx(statsmodels_cohens_kappa(contingency).kappa)


def test_kappa_paradox_low_kappa_while_ac1_stays_high():
    # Gwet (2008)'s paradox: 125 items, 118 both keep, 5 and 2 split, none both discard.
    a, b = labels({("keep", "keep"): 118, ("keep", "discard"): 5, ("discard", "keep"): 2})
    p_o = 118 / 125
    p_e_kappa = (123 / 125) * (120 / 125) + (2 / 125) * (5 / 125)
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e_kappa) / (1 - p_e_kappa))       # ≈ −0.023
    assert cohen_kappa(a, b) < 0
    share = (123 + 120) / 250                                                              # keep, both raters
    p_e_ac1 = 2 * share * (1 - share)                                                      # Σ π(1−π) / (q−1)
    assert gwet_ac1(two_rater_table(a, b)) == pytest.approx((p_o - p_e_ac1) / (1 - p_e_ac1))
    assert gwet_ac1(two_rater_table(a, b)) == pytest.approx(0.9408, abs=1e-4)


def test_fleiss_kappa_matches_the_textbook_example_and_its_formula():
    # Fleiss (1971) as worked in the literature: 10 items, 14 raters, 5 categories -> κ = 0.210
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]], float)
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=1e-4)
    # three reviewers on four pairs, by hand: P_i = (3·2 or 1·0 + 2·1)/6, p_keep = 7/12
    three = counts([["keep"] * 3, ["keep", "keep", "discard"], ["discard"] * 3, ["keep", "discard", "keep"]])
    p_bar = (1 + 1 / 3 + 1 + 1 / 3) / 4
    p_keep = 7 / 12
    p_e = p_keep ** 2 + (1 - p_keep) ** 2
    assert fleiss_kappa(three) == pytest.approx((p_bar - p_e) / (1 - p_e))
    # Gwet's AC1 on the same table: chance = Σ π(1−π) / (q−1)
    chance = 2 * p_keep * (1 - p_keep)
    assert gwet_ac1(three) == pytest.approx((p_bar - chance) / (1 - chance))


def test_undefined_statistics_are_nan_not_a_number_that_looks_real():
    assert math.isnan(cohen_kappa(["keep"] * 5, ["keep"] * 5))
    assert math.isnan(fleiss_kappa(counts([["keep", "keep"]] * 4)))
    assert gwet_ac1(counts([["keep", "keep"]] * 4)) == pytest.approx(1.0)   # AC1 is defined: perfect agreement


def test_bootstrap_interval_brackets_the_value_and_is_reproducible():
    rng = np.random.default_rng(3)
    a = rng.choice(["keep", "discard"], 60).tolist()
    b = [x if rng.random() < 0.8 else ("discard" if x == "keep" else "keep") for x in a]
    stat = lambda idx: percent_agreement([a[i] for i in idx], [b[i] for i in idx])  # noqa: E731
    first, again = with_interval(stat, len(a), seed=1), with_interval(stat, len(a), seed=1)
    assert first == again and first.low < first.value < first.high
    assert first.high - first.low == pytest.approx(2 * 1.96 * math.sqrt(first.value * (1 - first.value) / 60), rel=0.35)
    perfect = with_interval(lambda idx: percent_agreement([a[i] for i in idx], [a[i] for i in idx]), len(a))
    assert (perfect.value, perfect.low, perfect.high) == (1.0, 1.0, 1.0)
    assert perfect.text(percent=True) == "100.0 % [100.0, 100.0]"
