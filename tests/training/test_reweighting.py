"""Reweighting against values worked out by hand from the paper's and the released code's formulas."""
from __future__ import annotations

import numpy as np
import pytest

from models.restoration.reweighting import Reweighting, least_squares_slope


def softmax(logits):
    e = np.exp(np.asarray(logits, dtype=np.float64))
    return e / e.sum()


# Two types, three evaluations:        slopes recorded at t=1 (rows 0-1) and t=2 (rows 0-2), window N=3
#   t=0: [1.0, 0.5]                     α(1) = [-0.1, 0.0]            α_max(1) = -0.1 (max = [1.0, 0.9])
#   t=1: [0.9, 0.5]                     α(2) = [-0.05, -0.1]          α_max(2) = -0.05 (max = [1.0, 0.9, 0.9])
#   t=2: [0.9, 0.3]
HISTORY = np.array([[1.0, 0.5], [0.9, 0.5], [0.9, 0.3]])
# TBS = softmax(K·α(2)/Σ|α(2)|) = softmax(2·[-0.05, -0.1]/0.15)
TBS = softmax([-2 / 3, -4 / 3])
# TSS = softmax(-n·α(2)/Σ_k|α(k)|) over n=2 records: Σ|α| per type = [0.15, 0.1]
TSS = softmax([2 * 0.05 / 0.15, 2 * 0.1 / 0.1])
# AF logits over the records: -τ·t·α_max/Σ|α_max| = -5·2·[-0.1, -0.05]/0.15 = [20/3, 10/3]
AF_SOFTMAX_LAST = softmax([20 / 3, 10 / 3])[-1]  # = 1/(1 + e^(10/3)) ≈ 0.0344


def test_slope_is_exact_on_straight_lines_and_matches_polyfit():
    assert least_squares_slope(np.array([3.0, 2.5, 2.0, 1.5])) == pytest.approx(-0.5, abs=1e-12)
    assert least_squares_slope(np.array([7.0])) == 0.0
    y = np.array([0.31, 0.29, 0.30, 0.22, 0.25])
    assert least_squares_slope(y) == pytest.approx(np.polyfit(np.arange(5), y, 1)[0], abs=1e-12)


def test_paper_weights_by_hand():
    af = min(2 * AF_SOFTMAX_LAST, 1.0)  # ≈ 0.0689: the worst type's loss stopped falling as fast
    expected = af * TBS + (1 - af) * TSS
    got = Reweighting("paper", window=3, tau=5.0, warmup=1).weights(HISTORY)
    np.testing.assert_allclose(got, expected, atol=1e-7)
    assert got.sum() == pytest.approx(1.0)


def test_released_code_weights_by_hand():
    af = AF_SOFTMAX_LAST  # no t· factor, no min(·, 1)
    mixed = af * TBS + (1 - af) * TSS
    twice = softmax(2 * softmax(2 * mixed))
    expected = twice * (1 - 0.1 * 2) + 0.1
    got = Reweighting("released", window=3, tau=5.0, warmup=1, floor=0.1).weights(HISTORY)
    np.testing.assert_allclose(got, expected, atol=1e-7)
    assert got.sum() == pytest.approx(1.0) and got.min() >= 0.1


def test_linear_histories_give_the_balance_score_when_the_worst_type_falls_steadily():
    # ℓ_i(t) = a_i + b_i·t; type 0 is the largest loss throughout, so α_max = -0.02 at every record
    # and AF = min(t·(1/t), 1) = 1: ω = TBS = softmax(4·b/Σ|b|) = softmax(50·b).
    b = np.array([-0.02, -0.01, -0.04, 0.01])
    history = np.array([1.0, 0.8, 0.6, 0.4]) + np.arange(5)[:, None] * b
    got = Reweighting("paper", window=10, warmup=1).weights(history)
    np.testing.assert_allclose(got, softmax([-1.0, -0.5, -2.0, 0.5]), atol=1e-7)
    assert got.argmax() == 3 and got.argmin() == 2  # the rising loss gains, the fastest-falling loses


def test_uniform_during_warmup_and_fixed_weights():
    history = np.random.default_rng(0).random((20, 4))
    np.testing.assert_array_equal(Reweighting("paper", warmup=20).weights(history), np.full(4, 0.25))
    np.testing.assert_array_equal(Reweighting("released", warmup=5).weights(np.empty((0, 4)), 4), np.full(4, 0.25))
    np.testing.assert_array_equal(Reweighting("fixed").weights(history), np.full(4, 0.25))
    np.testing.assert_array_equal(Reweighting("fixed", fixed=(0.4, 0.2, 0.2, 0.2)).weights(history),
                                  [0.4, 0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="4 non-negative"):
        Reweighting("fixed", fixed=(0.5, 0.5)).weights(history)
    with pytest.raises(ValueError, match="unknown reweighting"):
        Reweighting("coba")
