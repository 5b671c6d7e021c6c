"""Side-by-side files split into (rainy, clean) by each dataset's own half order."""
from __future__ import annotations

import numpy as np
import pytest

from storage.images import halves


@pytest.fixture
def pair_file() -> np.ndarray:
    left = np.full((4, 3, 3), 10, dtype=np.uint8)
    right = np.full((4, 3, 3), 200, dtype=np.uint8)
    spare = np.zeros((4, 1, 3), dtype=np.uint8)  # an odd width: the last column belongs to no half
    return np.concatenate([left, right, spare], axis=1)  # (4, 7, 3)


def test_did_mdn_order_puts_the_rainy_half_left(pair_file):
    rainy, clean = halves(pair_file, "left_rainy")
    assert rainy.shape == clean.shape == (4, 3, 3)
    assert (rainy == 10).all() and (clean == 200).all()


def test_rain800_order_puts_the_clean_half_left(pair_file):
    rainy, clean = halves(pair_file, "left_clean")
    assert (rainy == 200).all() and (clean == 10).all()
