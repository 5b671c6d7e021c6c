"""The torch SSIM re-ranker against skimage's structural_similarity, on real photographs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data
from skimage.metrics import structural_similarity

from tasks.retrieval.ssim import (
    _blur_valid, _scores_batched, reference_terms, ssim_one_to_many, ssim_pairs, to_gray_square,
)

TOL = 1e-4
UNIT_ROUNDOFF = 2.0**-24  # float32


def float32_tolerance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far a float32 SSIM of each pair (x[i], y[i]) may lie from the exact value: (N,).

    The re-ranker computes the variances as blur(y^2) - blur(y)^2 and the covariance likewise. The
    blurred moments are convex combinations of values in [0, 1] (non-negative taps summing to 1), so
    they are rounded to within a unit of float32 roundoff u of their size, but their difference can
    be far smaller than they are: each pixel's map value carries a relative error of about
    u * (E[x^2] + E[y^2] + 2 E[xy]) / (var x + var y + C2), its condition number kappa. The mean
    SSIM's error is then bounded by u times the mean kappa; the means, the luminance term and the
    float64 (or blocked float32) sum add a few u, far less. The observed errors are below a tenth of
    this bound (up to 1.3e-6 at 256^2, where the bound is about 3e-5 on these photographs): a
    threshold that follows from the arithmetic, not from one machine's rounding.
    """
    def blur(a: np.ndarray) -> np.ndarray:  # 'valid' Gaussian moments, in float64: (N, s, s)
        out = ndimage.gaussian_filter(a.astype(np.float64), sigma=(0, 1.5, 1.5), truncate=3.5)
        return out[:, 5:-5, 5:-5]
    x, y = np.broadcast_arrays(x if x.ndim == 3 else x[None], y)  # (N, S, S) each
    mean_x, mean_y = blur(x), blur(y)
    xx, yy, xy = blur(x * x), blur(y * y), blur(x * y)
    spread = (xx - mean_x**2) + (yy - mean_y**2) + 0.03**2
    kappa = (xx + yy + 2 * xy) / spread  # (N, s, s)
    return UNIT_ROUNDOFF * kappa.reshape(len(kappa), -1).mean(axis=1)


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )


def _photos() -> list[np.ndarray]:
    gray = data.camera()
    return [data.astronaut(), data.chelsea(), data.coffee(), np.stack([gray] * 3, axis=-1)]


def _variants(base: np.ndarray, seed: int) -> list[np.ndarray]:
    """Degraded copies of one gray image: noise, blur, brightness, contrast, and the image itself."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(base + rng.normal(0.0, 0.08, base.shape), 0, 1)
    blurred = ndimage.gaussian_filter(base, sigma=2.0)
    brighter = np.clip(base + 0.15, 0, 1)
    flatter = 0.5 + 0.4 * (base - 0.5)
    return [v.astype(np.float32) for v in (noisy, blurred, brighter, flatter, base)]


@pytest.fixture(scope="module", params=[64, 256])
def gray_set(request) -> tuple[np.ndarray, np.ndarray]:
    """(query (S, S), candidates (K, S, S)): one photo against variants of itself and other photos."""
    size = request.param
    grays = [to_gray_square(p, size) for p in _photos()]
    query = grays[0]
    candidates = _variants(query, seed=size) + grays[1:] + _variants(grays[1], seed=size + 1)
    return query, np.stack(candidates)


def test_to_gray_square_shape_range_and_luma():
    photo = data.astronaut()
    gray = to_gray_square(photo, 64)
    assert gray.shape == (64, 64) and gray.dtype == np.float32
    assert 0.0 <= gray.min() and gray.max() <= 1.0
    # A flat colour stays flat, at its BT.601 luma.
    flat = np.zeros((40, 30, 3), dtype=np.uint8)
    flat[...] = (200, 100, 50)
    expected = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    np.testing.assert_allclose(to_gray_square(flat, 16), expected, atol=1e-5)


def test_to_gray_square_rejects_bad_input():
    with pytest.raises(ValueError):
        to_gray_square(np.zeros((10, 10), dtype=np.uint8), 16)
    with pytest.raises(ValueError):
        to_gray_square(np.zeros((10, 10, 3), dtype=np.float32), 16)
    with pytest.raises(ValueError, match="window"):
        to_gray_square(np.zeros((10, 10, 3), dtype=np.uint8), 8)


def test_one_to_many_matches_skimage(gray_set):
    query, candidates = gray_set
    got = ssim_one_to_many(torch.from_numpy(query), torch.from_numpy(candidates))
    assert got.shape == (len(candidates),) and got.dtype == torch.float32
    expected = np.array([reference_ssim(query, c) for c in candidates])
    assert np.abs(got.numpy() - expected).max() < TOL
    # The identical candidate (last of the query's own variants) scores 1 to within float32 rounding;
    # the set spans a wide range.
    assert abs(got[4].item() - 1.0) <= float32_tolerance(query, candidates[4:5])[0]
    assert got.min().item() < 0.5


def test_pairs_matches_skimage(gray_set):
    query, candidates = gray_set
    a = np.roll(candidates, 1, axis=0)  # (K, S, S): pair every candidate with its neighbour
    got = ssim_pairs(torch.from_numpy(a), torch.from_numpy(candidates))
    assert got.shape == (len(candidates),) and got.dtype == torch.float32
    expected = np.array([reference_ssim(x, y) for x, y in zip(a, candidates)])
    assert np.abs(got.numpy() - expected).max() < TOL


def test_pairs_and_one_to_many_agree(gray_set):
    query, candidates = gray_set
    q, c = torch.from_numpy(query), torch.from_numpy(candidates)
    many = ssim_one_to_many(q, c)
    pairs = ssim_pairs(q.expand_as(c), c)  # (S, S) -> (K, S, S), a view
    # Two float32 evaluation orders, each within its bound of the exact value.
    assert (np.abs(many.numpy() - pairs.numpy()) <= 2 * float32_tolerance(query, candidates)).all()


def test_float64_input_stays_float64_and_matches():
    query = to_gray_square(data.astronaut(), 64).astype(np.float64)
    ref = to_gray_square(data.coffee(), 64).astype(np.float64)
    got = ssim_one_to_many(torch.from_numpy(query), torch.from_numpy(ref)[None])
    assert got.dtype == torch.float64
    assert abs(got.item() - reference_ssim(query, ref)) < 1e-10


def test_empty_candidates():
    assert ssim_one_to_many(torch.zeros(32, 32), torch.zeros(0, 32, 32)).shape == (0,)
    assert ssim_pairs(torch.zeros(0, 32, 32), torch.zeros(0, 32, 32)).shape == (0,)


def test_mismatched_sizes_raise():
    with pytest.raises(ValueError, match="differ"):
        ssim_one_to_many(torch.zeros(32, 32), torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="differ"):
        ssim_pairs(torch.zeros(2, 32, 32), torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="square"):
        ssim_pairs(torch.zeros(2, 32, 40), torch.zeros(2, 32, 40))
    with pytest.raises(ValueError, match="dimensions"):
        ssim_one_to_many(torch.zeros(1, 32, 32), torch.zeros(3, 32, 32))


def test_images_smaller_than_window_raise():
    with pytest.raises(ValueError, match="window"):
        ssim_one_to_many(torch.zeros(10, 10), torch.zeros(3, 10, 10))
    with pytest.raises(ValueError, match="window"):
        ssim_pairs(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8))


@pytest.mark.parametrize("size", [11, 63, 100])
def test_odd_sizes_match_skimage(size):
    """Sizes whose valid width (size - 10) has no block divisor, or is a single pixel."""
    a = to_gray_square(data.astronaut(), size)
    refs = np.stack([to_gray_square(data.coffee(), size), _variants(a, seed=size)[0]])
    got = ssim_one_to_many(torch.from_numpy(a), torch.from_numpy(refs)).numpy()
    expected = np.array([reference_ssim(a, r) for r in refs])
    assert np.abs(got - expected).max() < TOL


def test_cached_reference_terms_give_the_same_scores():
    rng = np.random.default_rng(3)
    query = torch.from_numpy(rng.random((64, 64), dtype=np.float32))
    refs = torch.from_numpy(np.clip(query.numpy() * 0.6 + rng.random((5, 64, 64), dtype=np.float32) * 0.4, 0, 1))
    terms = reference_terms(refs)   # (5, 3, 54, 54)
    assert terms.shape == (5, 3, 54, 54)
    difference = (ssim_one_to_many(query, refs, terms) - ssim_one_to_many(query, refs)).abs().numpy()
    assert (difference <= 2 * float32_tolerance(query.numpy(), refs.numpy())).all()
    with pytest.raises(ValueError, match="terms"):
        ssim_one_to_many(query, refs, terms[:3])
    with pytest.raises(ValueError, match="terms"):
        ssim_one_to_many(query, refs, terms[:, :2])


def test_per_reference_sequences_equal_stacked_batches():
    """The stage passes its cached per-reference tensors as lists; chunks are stacked inside."""
    rng = np.random.default_rng(4)
    query = torch.from_numpy(rng.random((48, 48), dtype=np.float32))
    refs = torch.from_numpy(np.clip(query.numpy() * 0.5 + rng.random((9, 48, 48), dtype=np.float32) * 0.5, 0, 1))
    terms = reference_terms(refs)   # (9, 3, 38, 38)
    stacked = ssim_one_to_many(query, refs, terms)
    assert torch.equal(ssim_one_to_many(query, list(refs), list(terms)), stacked)
    assert torch.equal(ssim_one_to_many(query, list(refs)), ssim_one_to_many(query, refs))
    assert ssim_one_to_many(query, []).shape == (0,)
    with pytest.raises(ValueError, match="differ"):
        ssim_one_to_many(query, [refs[0], refs[1, :40, :40]])


def test_batched_path_equals_one_by_one(gray_set):
    """GPUs score whole batches (`_scores_batched`); CPUs one reference at a time. Same numbers."""
    query, candidates = (torch.from_numpy(a) for a in gray_set)
    x = query
    ux, uxx = _blur_valid(torch.stack([x, x * x]))
    query_terms = (ux, ux * ux, uxx - ux * ux)
    terms = reference_terms(candidates)
    batched = _scores_batched(x, query_terms, candidates, terms)
    bound = 2 * float32_tolerance(*gray_set)
    assert (np.abs(batched.numpy() - ssim_one_to_many(query, candidates, terms).numpy()) <= bound).all()
    assert (np.abs(_scores_batched(x, query_terms, list(candidates), None).numpy() - batched.numpy()) <= bound).all()
