"""Levels 1 and 2 of the hierarchical retrieval (paper-notes §1, Eqs. 1-2), as pure numpy functions.

text_level:   FAISS L2 over the text vectors -> the K1 nearest references per query (optionally with
              forbidden references removed, e.g. a query's own image or its source dataset).
visual_level: cosine of L2-normalised image vectors, computed only over each query's K1 candidates
              -> the K2 best, ordered by (−score, reference index) so ties never depend on FAISS order.

Unfilled slots are index −1 (FAISS returns −1 when fewer than k references exist): they are dropped
from scoring and, since outputs keep a fixed (Q, k) shape, reappear only as −1 padding at the end.
"""
from __future__ import annotations

from typing import Callable, Collection, Sequence, Union

import numpy as np

from tasks.retrieval.index import TextIndex

# exclude: a per-query collection of forbidden reference indices, or a function
# (query row q, candidate indices (k,) int64) -> (k,) bool, True = forbidden
Exclude = Union[Sequence[Collection[int]], Callable[[int, np.ndarray], np.ndarray], None]

VISUAL_CHUNK = 1024   # queries per gather: (chunk, K1, E) float32 at K1=100, E=768 is ~300 MB


def _forbidden_mask(exclude: Exclude, idx: np.ndarray) -> np.ndarray:
    """(Q, k) candidate indices -> (Q, k) bool, True where the candidate is excluded for its query."""
    mask = np.zeros(idx.shape, dtype=bool)
    for q in range(idx.shape[0]):
        if callable(exclude):
            mask[q] = np.asarray(exclude(q, idx[q]), dtype=bool)
        elif exclude[q]:
            mask[q] = np.isin(idx[q], np.fromiter(exclude[q], dtype=np.int64))
    return mask


def _compact(dist: np.ndarray, idx: np.ndarray, keep: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the `keep` slots of each row, in their order, into (Q, k) arrays padded with (inf, −1)."""
    q_n = idx.shape[0]
    out_d = np.full((q_n, k), np.inf, dtype=np.float32)
    out_i = np.full((q_n, k), -1, dtype=np.int64)
    # a stable argsort of ~keep moves kept slots to the front without changing their relative order
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]            # (Q, min(k, fetched))
    take_d = np.take_along_axis(dist, order, axis=1)
    take_i = np.take_along_axis(idx, order, axis=1)
    kept = np.take_along_axis(keep, order, axis=1)
    width = order.shape[1]
    out_d[:, :width] = np.where(kept, take_d, np.inf)
    out_i[:, :width] = np.where(kept, take_i, -1)
    return out_d, out_i


def text_level(index: TextIndex, query_text: np.ndarray, k1: int,
               exclude: Exclude = None) -> tuple[np.ndarray, np.ndarray]:
    """(Q, D) query text vectors -> (L2 distances (Q, k1), reference indices (Q, k1)), nearest first.

    With `exclude`, the search over-fetches so each query still gets k1 allowed candidates when the
    pool has them: k1 + the largest forbidden set for collections; for a function (whose forbidden count
    is unknown) k1 extra, doubled for as long as some query is short and the pool has more.
    """
    if k1 < 1:
        raise ValueError("k1 must be ≥ 1")
    q_n = query_text.shape[0]
    if exclude is None:
        dist, idx = index.search(query_text, k1)
        return _compact(dist, idx, idx >= 0, k1)
    if not callable(exclude) and len(exclude) != q_n:
        raise ValueError(f"exclude has {len(exclude)} entries for {q_n} queries")
    extra = k1 if callable(exclude) else max((len(s) for s in exclude), default=0)
    fetch = min(k1 + extra, index.n)
    while True:
        dist, idx = index.search(query_text, max(fetch, 1))          # (Q, fetch)
        keep = (idx >= 0) & ~_forbidden_mask(exclude, idx)
        short = keep.sum(axis=1) < k1
        # a short query is final when the pool is exhausted; for collections the first fetch is enough
        if not short.any() or fetch >= index.n or not callable(exclude):
            return _compact(dist, idx, keep, k1)
        fetch = min(2 * fetch, index.n)


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)      # zero vectors score 0 instead of nan


def visual_level(query_img: np.ndarray, ref_img: np.ndarray, cand: np.ndarray,
                 k2: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine re-rank: (Q, E) queries, (N, E) references, (Q, K1) candidates -> (cos (Q, k2), idx (Q, k2)).

    Only each query's candidates are scored (Q·K1 dot products, not Q·N). Order: cosine descending,
    reference index ascending on ties. Padding: (−inf, −1) where a query has fewer than k2 candidates.
    """
    if k2 < 1:
        raise ValueError("k2 must be ≥ 1")
    q_n, k1 = cand.shape
    if query_img.shape[0] != q_n:
        raise ValueError(f"{query_img.shape[0]} query vectors for {q_n} candidate rows")
    width = min(k2, k1)
    out_s = np.full((q_n, k2), -np.inf, dtype=np.float32)
    out_i = np.full((q_n, k2), -1, dtype=np.int64)
    for start in range(0, q_n, VISUAL_CHUNK):
        stop = min(start + VISUAL_CHUNK, q_n)
        c = cand[start:stop]                                         # (B, K1)
        valid = c >= 0
        refs = _normalise(ref_img[np.where(valid, c, 0)].astype(np.float32, copy=False))  # (B, K1, E)
        qs = _normalise(query_img[start:stop].astype(np.float32, copy=False))             # (B, E)
        score = np.einsum("bke,be->bk", refs, qs)                    # (B, K1) cosines
        score = np.where(valid, score, -np.inf).astype(np.float32)
        # lexsort: last key is primary -> sort by −score, then by reference index
        tie = np.where(valid, c, np.iinfo(np.int64).max)
        order = np.lexsort((tie, -score), axis=1)[:, :width]         # (B, width)
        top_s = np.take_along_axis(score, order, axis=1)
        top_i = np.take_along_axis(c, order, axis=1)
        out_s[start:stop, :width] = top_s
        out_i[start:stop, :width] = np.where(np.isfinite(top_s), top_i, -1)
    return out_s, out_i
