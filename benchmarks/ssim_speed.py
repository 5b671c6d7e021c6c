"""Speed of the batched torch SSIM re-ranker against skimage pair by pair, and their agreement.

    python -m benchmarks.ssim_speed --pairs 2000 --size 256 [--threads N]

Both score the same `pairs` (query, candidate) pairs of real photographs (random crops of skimage's
sample photos, some degraded, converted with `to_gray_square`):
- torch: `ssim_one_to_many`, one query against K=20 candidates per call with the candidates' terms
  computed once per distinct image (`reference_terms`, included in the time) and passed as lists of
  cached tensors, as the retrieval stage calls it;
- skimage: `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1.0)`, one call per pair.
skimage runs single-threaded; torch uses `--threads` CPU threads (default: its own choice).
It reports pairs/s of each, their ratio and the largest |difference|, measured in this one run on
this machine (CPU), prints a table and writes JSON to `benchmarks/out/ssim_speed.json`.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage import data
from skimage.metrics import structural_similarity

from tasks.retrieval.ssim import reference_terms, ssim_one_to_many, to_gray_square

K = 20  # candidates per query, as the retrieval stage re-ranks them
POOL = 64  # distinct images; pairs draw from this pool so memory stays flat in --pairs
OUT = Path(__file__).parent / "out" / "ssim_speed.json"


def _image_pool(size: int, seed: int = 0) -> np.ndarray:
    """(POOL, size, size) float32 gray images: random crops of real photos, a third degraded."""
    rng = np.random.default_rng(seed)
    camera = data.camera()
    photos = [data.astronaut(), data.chelsea(), data.coffee(), np.stack([camera] * 3, axis=-1)]
    pool = []
    for i in range(POOL):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        gray = to_gray_square(np.ascontiguousarray(photo[top : top + side, left : left + side]), size)
        if i % 3 == 1:  # rain-like degradations: noise or blur
            gray = np.clip(gray + rng.normal(0, 0.06, gray.shape), 0, 1).astype(np.float32)
        elif i % 3 == 2:
            gray = ndimage.gaussian_filter(gray, sigma=1.5)
        pool.append(gray)
    return np.stack(pool)  # (POOL, size, size)


def benchmark_ssim(n_pairs: int, size: int, per_call: int = K) -> dict:
    """Time both implementations on the same n_pairs pairs, `per_call` candidates per query; returns
    the numbers as a dict."""
    pool = _image_pool(size)
    rng = np.random.default_rng(1)
    n_queries = -(-n_pairs // per_call)  # ceil: the last query may have fewer candidates
    queries = rng.integers(0, POOL, n_queries)
    candidates = rng.integers(0, POOL, (n_queries, per_call))  # (Q, per_call) indices into the pool
    sizes = [min(per_call, n_pairs - q * per_call) for q in range(n_queries)]
    pool_t = torch.from_numpy(pool)

    # Warm-up so one-time torch set-up is not billed to the first call.
    ssim_one_to_many(pool_t[0], pool_t[:per_call])

    start = time.perf_counter()
    # As the stage does: each distinct reference's terms once (timed here), reused by every query.
    pool_terms = list(reference_terms(pool_t))  # POOL x (3, s, s), one tensor per image like the stage's cache
    pool_grays = list(pool_t)  # POOL x (S, S)
    torch_scores = []
    for qi, (q, k) in enumerate(zip(queries, sizes)):
        picked = candidates[qi][:k]
        refs, terms = [pool_grays[i] for i in picked], [pool_terms[i] for i in picked]  # as the stage passes them
        torch_scores.append(ssim_one_to_many(pool_t[q], refs, terms))  # (k,)
    torch_s = time.perf_counter() - start
    torch_flat = torch.cat(torch_scores).numpy().astype(np.float64)  # (n_pairs,)

    start = time.perf_counter()
    sk_flat = np.empty(n_pairs)
    i = 0
    for qi, (q, k) in enumerate(zip(queries, sizes)):
        for c in candidates[qi][:k]:
            sk_flat[i] = structural_similarity(
                pool[q], pool[c], gaussian_weights=True, sigma=1.5,
                use_sample_covariance=False, data_range=1.0,
            )
            i += 1
    sk_s = time.perf_counter() - start

    torch_rate, sk_rate = n_pairs / torch_s, n_pairs / sk_s
    return {
        "pairs": n_pairs,
        "size": size,
        "candidates_per_call": per_call,
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "torch_seconds": torch_s,
        "skimage_seconds": sk_s,
        "torch_pairs_per_s": torch_rate,
        "skimage_pairs_per_s": sk_rate,
        "speed_ratio": torch_rate / sk_rate,
        "max_abs_diff": float(np.abs(torch_flat - sk_flat).max()),
        "score_range": [float(sk_flat.min()), float(sk_flat.max())],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        # On a shared, busy machine OpenMP threads that outnumber free cores slow torch down a lot.
        torch.set_num_threads(args.threads)
    result = benchmark_ssim(args.pairs, args.size)
    print(f"SSIM, {result['pairs']} pairs at {result['size']}x{result['size']}, "
          f"torch {result['torch_threads']} threads, K={result['candidates_per_call']} per call")
    print(f"{'implementation':<28}{'seconds':>10}{'pairs/s':>12}")
    print(f"{'torch ssim_one_to_many':<28}{result['torch_seconds']:>10.2f}{result['torch_pairs_per_s']:>12.0f}")
    print(f"{'skimage pair by pair':<28}{result['skimage_seconds']:>10.2f}{result['skimage_pairs_per_s']:>12.0f}")
    print(f"speed ratio {result['speed_ratio']:.1f}x   max |diff| {result['max_abs_diff']:.2e}   "
          f"scores in [{result['score_range'][0]:.3f}, {result['score_range'][1]:.3f}]")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
