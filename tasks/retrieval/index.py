"""The FAISS text index of the reference pool: level 1 of the retrieval cascade (paper-notes §1, Eq. 1).

Up to `IndexConfig.exact_max` references the index is an exact `IndexFlatL2` (a full scan is cheap and
exact); above it an inverted file `IVF{nlist},Flat` whose nlist ≈ 4·sqrt(N), rounded to a power of two,
and whose search visits `nprobe` lists. The default nprobe was chosen on `python -m benchmarks.retrieval`
(1 M clustered references): recall of the exact top-100 ≥ 0.95 at ≥ 10× the exact speed.

`cached_index` builds the index once per reference-pool fingerprint and keeps it next to a JSON sidecar;
a later run (or a resumed one) loads it instead of paying the k-means training again.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import faiss
import numpy as np

from storage.atomic import atomic_write, write_json


@dataclass(frozen=True)
class IndexConfig:
    exact_max: int = 200_000        # [ours] up to this many references: exact flat scan
    nprobe: int = 16                # [ours] 1M refs: recall@100 0.998, ~13x exact (benchmarks/retrieval.py)
    nlist: int | None = None        # None: 4·sqrt(N) rounded to a power of two
    train_per_list: int = 64        # k-means sample = train_per_list · nlist vectors at most
    kmeans_iters: int = 10          # [ours] FAISS defaults to 25: training time is linear in it
    seed: int = 0                   # picks the training sample, so a rebuild gives the same index
    use_gpu: Literal["auto", "never"] = "auto"

    def __post_init__(self):
        if self.use_gpu not in ("auto", "never"):
            raise ValueError(f"use_gpu must be 'auto' or 'never', not {self.use_gpu!r}")
        if self.nprobe < 1 or self.exact_max < 0 or self.train_per_list < 1:
            raise ValueError(f"invalid index config {self}")


def nlist_for(n: int, config: IndexConfig) -> int:
    """Inverted lists for n vectors: the usual 4·sqrt(n) rule, rounded to a power of two."""
    if config.nlist is not None:
        return config.nlist
    return int(2 ** round(math.log2(max(4.0 * math.sqrt(n), 1.0))))


def kind_for(n: int, config: IndexConfig) -> str:
    return "flat" if n <= config.exact_max else f"ivf{nlist_for(n, config)}"


@dataclass
class TextIndex:
    index: Any                  # the faiss index, on GPU when on_gpu
    kind: str                   # "flat" or "ivf<nlist>"
    nprobe: int                 # lists visited per query (0 for flat)
    on_gpu: bool
    n: int
    dim: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, D) queries -> (L2 distances (Q, k) float32, reference indices (Q, k) int64).

        FAISS returns squared distances; we return their root so scores read as Eq. 1's ||·||₂.
        Slots FAISS could not fill (fewer than k references reachable) carry index −1 and distance inf.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (Q, {self.dim}), got {queries.shape}")
        if k < 1:
            raise ValueError("k must be ≥ 1")
        sq, idx = self.index.search(queries, k)          # (Q, k), (Q, k)
        dist = np.sqrt(np.maximum(sq, 0.0)).astype(np.float32)  # rounding can give tiny negatives
        dist[idx < 0] = np.inf
        return dist, idx.astype(np.int64)


def _gpu_count() -> int:
    # faiss-cpu has get_num_gpus (returns 0); guard anyway for builds without it
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def _set_nprobe(index: Any, nprobe: int) -> None:
    ivf = faiss.try_extract_index_ivf(index) if hasattr(faiss, "try_extract_index_ivf") else None
    if ivf is not None:
        ivf.nprobe = nprobe
    elif hasattr(index, "nprobe"):     # GPU IVF indexes expose nprobe directly
        index.nprobe = nprobe


def _wrap(cpu_index: Any, kind: str, config: IndexConfig) -> TextIndex:
    """Set the search parameter and move to the GPU(s) when there are any and the config allows."""
    nprobe = 0 if kind == "flat" else config.nprobe
    if nprobe:
        _set_nprobe(cpu_index, nprobe)
    index, on_gpu = cpu_index, False
    if config.use_gpu == "auto" and _gpu_count() > 0 and hasattr(faiss, "index_cpu_to_all_gpus"):
        index, on_gpu = faiss.index_cpu_to_all_gpus(cpu_index), True
        if nprobe:
            _set_nprobe(index, nprobe)
    return TextIndex(index=index, kind=kind, nprobe=nprobe, on_gpu=on_gpu, n=cpu_index.ntotal, dim=cpu_index.d)


def _build_cpu(vectors: np.ndarray, config: IndexConfig) -> tuple[Any, str]:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(f"vectors must be a non-empty (N, D) array, got {vectors.shape}")
    n, dim = vectors.shape
    kind = kind_for(n, config)
    if kind == "flat":
        index = faiss.IndexFlatL2(dim)
    else:
        nlist = nlist_for(n, config)
        index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_L2)
        # k-means on a bounded, seeded sample: training cost stays O(nlist²·D) whatever N is, and a
        # rebuild of the same pool gives the same centroids
        size = min(n, config.train_per_list * nlist)
        faiss.extract_index_ivf(index).cp.niter = config.kmeans_iters
        pick = np.sort(np.random.default_rng(config.seed).choice(n, size=size, replace=False))
        index.train(vectors[pick])                      # (size, D)
    index.add(vectors)
    return index, kind


def build_index(vectors: np.ndarray, config: IndexConfig = IndexConfig()) -> TextIndex:
    """(N, D) float32 reference text vectors -> a searchable TextIndex (flat or IVF by N)."""
    cpu, kind = _build_cpu(vectors, config)
    return _wrap(cpu, kind, config)


_FINGERPRINT = re.compile(r"^[A-Za-z0-9_.-]+$")


def cached_index(folder: Path, fingerprint: str, vectors_fn: Callable[[], np.ndarray],
                 config: IndexConfig = IndexConfig()) -> TextIndex:
    """The index of the pool `fingerprint`, built at most once and kept as `<folder>/<fingerprint>.faiss`.

    The sidecar `<fingerprint>.json` is written after the index file, so its presence means the index
    is complete. `vectors_fn` is called only when building. A stored index whose kind differs from the
    one `config` would build (exact_max or nlist changed) is rebuilt; nprobe is a search-time setting and
    is taken from `config` on every load.
    """
    if not _FINGERPRINT.match(fingerprint):
        raise ValueError(f"fingerprint {fingerprint!r} is not a safe file name")
    folder = Path(folder)
    index_path, meta_path = folder / f"{fingerprint}.faiss", folder / f"{fingerprint}.json"
    if index_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("kind") == kind_for(int(meta["n"]), config):
            cpu = faiss.read_index(str(index_path))
            return _wrap(cpu, meta["kind"], config)
    vectors = vectors_fn()
    start = time.perf_counter()
    cpu, kind = _build_cpu(vectors, config)
    build_s = time.perf_counter() - start
    # always store the CPU index: a GPU index cannot be serialised, and the next run may have no GPU
    atomic_write(index_path, lambda tmp: faiss.write_index(cpu, str(tmp)))
    write_json(meta_path, {"kind": kind, "n": int(cpu.ntotal), "dim": int(cpu.d), "build_s": round(build_s, 3),
                           "config": asdict(config), "faiss": faiss.__version__})
    return _wrap(cpu, kind, config)
