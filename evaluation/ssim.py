"""SSIM of Wang et al. (2004) on one channel: Gaussian 11×11 window, σ 1.5, 'valid' region, mean of the map.

This is the computation of the authors' MATLAB `ssim_index.m`, of BasicSR's `calculate_ssim` and of
pyiqa's `ssim`: `filter2(fspecial('gaussian', 11, 1.5), x, 'valid')` for the local means, population
(co)variances from the same window, C1 = (0.01·L)², C2 = (0.03·L)² with L the data range (255 for
8-bit data), the map averaged over the valid region ((H−10)×(W−10) values). pyiqa differs in one
step: it clamps the contrast-structure term at 0 before the product (`relu_cs=True`).

The window is separable (outer product of a normalised 1-D Gaussian), so the 'valid' filtering is
two passes of 11 shifted multiply-adds in float64: exact enough to agree with scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` to 1e-9.
"""
from __future__ import annotations

import numpy as np

WINDOW = 11
SIGMA = 1.5


def gaussian_taps(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """(size,) 1-D Gaussian summing to 1; its outer product is MATLAB's fspecial('gaussian', size, sigma)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def filter_valid(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """(H−k+1, W−k+1) 'valid' correlation of a 2-D float64 array with the separable window taps⊗taps."""
    k = len(taps)
    h, w = image.shape
    rows = sum(taps[i] * image[i:h - k + 1 + i, :] for i in range(k))  # (H−k+1, W)
    return sum(taps[j] * rows[:, j:w - k + 1 + j] for j in range(k))  # (H−k+1, W−k+1)


def ssim_map(x: np.ndarray, y: np.ndarray, data_range: float, relu_cs: bool = False) -> np.ndarray:
    """The SSIM map over the valid region of two equal-shape 2-D arrays (any real dtype)."""
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"SSIM needs two 2-D arrays of one shape, got {x.shape} and {y.shape}")
    if min(x.shape) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}×{WINDOW} pixels (its window), got "
                         f"{x.shape[1]}×{x.shape[0]}")
    x, y = x.astype(np.float64), y.astype(np.float64)
    taps = gaussian_taps()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = filter_valid(x, taps), filter_valid(y, taps)
    var_x = filter_valid(x * x, taps) - mu_x * mu_x
    var_y = filter_valid(y * y, taps) - mu_y * mu_y
    cov = filter_valid(x * y, taps) - mu_x * mu_y
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    if relu_cs:
        cs = np.maximum(cs, 0.0)
    return (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1) * cs


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 255.0, relu_cs: bool = False) -> float:
    """Mean SSIM of two single-channel images (H, W) on the scale of `data_range`."""
    return float(ssim_map(x, y, data_range, relu_cs).mean())
