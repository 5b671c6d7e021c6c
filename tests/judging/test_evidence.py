"""Perceptual hashes and pair alignment on corpus photographs under synthetic rain."""
from __future__ import annotations

import numpy as np

from corpus.photos import random_scene
from corpus.rain import StreakParams, add_streak_params
from tasks.curation.evidence import alignment, hamming, phash


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def scenes(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """n (clean, heavily rainy) pairs of distinct scenes."""
    rng = np.random.default_rng(seed)
    clean = [random_scene(rng) for _ in range(n)]
    rainy = [add_streak_params(c, rng, StreakParams.sample(rng, "heavy")) for c in clean]
    return [to_uint8(c) for c in clean], [to_uint8(r) for r in rainy]


def test_hamming_counts_differing_bits_of_signed_64_bit_hashes():
    a = np.array([0, -1, 0b1011], np.int64)
    assert hamming(a, np.array([0, 1], np.int64)).tolist() == [[0, 1], [64, 63], [3, 2]]


def test_phash_finds_a_re_encoded_copy_and_tells_scenes_apart():
    clean, _ = scenes(12)
    hashes = np.array([phash(c) for c in clean], np.int64)
    brighter = np.array([phash(np.clip(c.astype(int) + 6, 0, 255).astype(np.uint8)) for c in clean], np.int64)
    distances = hamming(hashes, brighter)                       # (12, 12): copies on the diagonal
    assert distances.diagonal().max() <= 4
    others = hamming(hashes, hashes)[~np.eye(len(clean), dtype=bool)]
    assert others.min() > 6                                     # NEAR_DUPLICATE_BITS of the audit


def test_alignment_gain_separates_shifted_clean_images_from_heavy_rain():
    clean, rainy = scenes(10, seed=1)
    aligned = [alignment(r, c) for r, c in zip(rainy, clean)]
    shifted = [alignment(r, np.roll(c, c.shape[1] // 10, axis=1)) for r, c in zip(rainy, clean)]
    assert max(gain for _, gain in aligned) <= 0.005 and min(corr for corr, _ in aligned) > 0.5
    assert min(gain for _, gain in shifted) > 0.01
