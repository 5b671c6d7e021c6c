"""The FAISS text index (flat vs IVF, cache) and the text/visual levels of the cascade."""
from __future__ import annotations

import json

import numpy as np

from tasks.retrieval.cascade import text_level, visual_level
from tasks.retrieval.index import IndexConfig, build_index, cached_index, kind_for

SMALL = IndexConfig(exact_max=1_000, use_gpu="never")   # tiny threshold so IVF is exercised cheaply


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = 32, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """(n, dim) unit vectors around `clusters` random centres: the structure IVF relies on."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, dim)))
    return unit(centres[rng.integers(0, clusters, n)] + 0.15 * rng.standard_normal((n, dim)))


def test_kind_follows_the_size_threshold():
    small, big = clustered(800), clustered(20_000)
    flat, ivf = build_index(small, SMALL), build_index(big, SMALL)
    assert (flat.kind, flat.nprobe, flat.on_gpu) == ("flat", 0, False)
    # 4·sqrt(20000) ≈ 566 -> nearest power of two 512
    assert ivf.kind == "ivf512" == kind_for(20_000, SMALL) and ivf.nprobe == SMALL.nprobe
    assert (ivf.n, ivf.dim) == (20_000, 32)


def test_ivf_recall_at_default_nprobe():
    refs = clustered(20_000, seed=1)
    queries = unit(refs[:300] + 0.05 * np.random.default_rng(2).standard_normal((300, 32)))
    _, exact = build_index(refs, IndexConfig(use_gpu="never")).search(queries, 100)
    _, approx = build_index(refs, SMALL).search(queries, 100)
    recall = np.mean([len(np.intersect1d(a, e)) / 100 for a, e in zip(approx, exact)])
    assert recall >= 0.95


def test_search_returns_l2_not_squared():
    refs = np.eye(4, dtype=np.float32) * 3.0                   # distances from the origin: exactly 3
    dist, idx = build_index(refs, SMALL).search(np.zeros((1, 4), np.float32), 2)
    np.testing.assert_allclose(dist, [[3.0, 3.0]], rtol=1e-6)
    assert idx.dtype == np.int64


def test_cache_builds_once_per_fingerprint(tmp_path):
    refs, calls = clustered(5_000, seed=3), []

    def vectors():
        calls.append(1)
        return refs

    queries = refs[:50]
    first = cached_index(tmp_path, "pool-a", vectors, SMALL)
    again = cached_index(tmp_path, "pool-a", vectors, SMALL)
    assert len(calls) == 1 and first.kind == again.kind == "ivf256"
    for got, want in zip(again.search(queries, 20), first.search(queries, 20)):
        np.testing.assert_array_equal(got, want)             # the reloaded index answers identically
    meta = json.loads((tmp_path / "pool-a.json").read_text())
    assert (meta["kind"], meta["n"], meta["dim"]) == ("ivf256", 5_000, 32) and meta["build_s"] >= 0
    assert meta["config"]["exact_max"] == 1_000
    cached_index(tmp_path, "pool-b", vectors, SMALL)
    assert len(calls) == 2 and (tmp_path / "pool-b.faiss").exists()


def test_cache_rebuilds_when_the_kind_would_change(tmp_path):
    refs, calls = clustered(5_000, seed=4), []
    cached_index(tmp_path, "p", lambda: calls.append(1) or refs, SMALL)
    flat = cached_index(tmp_path, "p", lambda: calls.append(1) or refs, IndexConfig(use_gpu="never"))
    assert flat.kind == "flat" and len(calls) == 2


def test_exclusion_keeps_k1_allowed_candidates():
    refs = clustered(2_000, seed=5)
    index = build_index(refs, IndexConfig(use_gpu="never"))
    queries = refs[:3]
    _, plain = text_level(index, queries, 10)
    forbidden = [set(plain[0, :5].tolist()), set(), {int(plain[2, 0])}]
    dist, got = text_level(index, queries, 10, exclude=forbidden)
    assert got.shape == (3, 10) and (got >= 0).all()
    for row, bad in zip(got, forbidden):
        assert not bad & set(row.tolist())
    np.testing.assert_array_equal(got[1], plain[1])
    np.testing.assert_array_equal(got[0, :5], plain[0, 5:])  # order of the survivors is kept
    assert (np.diff(dist, axis=1) >= 0).all()
    # a function: forbid even indices; over-fetching still fills all k1 slots
    _, odd = text_level(index, queries, 10, exclude=lambda q, cand: cand % 2 == 0)
    assert (odd % 2 == 1).all() and (odd >= 0).all()


def test_fewer_references_than_k_gives_minus_one_and_is_dropped():
    refs = clustered(5, seed=6)
    index = build_index(refs, SMALL)
    dist, cand = text_level(index, refs[:2], 8)
    assert (cand[:, :5] >= 0).all() and (cand[:, 5:] == -1).all() and np.isinf(dist[:, 5:]).all()
    images = clustered(5, dim=16, seed=7)
    cos, top = visual_level(images[:2], images, cand, 3)
    assert (top >= 0).all() and np.isfinite(cos).all()
    cos, top = visual_level(images[:2], images, cand, 7)       # more slots than candidates: padded
    assert (top[:, 5:] == -1).all() and np.isneginf(cos[:, 5:]).all()
    assert sorted(top[0, :5].tolist()) == list(range(5))


def test_visual_level_picks_the_true_cosine_nearest_among_candidates():
    rng = np.random.default_rng(8)
    refs = rng.standard_normal((500, 16)).astype(np.float32) * rng.uniform(0.5, 3, (500, 1)).astype(np.float32)
    queries = rng.standard_normal((4, 16)).astype(np.float32)
    cand = np.stack([rng.choice(500, 40, replace=False) for _ in range(4)])        # (4, 40)
    cos, top = visual_level(queries, refs, cand, 5)
    for q in range(4):
        sims = unit(refs[cand[q]]) @ unit(queries[q:q + 1])[0]                       # (40,)
        want = cand[q][np.argsort(-sims, kind="stable")[:5]]
        np.testing.assert_array_equal(top[q], want)
        np.testing.assert_allclose(cos[q], np.sort(sims)[::-1][:5], rtol=1e-5)
        assert set(top[q]) <= set(cand[q])                   # never outside the K1 candidates


def test_visual_ties_order_by_index():
    refs = np.ones((6, 3), np.float32)                       # every cosine is 1
    _, top = visual_level(np.ones((1, 3), np.float32), refs, np.array([[5, 2, 4, 0]]), 3)
    assert top.tolist() == [[0, 2, 4]]
