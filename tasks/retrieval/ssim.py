"""Structural re-ranker: mean SSIM of a query against its candidate references, batched in torch.

The retrieval stage's last step orders each query's K candidates (already narrowed by text L2 and
CLIP cosine) by SSIM. Done pair by pair with skimage that is the slowest step of the stage, so this
module computes the same number for one query against all K candidates in a single torch call, on
whatever device the inputs live on.

It reproduces `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1.0)` (skimage 0.26) to well under 1e-4:
- window: Gaussian, sigma 1.5, truncate 3.5 -> radius int(3.5 * 1.5 + 0.5) = 5 -> 11 taps,
  normalised to sum 1 (as scipy.ndimage.gaussian_filter1d builds it);
- C1 = (0.01 * 1)^2, C2 = (0.03 * 1)^2, population (co)variances;
- skimage filters with mode='reflect' and then crops (win_size - 1) // 2 = 5 pixels from every side
  before averaging. The cropped pixels are exactly those whose window touches the reflected border,
  so a 'valid' (unpadded) convolution gives the same map without computing the border at all.

Images are single-channel float in [0, 1]; `to_gray_square` makes them from decoded RGB uint8.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

SIGMA = 1.5
TRUNCATE = 3.5  # skimage's structural_similarity uses this with gaussian_weights=True
RADIUS = int(TRUNCATE * SIGMA + 0.5)  # 5, as scipy.ndimage rounds it
WIN_SIZE = 2 * RADIUS + 1  # 11
C1 = 0.01**2  # (K1 * data_range)^2 with data_range = 1
C2 = 0.03**2  # (K2 * data_range)^2

# BT.601 luma weights (what PIL's "L" conversion uses too), applied in float to avoid rounding to uint8.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_gray_square(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (size, size) luma in [0, 1], for SSIM.

    Luma is ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B), kept in float. The resize is PIL's bilinear
    filter on the float ("F" mode) image, which is antialiased when shrinking (its support widens with
    the scale factor), so downsized photos do not alias. Aspect ratio is not kept: every image maps to
    the same square so that a query and its references compare pixel for pixel. The retrieval stage
    calls this once per reference and shard, then reuses the arrays for every query.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if size < WIN_SIZE:
        raise ValueError(f"size {size} is smaller than the {WIN_SIZE}x{WIN_SIZE} SSIM window")
    luma = image.astype(np.float32) @ _LUMA  # (H, W, 3) @ (3,) -> (H, W), in [0, 255]
    resized = Image.fromarray(luma, mode="F").resize((size, size), Image.Resampling.BILINEAR)
    out = np.asarray(resized, dtype=np.float32) / np.float32(255.0)
    # Bilinear weights are non-negative and sum to 1, so only float rounding can leave [0, 1].
    return np.clip(out, 0.0, 1.0)


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 11 normalised 1-D taps, built in float64 as scipy does and cast afterwards."""
    x = torch.arange(-RADIUS, RADIUS + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (x / SIGMA) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def _block(out: int) -> int:
    """Output columns per block of the 1-D pass: a divisor of `out` near 32, else `out` itself.

    Each block of b outputs reads b + 10 inputs, so small blocks waste little arithmetic (a full-width
    banded matrix would do ~S/11 times the work of a direct convolution); divisors avoid padding.
    """
    divisors = [b for b in range(16, 65) if out % b == 0]
    return min(divisors, key=lambda b: abs(b - 32)) if divisors else out


@functools.lru_cache(maxsize=32)
def _toeplitz(block: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(block + 10, block) matrix whose column j holds the 11 taps at rows j..j+10."""
    taps = _gaussian_taps(torch.float64, torch.device("cpu"))
    band = torch.zeros(block + 2 * RADIUS, block, dtype=torch.float64)
    cols = torch.arange(block)
    for i in range(WIN_SIZE):  # tap i sits on the i-th diagonal below the main one
        band[cols + i, cols] = taps[i]
    return band.to(dtype=dtype, device=device)


def _blur_last_axis(maps: torch.Tensor) -> torch.Tensor:
    """'Valid' 1-D Gaussian along the last axis as one GEMM: (M, R, W) -> (M, R, W - 10).

    On CPU this runs several times faster than F.conv2d with a single-channel 1x11 kernel (which
    oneDNN handles poorly) or eleven shifted adds; on GPU it is one GEMM either way.
    """
    m, rows, width = maps.shape
    out = width - 2 * RADIUS
    block = _block(out)
    windows = maps.unfold(-1, block + 2 * RADIUS, block)  # (M, R, nb, block + 10): overlapping view
    flat = windows.reshape(-1, block + 2 * RADIUS)  # the one copy: (M*R*nb, block + 10)
    blurred = flat @ _toeplitz(block, maps.dtype, maps.device)  # (M*R*nb, block)
    return blurred.view(m, rows, out)  # (M, R, nb*block = W - 10)


def _blur_valid(maps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian, 'valid' region only: (M, S, S) -> (M, S - 10, S - 10).

    The second pass blurs the transposed image (its window copy does the transposition) and the
    result is handed back as a transposed view; callers only do elementwise work and reductions
    over whole images on it, for which the layout does not matter.
    """
    rows_done = _blur_last_axis(maps)  # (M, S, s)
    return _blur_last_axis(rows_done.transpose(1, 2)).transpose(1, 2)  # (M, s, S) -> (M, s, s) -> view


def _check(name: str, t: torch.Tensor, ndim: int) -> None:
    if t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} images must be square, got {tuple(t.shape[-2:])}")
    if t.shape[-1] < WIN_SIZE:
        raise ValueError(
            f"{name} images are {t.shape[-1]}x{t.shape[-1]}, smaller than the "
            f"{WIN_SIZE}x{WIN_SIZE} SSIM window"
        )


def _as_float(t: torch.Tensor) -> torch.Tensor:
    # Keep float64 if the caller asked for it; everything else computes in float32, which already
    # matches skimage (itself float32 on float32 input) far inside 1e-4 and is the fast path.
    return t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float32)


def _ssim_from_moments(
    ux: torch.Tensor, uy: torch.Tensor, uxx: torch.Tensor, uyy: torch.Tensor, uxy: torch.Tensor
) -> torch.Tensor:
    """Mean SSIM per image from blurred moments, all broadcastable to (N, s, s) -> (N,)."""
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    num = (2 * ux * uy + C1) * (2 * vxy + C2)
    den = (ux * ux + uy * uy + C1) * (vx + vy + C2)
    s_map = num / den  # (N, s, s), already the cropped region
    # skimage averages in float64; per-image sums of up to 246^2 float32 terms would drift otherwise.
    return s_map.flatten(1).sum(dim=1, dtype=torch.float64).div_(s_map[0].numel()).to(s_map.dtype)


def _chunk(n: int, side: int, device: torch.device) -> int:
    """Images per step. On CPU the work is memory-bound: ~12 elementwise passes over the moment maps
    cost more than the GEMMs unless a step's maps stay in cache (about 1 MiB of float32 per image
    triple at 256^2), so steps are kept small. On GPU the whole batch goes at once."""
    if device.type != "cpu":
        return max(n, 1)
    return max(1, min(n, (4 * 256 * 256) // (side * side)))


def reference_moments(refs: torch.Tensor) -> torch.Tensor:
    """(K, S, S) references -> (K, 2, s, s): each one's blurred mean and mean square.

    They do not depend on the query: the retrieval stage computes them once per reference and shard
    and passes them to `ssim_one_to_many`, which then blurs a single map (query × reference) per pair.
    """
    _check("refs", refs, 3)
    out = []
    for y in refs.split(_chunk(refs.shape[0], refs.shape[-1], refs.device)):
        y = _as_float(y)  # (c, S, S)
        uy, uyy = _blur_valid(torch.cat([y, y * y])).split(y.shape[0])  # 2 x (c, s, s)
        out.append(torch.stack([uy, uyy], dim=1))  # (c, 2, s, s)
    return torch.cat(out) if out else refs.new_empty((0, 2, refs.shape[-1] - 2 * RADIUS, refs.shape[-1] - 2 * RADIUS))


def ssim_one_to_many(query: torch.Tensor, refs: torch.Tensor, moments: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM of one query (S, S) against each of K references (K, S, S) -> (K,).

    The query's own moments (mean and mean square) are blurred once and broadcast over the K
    references, so a call costs 3 blurred maps per reference instead of 5 — or 1 when the
    references' `moments` (from `reference_moments`) are given.
    """
    _check("query", query, 2)
    _check("refs", refs, 3)
    if query.shape != refs.shape[1:]:
        raise ValueError(f"query {tuple(query.shape)} and refs {tuple(refs.shape[1:])} differ in size")
    if moments is not None and moments.shape[0] != refs.shape[0]:
        raise ValueError(f"{moments.shape[0]} reference moments for {refs.shape[0]} references")
    dtype = torch.promote_types(_as_float(query).dtype, _as_float(refs).dtype)
    if refs.shape[0] == 0:
        return torch.empty(0, dtype=dtype, device=refs.device)
    x = query.to(dtype=dtype, device=refs.device)
    q_moments = _blur_valid(torch.stack([x, x * x]))  # (2, S, S) -> (2, s, s)
    ux, uxx = q_moments[0:1], q_moments[1:2]  # (1, s, s) each, broadcast against the references
    step = _chunk(refs.shape[0], x.shape[-1], refs.device)
    scores = []
    for start in range(0, refs.shape[0], step):
        y = refs[start:start + step].to(dtype)  # (c, S, S)
        if moments is None:
            uy, uyy, uxy = _blur_valid(torch.cat([y, y * y, x * y])).split(y.shape[0])  # 3 x (c, s, s)
        else:
            uy, uyy = moments[start:start + step].to(dtype).unbind(1)  # 2 x (c, s, s)
            uxy = _blur_valid(x * y)  # (c, s, s)
        scores.append(_ssim_from_moments(ux, uy, uxx, uyy, uxy))
    return torch.cat(scores)  # (K,)


def ssim_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each pair (a[i], b[i]): (N, S, S) and (N, S, S) -> (N,)."""
    _check("a", a, 3)
    _check("b", b, 3)
    if a.shape != b.shape:
        raise ValueError(f"a {tuple(a.shape)} and b {tuple(b.shape)} differ in shape")
    dtype = torch.promote_types(_as_float(a).dtype, _as_float(b).dtype)
    if a.shape[0] == 0:
        return torch.empty(0, dtype=dtype, device=a.device)
    step = _chunk(a.shape[0], a.shape[-1], a.device)
    scores = []
    for x, y in zip(a.split(step), b.split(step)):
        x, y = x.to(dtype), y.to(dtype=dtype, device=a.device)  # (c, S, S) each
        c = x.shape[0]
        moments = _blur_valid(torch.cat([x, y, x * x, y * y, x * y]))  # (5c, S, S) -> (5c, s, s)
        ux, uy, uxx, uyy, uxy = moments.split(c)  # 5 x (c, s, s)
        scores.append(_ssim_from_moments(ux, uy, uxx, uyy, uxy))
    return torch.cat(scores)  # (N,)
