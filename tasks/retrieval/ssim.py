"""Structural re-ranker: mean SSIM of a query against its candidate references, batched in torch.

The retrieval stage's last step orders each query's K candidates (already narrowed by text L2 and
CLIP cosine) by SSIM. Done pair by pair with skimage that is the slowest step of the stage, so this
module computes the same number for one query against all K candidates in a single torch call, on
whatever device the inputs live on: on GPU broadcast over the K candidates at once, on CPU one
candidate at a time inside the call so that every map stays in cache (`_scores_one_by_one`).

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
from typing import Sequence

import numpy as np
import torch
from PIL import Image

SIGMA = 1.5
TRUNCATE = 3.5  # skimage's structural_similarity uses this with gaussian_weights=True
RADIUS = int(TRUNCATE * SIGMA + 0.5)  # 5, as scipy.ndimage rounds it
WIN_SIZE = 2 * RADIUS + 1  # 11
C1 = 0.01**2  # (K1 * data_range)^2 with data_range = 1
C2 = 0.03**2  # (K2 * data_range)^2
# As 0-d tensors they broadcast into fused ops on any device and never promote float32 maps.
_C1 = torch.tensor(C1, dtype=torch.float64)
_HALF_C1_C2 = torch.tensor((C1 + C2) / 2, dtype=torch.float64)

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


def _column_windows(maps: torch.Tensor) -> torch.Tensor:
    """(..., R, W) -> (..., R, nb, block + 10): overlapping windows along the last axis, a view."""
    block = _block(maps.shape[-1] - 2 * RADIUS)
    return maps.unfold(-1, block + 2 * RADIUS, block)


def _blur_windows(windows: torch.Tensor) -> torch.Tensor:
    """'Valid' 1-D Gaussian along rows as one GEMM: windows (M, R, nb, block + 10) -> (M, R, W - 10).

    On CPU this runs several times faster than F.conv2d with a single-channel 1x11 kernel (which
    oneDNN handles poorly) or eleven shifted adds; on GPU it is one GEMM either way.
    """
    m, rows, nb, width = windows.shape
    flat = windows.reshape(-1, width)  # (M*R*nb, block + 10): a copy unless already contiguous
    blurred = flat @ _toeplitz(width - 2 * RADIUS, windows.dtype, windows.device)  # (M*R*nb, block)
    return blurred.view(m, rows, -1)  # (M, R, nb*block = W - 10)


def _row_windows(maps: torch.Tensor) -> torch.Tensor:
    """(M, S, s) -> (M*nb, block + 10, s): windows of consecutive rows, batched for the second pass.

    A view when M == 1 (each window is a row-major block of the map), a copy otherwise.
    """
    block = _block(maps.shape[1] - 2 * RADIUS)
    windows = maps.unfold(1, block + 2 * RADIUS, block)  # (M, nb, s, block + 10)
    return windows.transpose(-1, -2).reshape(-1, block + 2 * RADIUS, maps.shape[-1])


def _blur_rows(maps: torch.Tensor) -> torch.Tensor:
    """'Valid' 1-D Gaussian down the columns: (M, S, s) -> (M, s, s), one batched GEMM."""
    windows = _row_windows(maps)  # (M*nb, block + 10, s)
    taps = _toeplitz(windows.shape[1] - 2 * RADIUS, maps.dtype, maps.device).t()  # (block, block + 10)
    return (taps @ windows).view(maps.shape[0], -1, maps.shape[-1])  # (M*nb, block, s) -> (M, s, s)


def _blur_valid(maps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian, 'valid' region only: (M, S, S) -> (M, s, s) with s = S - 10."""
    return _blur_rows(_blur_windows(_column_windows(maps)))


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


def _float_dtype(t: torch.Tensor) -> torch.dtype:
    # Keep float64 if the caller asked for it; everything else computes in float32, which already
    # matches skimage (itself float32 on float32 input) far inside 1e-4 and is the fast path.
    return t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32


def _side_terms(mean: torch.Tensor, mean_sq: torch.Tensor, c_mean: float, c_var: float):
    """(mu, mu^2 + c_mean, sigma^2 + c_var) of one side from its blurred mean and mean square."""
    mean_2 = mean * mean
    return mean, mean_2.add(c_mean), mean_sq.sub(mean_2).add_(c_var)


def _mean_ssim(ux: torch.Tensor, ux2: torch.Tensor, vx: torch.Tensor, uy: torch.Tensor, uy2_c1: torch.Tensor,
               vy_c2: torch.Tensor, uxy_c: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image from the query terms (ux, ux^2, vx), the reference terms (uy, uy^2 + C1,
    vy + C2) and uxy_c = blur(x*y) + (C1 + C2)/2, all broadcastable to (N, s, s) -> (N,).

    SSIM = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2)). The map is computed as
    half of it, in eight passes over memory with the constants folded into terms made earlier
    (uxy_c arrives with (C1 + C2)/2 already added), and the factor 2 is applied to the mean.
    `uxy_c` is overwritten.
    """
    a1 = torch.addcmul(_C1, ux, uy, value=2.0)           # 2 ux uy + C1
    half_a2 = uxy_c.sub_(a1, alpha=0.5)                   # uxy - ux uy + C2/2 = (2 vxy + C2) / 2
    half_map = a1.mul_(half_a2).div_(torch.add(uy2_c1, ux2).mul_(torch.add(vy_c2, vx)))  # (N, s, s)
    # skimage averages in float64; per-image sums of up to 246^2 float32 terms would drift otherwise.
    total = half_map.flatten(1).sum(dim=1, dtype=torch.float64)  # (N,)
    return total.mul_(2.0 / half_map[0].numel()).to(half_map.dtype)


def _chunk(n: int, side: int, device: torch.device) -> int:
    """Images per step. On CPU the work is memory-bound: the elementwise passes over the term maps
    cost more than the GEMMs unless a step's maps stay in cache (about 1 MiB of float32 per image
    at 256^2, four maps per reference), so steps are kept small. On GPU the whole batch goes at once."""
    if device.type != "cpu":
        return max(n, 1)
    return max(1, min(n, (4 * 256 * 256) // (side * side)))


def reference_terms(refs: torch.Tensor) -> torch.Tensor:
    """(K, S, S) references -> (K, 3, s, s): each one's uy, uy^2 + C1 and vy + C2 maps.

    They do not depend on the query: the retrieval stage computes them once per reference and shard
    and passes them to `ssim_one_to_many`, which then blurs a single map (query × reference) per pair.
    """
    _check("refs", refs, 3)
    side = refs.shape[-1] - 2 * RADIUS
    out = []
    for y in refs.split(_chunk(refs.shape[0], refs.shape[-1], refs.device)):
        y = y.to(_float_dtype(y))  # (c, S, S)
        uy, uyy = _blur_valid(torch.cat([y, y * y])).split(y.shape[0])  # 2 x (c, s, s)
        out.append(torch.stack(_side_terms(uy, uyy, C1, C2), dim=1))  # (c, 3, s, s)
    return torch.cat(out) if out else refs.new_empty((0, 3, side, side))


# A batch of same-shaped images or term maps: one stacked tensor, or the per-reference tensors a
# cache holds (read one at a time on CPU, stacked a chunk at a time on GPU).
Batch = torch.Tensor | Sequence[torch.Tensor]


def _take(batch: Batch, start: int, stop: int) -> torch.Tensor:
    return batch[start:stop] if isinstance(batch, torch.Tensor) else torch.stack(list(batch[start:stop]))


def _check_batch(name: str, batch: Batch, item_shape: tuple[int, ...]) -> None:
    shapes = {tuple(batch.shape[1:])} if isinstance(batch, torch.Tensor) else {tuple(t.shape) for t in batch}
    if shapes - {item_shape}:
        raise ValueError(f"{name} differ in size from the query: shapes {sorted(shapes)}, expected {item_shape}")


def ssim_one_to_many(query: torch.Tensor, refs: Batch, terms: Batch | None = None) -> torch.Tensor:
    """Mean SSIM of one query (S, S) against each of K references (K, S, S) -> (K,).

    The query's own terms are blurred once and shared by the K references, so a call blurs
    3 maps per reference — or 1 (x * y) when the references' `terms` (from `reference_terms`, (K, 3, s, s))
    are given. `refs` and `terms` may also be sequences of per-reference tensors, as a cache holds them.
    """
    _check("query", query, 2)
    _check_batch("refs", refs, tuple(query.shape))
    if terms is not None:
        side = query.shape[-1] - 2 * RADIUS
        if len(terms) != len(refs):
            raise ValueError(f"{len(terms)} reference terms for {len(refs)} references")
        _check_batch("reference terms", terms, (3, side, side))
    first = refs if isinstance(refs, torch.Tensor) else (refs[0] if len(refs) else query)
    device, dtype = first.device, torch.promote_types(_float_dtype(query), _float_dtype(first))
    if len(refs) == 0:
        return torch.empty(0, dtype=dtype, device=device)
    x = query.to(dtype=dtype, device=device)
    ux, uxx = _blur_valid(torch.stack([x, x * x]))  # (2, S, S) -> 2 x (s, s)
    query_terms = _side_terms(ux, uxx, 0.0, 0.0)  # ux, ux^2, vx: (s, s) each
    scores = _scores_one_by_one if device.type == "cpu" else _scores_batched
    return scores(x, query_terms, refs, terms)


def _scores_batched(x: torch.Tensor, query_terms: tuple, refs: Batch, terms: Batch | None) -> torch.Tensor:
    """(K,) scores with the query terms broadcast over whole chunks of references (GPU: one chunk)."""
    step = _chunk(len(refs), x.shape[-1], x.device)
    scores = []
    for start in range(0, len(refs), step):
        y = _take(refs, start, start + step).to(x.dtype)  # (c, S, S)
        chunk_terms = (reference_terms(y) if terms is None  # (c, 3, s, s)
                       else _take(terms, start, start + step).to(x.dtype))
        uxy_c = _blur_valid(torch.addcmul(_HALF_C1_C2, x, y))  # blur(x*y) + (C1 + C2)/2: (c, s, s)
        scores.append(_mean_ssim(*query_terms, *chunk_terms.unbind(1), uxy_c))
    return torch.cat(scores)  # (K,)


def _scores_one_by_one(x: torch.Tensor, query_terms: tuple, refs: Batch, terms: Batch | None) -> torch.Tensor:
    """(K,) scores, one reference at a time: the CPU path, 1.4-1.7x the batched one there.

    On CPU the re-ranker is bound by memory traffic, not arithmetic. One reference at a time, every
    map a pair touches (about 1 MiB at 256^2) stays in L2 cache from one pass to the next, and the
    passes are fused where torch allows: x*y is written straight into the windows the first GEMM
    reads; the second GEMM reads its windows as views of the first one's output and subtracts a1/2
    on the way (baddbmm); the numerator's product and the sum are one dot. Buffers are reused.
    """
    ux, ux2, vx = query_terms  # (s, s) each
    x_windows = _column_windows(x)  # (S, nb, block + 10), a view
    size, nb, width = x_windows.shape
    block, side = width - 2 * RADIUS, ux.shape[-1]
    col_taps = _toeplitz(block, x.dtype, x.device)  # (block + 10, block)
    row_taps = col_taps.t().expand(nb, block, width)  # (nb, block, block + 10)
    products = x.new_empty((size * nb, width))  # x*y in windows, one row per window
    rows_done = x.new_empty((size * nb, block))  # = (S, s) after the first pass
    a1, half_a2 = x.new_empty((side, side)), x.new_empty((nb, block, side))
    den, var_sum = x.new_empty((side, side)), x.new_empty((side, side))
    scores = torch.empty(len(refs), dtype=x.dtype)
    for i in range(len(refs)):
        y = refs[i].to(x.dtype)  # (S, S)
        uy, uy2_c1, vy_c2 = reference_terms(y[None])[0] if terms is None else terms[i].to(x.dtype)  # (s, s) each
        # blur(x*y + (C1 + C2)/2) = blur(x*y) + (C1 + C2)/2: the taps sum to 1
        torch.addcmul(_HALF_C1_C2, x_windows, _column_windows(y), out=products.view(size, nb, width))
        torch.mm(products, col_taps, out=rows_done)  # (S*nb, block) = (S, s)
        torch.addcmul(_C1, ux, uy, value=2.0, out=a1)  # 2 ux uy + C1
        # uxy + (C1 + C2)/2 - a1/2 = (2 vxy + C2) / 2: (nb, block, s) = (s, s)
        torch.baddbmm(a1.view(nb, block, side), row_taps, _row_windows(rows_done.view(1, size, side)),
                      beta=-0.5, out=half_a2)
        torch.add(uy2_c1, ux2, out=den).mul_(torch.add(vy_c2, vx, out=var_sum))  # (ux^2 + uy^2 + C1)(vx + vy + C2)
        scores[i] = torch.dot(a1.view(-1), half_a2.view(-1).div_(den.view(-1)))  # sum of the half map
    return scores.mul_(2.0 / ux.numel())  # (K,)


def ssim_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each pair (a[i], b[i]): (N, S, S) and (N, S, S) -> (N,)."""
    _check("a", a, 3)
    _check("b", b, 3)
    if a.shape != b.shape:
        raise ValueError(f"a {tuple(a.shape)} and b {tuple(b.shape)} differ in shape")
    dtype = torch.promote_types(_float_dtype(a), _float_dtype(b))
    if a.shape[0] == 0:
        return torch.empty(0, dtype=dtype, device=a.device)
    step = _chunk(a.shape[0], a.shape[-1], a.device)
    scores = []
    for x, y in zip(a.split(step), b.split(step)):
        x, y = x.to(dtype), y.to(dtype=dtype, device=a.device)  # (c, S, S) each
        maps = _blur_valid(torch.cat([x, x * x, y, y * y, torch.addcmul(_HALF_C1_C2, x, y)]))  # (5c, s, s)
        ux, uxx, uy, uyy, uxy_c = maps.split(x.shape[0])  # 5 x (c, s, s)
        scores.append(_mean_ssim(*_side_terms(ux, uxx, 0.0, 0.0), *_side_terms(uy, uyy, C1, C2), uxy_c))
    return torch.cat(scores)  # (N,)
