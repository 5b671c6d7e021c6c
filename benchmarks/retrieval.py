"""Speed and recall of the retrieval cascade on a synthetic clustered pool, and of its SSIM level.

    python -m benchmarks.retrieval [--refs 1000000] [--queries 10000] [--k1 100 --k2 20]
                                   [--exact-queries N] [--nprobes 16,32,48,64]
                                   [--ssim-pairs 1000 --ssim-size 256] [--json OUT]

Data: N references with 384-d text and 768-d image vectors drawn from a mixture of Gaussian clusters
(log-normal cluster sizes, each cluster stretched along its own scaled directions of a shared
low-rank basis, plus isotropic noise, normalised onto the unit sphere) — real sentence/CLIP embeddings
are clumped by topic, and uniform random vectors would make IVF look worse (no structure) or the
exact scan look better than it is. Queries are noisy copies of random references. Everything is
seeded, and generated in chunks so only the final arrays are held.

Measured in one run: IVF build time and peak RSS; exact IndexFlatL2 search vs the IVF text level at
several nprobe (time ratio, recall of the exact top-K1); the cascade (IVF text → cosine over K1) vs a
numpy brute force of the same two levels (exact L2 by chunked matrix products, then cosine top-K2):
time ratio and agreement of the final top-K2 sets; the SSIM level (`ssim_one_to_many`, K2 candidates
per call, as the stage calls it) vs skimage pair by pair on real photographs (benchmarks/ssim_speed.py):
time ratio and largest |difference|. Results: stdout + JSON (default benchmarks/out/retrieval.json).
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from benchmarks.ssim_speed import benchmark_ssim
from tasks.retrieval.cascade import text_level, visual_level
from tasks.retrieval.index import IndexConfig, build_index

CHUNK = 100_000


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # ru_maxrss is KiB on Linux


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(assign: np.ndarray, dim: int, clusters: int, seed: int, rank: int = 32,
              spread: float = 0.6, iso: float = 0.4) -> np.ndarray:
    """(N,) cluster ids -> (N, dim) float32 unit vectors; cluster geometry is fixed by `seed`."""
    rng = np.random.default_rng(seed)
    # two-level topics: cluster centres scatter around one of C/20 topic centres, so a query's nearest
    # references beyond its own cluster sit in sibling clusters (as in real embeddings), not anywhere
    topics = _unit(rng.standard_normal((max(clusters // 20, 1), dim), dtype=np.float32))  # (T, dim)
    offsets = _unit(rng.standard_normal((clusters, dim), dtype=np.float32))              # (C, dim)
    centres = _unit(topics[np.arange(clusters) % len(topics)] + 0.9 * offsets)          # (C, dim)
    basis = _unit(rng.standard_normal((rank, dim), dtype=np.float32))                   # (rank, dim)
    # per-cluster scales over the shared directions: decaying spectrum × random per-cluster stretch,
    # so each cluster is an ellipsoid with its own shape (anisotropic), total norm ≈ spread
    decay = 1.0 / np.sqrt(np.arange(1, rank + 1, dtype=np.float32))
    scales = decay * np.exp(rng.normal(0, 0.5, (clusters, rank))).astype(np.float32)    # (C, rank)
    scales *= spread / np.sqrt((scales ** 2).sum(axis=1, keepdims=True))
    out = np.empty((len(assign), dim), dtype=np.float32)
    for start in range(0, len(assign), CHUNK):
        a = assign[start:start + CHUNK]
        crng = np.random.default_rng([seed, start])      # per-chunk stream: chunking never changes data
        z = crng.standard_normal((len(a), rank), dtype=np.float32) * scales[a]          # (B, rank)
        x = centres[a] + z @ basis                                                        # (B, dim)
        x += crng.standard_normal(x.shape, dtype=np.float32) * (iso / np.sqrt(dim))
        out[start:start + len(a)] = _unit(x)
    return out


def near(refs: np.ndarray, pick: np.ndarray, seed: int, noise: float = 0.3) -> np.ndarray:
    """Queries: the picked references plus isotropic noise of total norm ≈ noise, re-normalised."""
    rng = np.random.default_rng(seed)
    x = refs[pick] + rng.standard_normal((len(pick), refs.shape[1]), dtype=np.float32) * (noise / np.sqrt(refs.shape[1]))
    return _unit(x).astype(np.float32)


def exact_l2_topk(queries: np.ndarray, refs: np.ndarray, k: int, qchunk: int = 2048,
                  rchunk: int = 250_000) -> np.ndarray:
    """Brute-force L2 top-k indices (Q, k) by chunked matrix products: ||r||² − 2 q·r (||q||² is constant
    per row and does not change the order). Each (qchunk, rchunk) block keeps its k best, merged at the end."""
    r_sq = np.einsum("nd,nd->n", refs, refs)                                             # (N,)
    out = np.empty((len(queries), k), dtype=np.int64)
    for qs in range(0, len(queries), qchunk):
        q = queries[qs:qs + qchunk]
        best_d, best_i = [], []
        for rs in range(0, len(refs), rchunk):
            d = r_sq[rs:rs + rchunk] - 2.0 * (q @ refs[rs:rs + rchunk].T)                # (B, R)
            part = np.argpartition(d, k - 1, axis=1)[:, :k]                              # (B, k)
            best_d.append(np.take_along_axis(d, part, axis=1))
            best_i.append(part + rs)
        d, i = np.hstack(best_d), np.hstack(best_i)                                      # (B, k·chunks)
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        out[qs:qs + qchunk] = np.take_along_axis(i, order, axis=1)
    return out


def brute_cosine_topk(q_img: np.ndarray, r_img: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """Cosine top-k over each query's candidates, ordered by (−score, index); a plain loop per chunk."""
    out = np.empty((len(cand), k), dtype=np.int64)
    for s in range(0, len(cand), 1024):
        c = cand[s:s + 1024]
        score = np.einsum("bke,be->bk", _unit(r_img[c.ravel()]).reshape(*c.shape, -1), _unit(q_img[s:s + 1024]))
        order = np.lexsort((c, -score), axis=1)[:, :k]
        out[s:s + 1024] = np.take_along_axis(c, order, axis=1)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (row-wise set overlap)."""
    hits = sum(len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found, truth))
    return hits / truth.size


def run(refs: int, queries: int, k1: int, k2: int, exact_queries: int, nprobes: list[int],
        clusters: int, seed: int, ssim_pairs: int, ssim_size: int) -> dict:
    res: dict = {"refs": refs, "queries": queries, "k1": k1, "k2": k2, "clusters": clusters,
                 "threads": faiss.omp_get_max_threads(), "faiss": faiss.__version__}
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    weights = np.exp(rng.normal(0, 1, clusters))          # log-normal cluster sizes: a few big topics
    assign = rng.choice(clusters, size=refs, p=weights / weights.sum())
    text = clustered(assign, 384, clusters, seed + 1)                                     # (N, 384)
    image = clustered(assign, 768, clusters, seed + 2)                                    # (N, 768)
    pick = rng.choice(refs, size=queries, replace=False)
    q_text, q_img = near(text, pick, seed + 3), near(image, pick, seed + 4)
    res["generate_s"], res["rss_after_data_gb"] = time.perf_counter() - t, peak_rss_gb()

    # the text level under test is the IVF index, also for pools small enough to be scanned exactly
    config = IndexConfig(use_gpu="never", exact_max=0)
    t = time.perf_counter()
    ivf = build_index(text, config)
    res.update(index_kind=ivf.kind, build_s=time.perf_counter() - t, rss_after_build_gb=peak_rss_gb(),
               config=asdict(config))

    # exact baseline on a subset when asked: its cost is linear in queries, so the ratio holds
    sub = slice(0, exact_queries)
    flat = faiss.IndexFlatL2(text.shape[1])
    flat.add(text)
    t = time.perf_counter()
    _, exact_idx = flat.search(q_text[sub], k1)
    res["exact_queries"] = len(exact_idx)
    res["exact_s"] = time.perf_counter() - t
    res["exact_s_per_query"] = res["exact_s"] / len(exact_idx)
    del flat

    sweep = []
    for nprobe in nprobes:
        faiss.extract_index_ivf(ivf.index).nprobe = nprobe
        t = time.perf_counter()
        _, idx = ivf.index.search(q_text, k1)
        secs = time.perf_counter() - t
        sweep.append({"nprobe": nprobe, "ivf_s": secs, "ivf_s_per_query": secs / queries,
                      "speedup": res["exact_s_per_query"] / (secs / queries),
                      "recall_at_k1": recall(idx[sub], exact_idx)})
    res["sweep"] = sweep
    faiss.extract_index_ivf(ivf.index).nprobe = ivf.nprobe          # back to the configured default

    t = time.perf_counter()
    _, cand = text_level(ivf, q_text, k1)
    _, top = visual_level(q_img, image, cand, k2)
    res["cascade_s"] = time.perf_counter() - t

    t = time.perf_counter()
    b_cand = exact_l2_topk(q_text[sub], text, k1)
    b_top = brute_cosine_topk(q_img[sub], image, b_cand, k2)
    res["brute_s"] = time.perf_counter() - t
    res["brute_queries"] = len(b_top)
    res["cascade_speedup"] = (res["brute_s"] / len(b_top)) / (res["cascade_s"] / queries)
    res["topk2_agreement"] = recall(top[sub], b_top)
    res["brute_vs_faiss_exact_k1"] = recall(b_cand, exact_idx)     # sanity: two exact methods agree
    res["true_source_in_top_k2"] = float(np.mean([p in row for p, row in zip(pick, top)]))
    res["peak_rss_gb"] = peak_rss_gb()
    if ssim_pairs:
        res["ssim"] = benchmark_ssim(ssim_pairs, ssim_size, k2)
    return res


def report(res: dict) -> str:
    lines = [f"refs {res['refs']:,}  queries {res['queries']:,}  K1 {res['k1']}  K2 {res['k2']}  "
             f"index {res['index_kind']}  threads {res['threads']}",
             f"data {res['generate_s']:.1f}s  build {res['build_s']:.1f}s  peak RSS {res['peak_rss_gb']:.2f} GB "
             f"(after data {res['rss_after_data_gb']:.2f}, after build {res['rss_after_build_gb']:.2f})",
             f"exact IndexFlatL2: {res['exact_s']:.1f}s for {res['exact_queries']:,} queries "
             f"({res['exact_s_per_query'] * 1e3:.2f} ms/query)",
             f"{'nprobe':>7} {'IVF s':>8} {'ms/query':>9} {'speedup':>8} {'recall@K1':>10}"]
    for row in res["sweep"]:
        lines.append(f"{row['nprobe']:>7} {row['ivf_s']:>8.2f} {row['ivf_s_per_query'] * 1e3:>9.3f} "
                     f"{row['speedup']:>7.1f}x {row['recall_at_k1']:>10.4f}")
    lines.append(f"cascade (nprobe {res['config']['nprobe']}): {res['cascade_s']:.1f}s for {res['queries']:,}; "
                 f"brute force: {res['brute_s']:.1f}s for {res['brute_queries']:,} -> {res['cascade_speedup']:.1f}x; "
                 f"top-K2 agreement {res['topk2_agreement']:.4f}; source ref in top-K2 {res['true_source_in_top_k2']:.4f}")
    if "ssim" in res:
        sm = res["ssim"]
        lines.append(f"SSIM at {sm['size']}² ({sm['pairs']:,} pairs, {sm['candidates_per_call']} per call, torch "
                     f"{sm['torch_threads']} threads): torch {sm['torch_pairs_per_s']:.0f} pairs/s, skimage "
                     f"{sm['skimage_pairs_per_s']:.0f} pairs/s -> {sm['speed_ratio']:.1f}x; max |diff| {sm['max_abs_diff']:.1e}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--k1", type=int, default=100)
    ap.add_argument("--k2", type=int, default=20)
    ap.add_argument("--exact-queries", type=int, default=None, help="exact baselines on the first N queries")
    ap.add_argument("--nprobes", default="8,16,32")
    ap.add_argument("--clusters", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ssim-pairs", type=int, default=1000, help="SSIM pairs to time (0: skip the SSIM level)")
    ap.add_argument("--ssim-size", type=int, default=256)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/out/retrieval.json"))
    args = ap.parse_args()
    res = run(args.refs, args.queries, args.k1, args.k2, args.exact_queries or args.queries,
              [int(x) for x in args.nprobes.split(",")], args.clusters, args.seed, args.ssim_pairs, args.ssim_size)
    print(report(res))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
