"""The retrieve stage: for every query, the real rainy references most like it (paper Eqs. 1-3).

Queries are the rainy images of paired samples; references are the reference pool (tasks.retrieval.pool).
Three levels, each over the survivors of the last: text L2 top-K1 through a FAISS index of the
references' description vectors, image-vector cosine top-K2, SSIM of grayscale images at a common
size top-K3. The index is built once per pool fingerprint and reused by every shard and run.

Exclusion rule: a query never retrieves (a) itself, (b) a file with the same bytes as its rainy image
(the same image shipped by two datasets), or (c) a reference made from the same clean image (its own
pair's siblings in a many-to-one set, or the same scene re-used by another dataset: equal clean
hashes). The pool holds real images, so this only bites for real paired datasets (SPA-Data, ...).
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from storage.fingerprint import fingerprint
from storage.images import rainy_loader
from storage.schemas import RETRIEVALS
from storage.stage import handle_field
from storage.store import Store
from storage.vocabulary import SUBSETS
from tasks.retrieval.cascade import text_level, visual_level
from tasks.retrieval.contact_sheet import contact_sheets, subset_of
from tasks.retrieval.index import IndexConfig, TextIndex, cached_index
from tasks.retrieval.pool import Pool, vectors
from tasks.retrieval.ssim import reference_terms, ssim_one_to_many, to_gray_square

STAGE = "retrieve"
VERSION = "1"
# SSIM is the one per-pair level: on a GPU one query against its K2 candidates is a single small batch.
SSIM_DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class RetrievalConfig:
    """The retrieve stage's config: the cascade's sizes (defaults: tasks.distill_config), the index
    settings and the pool's fingerprint; the pool itself and where the index is kept are handles."""
    k1: int               # text level survivors (the paper publishes no K1)
    k2: int               # visual level survivors
    k3: int               # the retrieved set S(q) handed to the judges
    ssim_size: int        # both images resized to ssim_size² grayscale before SSIM
    index: IndexConfig = IndexConfig()
    pool: str = ""        # the reference pool's fingerprint
    members: Pool | None = handle_field(default=None)
    index_dir: Path | None = handle_field(default=None)   # <store>/_indexes
    data_root: Path | None = handle_field(default=None)

    @classmethod
    def from_run(cls, run: Any) -> RetrievalConfig:
        s, pool = run.settings, run.pool()
        return cls(s.k1, s.k2, s.k3, s.ssim_size, IndexConfig(), pool.fingerprint, pool,
                   run.store.root / "_indexes", run.data_root)


def exclusion_keys(row: Mapping[str, Any]) -> list[str]:
    keys = [f"id:{row['sample_id']}", f"file:{row['rainy_hash']}"]
    return keys + ([f"scene:{row['clean_hash']}"] if row.get("clean_hash") else [])


def forbidden(queries: list[dict], pool: Pool) -> list[set[int]]:
    """Per query, the pool positions it must never retrieve (see the module docstring)."""
    by_key: dict[str, set[int]] = {}
    for position, ref in enumerate(pool.rows):
        for key in exclusion_keys(ref):
            by_key.setdefault(key, set()).add(position)
    return [set().union(*(by_key.get(k, set()) for k in exclusion_keys(q))) for q in queries]


class ReferenceImages:
    """Grayscale ssim_size² tensors of pool members and their SSIM reference terms, each made once per shard."""

    def __init__(self, pool: Pool, data_root: Path, size: int):
        self.pool, self.load, self.size = pool, rainy_loader(data_root), size
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor] | None] = {}

    def get(self, position: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(gray (S, S), terms (3, s, s)) on SSIM_DEVICE, or None for an unreadable reference."""
        if position not in self.cache:
            try:
                gray = torch.from_numpy(to_gray_square(self.load(self.pool.rows[position]), self.size)).to(SSIM_DEVICE)
                self.cache[position] = (gray, reference_terms(gray[None])[0])
            except Exception:  # noqa: BLE001 — an unreadable reference scores no SSIM; others go on
                self.cache[position] = None
        return self.cache[position]


def _query_rows(query: dict, refs: ReferenceImages, gray: torch.Tensor, cands: np.ndarray, s_txt: np.ndarray,
                s_vis: np.ndarray, k3: int) -> list[dict]:
    images = [refs.get(int(c)) for c in cands]
    ok = [i for i, image in enumerate(images) if image is not None]
    s_ssim = np.full(len(cands), np.nan, np.float32)
    if ok:
        # the cached tensors go in as lists: on CPU ssim_one_to_many reads them one reference at a time
        candidates, terms = [images[i][0] for i in ok], [images[i][1] for i in ok]   # K x (S, S), K x (3, s, s)
        s_ssim[ok] = ssim_one_to_many(gray.to(SSIM_DEVICE), candidates, terms).cpu().numpy()   # (K,)
    order = sorted(range(len(cands)), key=lambda i: (np.isnan(s_ssim[i]), -np.nan_to_num(s_ssim[i]), i))
    return [{"query_id": query["sample_id"], "reference_id": refs.pool.rows[int(cands[i])]["sample_id"],
             "s_txt": float(s_txt[i]), "s_vis": float(s_vis[i]),
             "s_ssim": None if np.isnan(s_ssim[i]) else float(s_ssim[i]), "rank": rank, "selected": rank <= k3,
             "status": "ok", "error": None} for rank, i in enumerate(order, start=1)]


def retrieve_shard(samples: pa.Table, embeddings: pa.Table, pool: Pool, index: TextIndex, data_root: Path,
                   config: RetrievalConfig) -> pa.Table:
    ok = embeddings.filter(pc.equal(embeddings["status"], "ok"))
    paired = {r["sample_id"]: r for r in samples.to_pylist() if r["clean_path"]}
    keep = [i for i, sid in enumerate(ok["sample_id"].to_pylist()) if sid in paired]
    if not keep or not len(pool):
        return RETRIEVALS.empty_table()
    ok = ok.take(keep)
    queries = [paired[sid] for sid in ok["sample_id"].to_pylist()]
    txt_dist, txt_idx = text_level(index, vectors(ok["text_vec"]), config.k1, exclude=forbidden(queries, pool))
    vis_cos, vis_idx = visual_level(vectors(ok["image_vec"]), pool.image, txt_idx, config.k2)
    refs, load = ReferenceImages(pool, data_root, config.ssim_size), rainy_loader(data_root)
    out: list[dict] = []
    for q, query in enumerate(queries):
        valid = vis_idx[q] >= 0
        cands, s_vis = vis_idx[q][valid], vis_cos[q][valid]
        text_distance = dict(zip(txt_idx[q].tolist(), txt_dist[q].tolist()))   # reference -> its text L2
        s_txt = np.array([text_distance[c] for c in cands.tolist()], np.float32)
        try:
            gray = torch.from_numpy(to_gray_square(load(query), config.ssim_size))
        except Exception as exc:  # noqa: BLE001 — the query's own error row, the shard goes on
            out.append({"query_id": query["sample_id"], "status": "error", "error": f"{type(exc).__name__}: {exc}"})
            continue
        out.extend(_query_rows(query, refs, gray, cands, s_txt, s_vis, config.k3))
    return pa.Table.from_pylist(out, schema=RETRIEVALS)


_INDEXES: dict[tuple[str, str], TextIndex] = {}   # per process: every shard of a run (or worker) shares one
_BUILDING = threading.Lock()                        # shards on the local engine's threads build it once


def text_index(config: RetrievalConfig) -> TextIndex:
    """The pool's FAISS index, built once per pool fingerprint and index setting (cached on disk too)."""
    key = (str(config.index_dir), fingerprint([config.pool, asdict(config.index)]))   # a new setting: a new index
    with _BUILDING:
        if key not in _INDEXES:
            _INDEXES[key] = cached_index(config.index_dir, key[1], lambda: config.members.text, config.index)
        return _INDEXES[key]


def compute(tables: Mapping[str, pa.Table], config: RetrievalConfig) -> dict[str, pa.Table]:
    """`samples` + `embeddings` -> `retrievals` against the reference pool."""
    pool = config.members
    index = text_index(config) if len(pool) else None
    return {"retrievals": retrieve_shard(tables["samples"], tables["embeddings"], pool, index, config.data_root,
                                         config)}


def retrieval_sheets(store: Store, shards: list[str], pool: Pool, data_root: Path, k3: int,
                     per_subset: int = 4) -> dict[str, Path]:
    """Contact sheets of the first queries of each subset, read shard by shard until every subset is full."""
    known = {row["sample_id"]: row for row in pool.rows}
    tables, queries_of = [], {subset: set() for subset in SUBSETS}
    for shard in shards:
        if store.current_part("retrievals", shard) is None:
            continue
        samples = {r["sample_id"]: r for r in store.read_shard("samples", shard).to_pylist()}
        retrievals = store.read_shard("retrievals", shard)
        known.update(samples)
        tables.append(retrievals)
        for query_id in set(retrievals["query_id"].to_pylist()):
            queries_of.setdefault(subset_of(samples[query_id]), set()).add(query_id)
        if all(len(queries_of[s]) >= per_subset for s in SUBSETS):
            break
    if not tables:
        return {}
    return contact_sheets(pa.concat_tables(tables), known, data_root, store.reports / "retrieval", k3, per_subset)
