"""The dedup step: exact and near copies of a pair across all datasets, one member of each group kept.

RainRAG is assembled from 36 datasets that copy each other (a test set redistributed inside another's
training set, a dataset mirrored under a second name, a resized re-release). A copy counted twice
weighs its scene twice in training and, when one copy is a public test image, leaks the benchmark.

Two pairs are in one group when they are

- exact copies: the same rainy and clean file content (storage.schemas.SAMPLES' BLAKE2b hashes); or
- near copies: their rain signatures (tasks.curation.evidence: the rain layer on a 16 x 16 grid, less
  what the scene explains) correlate at least `min_correlation`, and their rainy images' and their clean images' perceptual
  hashes are at most `max_phash_distance` bits apart. Candidates come from a FAISS index of the
  signatures (tasks.retrieval.index: exact up to 200,000 pairs, IVF above), `neighbours` per pair.
  The hashes alone are not enough: the many renderings of one background (DDN-Data's 14 per clean
  image) are as close in hash as a copy; the signature is what differs, because the rain does.

Groups are the connected components of those links. One member stays, by a rule that never changes a
released dataset: the member already released in RainRAG (tasks.curation.releases) first, then one
from a public train split, then the dataset that comes first in the supplement's Table 1 (TABLE_ORDER;
a dataset it does not list comes after, by name), then the smaller sample id. A group that holds a
public test image is the exception: its other members are copies of a benchmark image, and are all
marked duplicates of it, so that no training pair is a test image of a public benchmark.

Every other member gets a `duplicates` row (duplicate_of, the kind of copy, the reason). The judge
stage does not ask about them, and the manifest step decides them as `duplicate`. Only paired
samples take part: unpaired ones are references, never training pairs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from storage.fingerprint import fingerprint
from storage.schemas import DUPLICATES
from storage.stage import GLOBAL_SHARD, Parts, ShardTables, Stage
from storage.store import Store
from tasks.curation.releases import released_ids
from tasks.retrieval.index import IndexConfig, build_index

STAGE = "dedup"
TABLE = "duplicates"
VERSION = "1"
MIN_CORRELATION = 0.8    # [ours] sample corpus, seeds 0-2: resized copies >= 0.86, other renderings <= 0.63
MAX_PHASH_DISTANCE = 8   # [ours] sample corpus: resized, re-encoded copies are 0-4 bits apart
NEIGHBOURS = 8           # signatures compared per pair: a group larger than this is still linked through chains

# The supplement's Table 1, in its order: which copy of a pair stays when no copy was released yet.
TABLE_ORDER = (
    "Rain12", "Rain100L", "Rain100H", "Rain200L", "Rain200H", "DDN-Data", "DID-Data", "RainDrop", "Rain800",
    "SPA-Data", "MPID", "RainCityscapes", "Outdoor-Rain", "Rain13K", "RainKITTI2012", "RainKITTI2015",
    "IVIPC-DQA", "RainDS", "RainDirection", "Real3000", "GT-RAIN", "RealRain-1K", "SynRain-13K",
    "GTAV-NightRain", "VRDS", "LWDDS", "LHP-Rain", "UAV-Rain1k", "RoadScene-rain", "RaindropClarity",
    "HQ-NightRain", "WeatherBench-Rain", "FoundIR-Rain", "GenDeg-Rain", "CDD-11-Rain", "URIR-8K")
PUBLIC_TEST = "test"

PAIRS_SQL = """
select s.sample_id, s.dataset, s.split, s.rainy_hash, s.clean_hash, s.filename, i.rainy_phash, i.clean_phash,
       i.rain_signature
from samples s left join inspections i using (sample_id)
where s.clean_path is not null
order by s.sample_id"""
SHARD_OF_PART = re.compile(r"/shard=([^/]+)/[^/]+$")


@dataclass(frozen=True)
class DedupConfig:
    """The thresholds, and the RainRAG major version whose releases the keep rule prefers."""
    min_correlation: float = MIN_CORRELATION
    max_phash_distance: int = MAX_PHASH_DISTANCE
    neighbours: int = NEIGHBOURS
    release_major: int = 1

    def __post_init__(self) -> None:   # the settings' ranges are checked by DistillConfig
        if self.neighbours < 1:
            raise ValueError(f"neighbours={self.neighbours} must be >= 1")

    @classmethod
    def from_run(cls, run: Any) -> DedupConfig:
        s = run.settings
        return cls(s.dedup_min_correlation, s.dedup_max_phash_distance, release_major=run.release_major())


def pairs_of(parts: Parts) -> list[dict]:
    """Every paired sample with its hashes, signature and shard (from its part's folder)."""
    con = duckdb.connect()
    try:
        for table, files in parts.files.items():
            if not files:
                return []
            listed = ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in files)
            con.execute(f"create view {table} as select * from read_parquet([{listed}], union_by_name = true, "
                        "filename = true)")
        cursor = con.execute(PAIRS_SQL)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()


def exact_links(pairs: list[dict]) -> list[tuple[int, int, float]]:
    """(i, j, 1.0) linking each pair to the first one with the same rainy and clean content."""
    first: dict[tuple[str, str], int] = {}
    links = []
    for i, p in enumerate(pairs):
        j = first.setdefault((p["rainy_hash"], p["clean_hash"]), i)
        if j != i:
            links.append((j, i, 1.0))
    return links


def near_links(pairs: list[dict], config: DedupConfig) -> list[tuple[int, int, float]]:
    """(i, j, correlation) for near copies: signatures through FAISS, then both hashes checked."""
    # a pair whose rain the scene explains entirely (a flat veil) has no signature left: nothing to compare
    usable = [i for i, p in enumerate(pairs) if p["rain_signature"] is not None and p["clean_phash"] is not None
              and np.any(np.asarray(p["rain_signature"], dtype=np.float32))]
    if len(usable) < 2:
        return []
    vectors = np.asarray([pairs[i]["rain_signature"] for i in usable], dtype=np.float32)   # (N, 256)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)                              # float16 rounding
    k = min(config.neighbours + 1, len(usable))
    distances, neighbours = build_index(vectors, IndexConfig()).search(vectors, k)          # (N, k) each
    correlations = 1.0 - distances.astype(np.float64) ** 2 / 2.0   # unit vectors: |a-b|^2 = 2 - 2 a.b
    # (N,) hash bits as unsigned: bitwise_count of a signed integer counts the bits of its absolute value
    rainy = np.asarray([pairs[i]["rainy_phash"] for i in usable], dtype=np.int64).view(np.uint64)
    clean = np.asarray([pairs[i]["clean_phash"] for i in usable], dtype=np.int64).view(np.uint64)
    a = np.repeat(np.arange(len(usable)), k)                                                # (N * k,)
    b, score = neighbours.ravel(), correlations.ravel()
    keep = (b >= 0) & (b != a) & (score >= config.min_correlation)
    a, b, score = np.minimum(a, b)[keep], np.maximum(a, b)[keep], score[keep]   # a link found both ways: once
    bits = np.maximum(np.bitwise_count(rainy[a] ^ rainy[b]), np.bitwise_count(clean[a] ^ clean[b]))
    keep = bits <= config.max_phash_distance
    found: dict[tuple[int, int], float] = {}
    for x, y, s in zip(a[keep].tolist(), b[keep].tolist(), score[keep].tolist()):
        found[(usable[x], usable[y])] = max(s, found.get((usable[x], usable[y]), -1.0))
    return [(x, y, s) for (x, y), s in sorted(found.items())]


def table_rank(dataset: str) -> tuple[int, str]:
    return (TABLE_ORDER.index(dataset) if dataset in TABLE_ORDER else len(TABLE_ORDER), dataset)


def keep_order(pair: dict, released: set[str]) -> tuple:
    """Sort key of the keep rule (module docstring): the first member of a group stays."""
    return (pair["sample_id"] not in released, pair["split"] != "train", table_rank(pair["dataset"]),
            pair["sample_id"])


def group_rows(pairs: list[dict], links: list[tuple[int, int, float]], released: set[str]) -> list[dict]:
    """One `duplicates` row per member of a group that does not stay."""
    if not links:
        return []
    i, j, _ = (np.asarray(column) for column in zip(*links))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(pairs), len(pairs)))
    _, component = connected_components(graph, directed=False)
    best = {}
    for (a, b, s) in links:
        best[(a, b)] = best[(b, a)] = max(s, best.get((a, b), 0.0))
    members: dict[int, list[int]] = {}
    for index in sorted(set(i) | set(j)):
        members.setdefault(int(component[index]), []).append(int(index))
    rows = []
    for group in members.values():
        tests = [m for m in group if pairs[m]["split"] == PUBLIC_TEST]
        keeper = min(tests or group, key=lambda m: keep_order(pairs[m], released))
        for m in group:
            if m != keeper:
                rows.append(duplicate_row(pairs[m], pairs[keeper], len(group), best.get((m, keeper))))
    return sorted(rows, key=lambda r: r["sample_id"])


def duplicate_row(pair: dict, keeper: dict, size: int, correlation: float | None) -> dict:
    exact = (pair["rainy_hash"], pair["clean_hash"]) == (keeper["rainy_hash"], keeper["clean_hash"])
    kind = "exact" if exact else "near"
    what = "exact copy" if exact else "near copy" + (f" (rain correlation {correlation:.2f})" if correlation else
                                                     " (linked through other copies)")
    if keeper["split"] == PUBLIC_TEST:
        why = f"{what} of public test image {keeper['sample_id']} of {keeper['dataset']}: it would leak the benchmark"
    else:
        why = f"{what} of {keeper['sample_id']} of {keeper['dataset']}, the member of its group of {size} that stays"
    return {"sample_id": pair["sample_id"], "shard": shard_of(pair["filename"]), "dataset": pair["dataset"],
            "duplicate_of": keeper["sample_id"], "duplicate_dataset": keeper["dataset"], "kind": kind,
            "of_public_test": keeper["split"] == PUBLIC_TEST, "correlation": correlation, "group_size": size,
            "reason": why}


def shard_of(filename: str) -> str:
    match = SHARD_OF_PART.search(filename.replace("\\", "/"))
    if match is None:
        raise ValueError(f"part file {filename} is not under a shard=<key> folder")
    return match.group(1)


@lru_cache(maxsize=4)
def _ids_by_shard(path: str, mtime_ns: int) -> dict[str, tuple[str, ...]]:
    table = pq.read_table(path, columns=["shard", "sample_id"])
    by_shard: dict[str, list[str]] = {}
    for shard, sample_id in zip(table["shard"].to_pylist(), table["sample_id"].to_pylist()):
        by_shard.setdefault(shard, []).append(sample_id)
    return {shard: tuple(sorted(ids)) for shard, ids in by_shard.items()}


def duplicate_ids(store: Store, shard: str) -> tuple[str, ...]:
    """The samples of `shard` that the current dedup step marked duplicates (none before it ran)."""
    part = store.current_part(TABLE, GLOBAL_SHARD)
    return _ids_by_shard(str(part), part.stat().st_mtime_ns).get(shard, ()) if part is not None else ()


@dataclass(frozen=True)
class ShardTablesAndDuplicates(ShardTables):
    """A per-shard stage's inputs (storage.stage.ShardTables) where `duplicates`, written by the global dedup
    step, is read as this shard's duplicate sample ids, and fingerprinted by them: a dedup rerun (a new
    dataset anywhere) re-runs only the shards whose duplicates changed."""

    def read(self, store: Store, stage: Stage, shard: str) -> dict[str, Any]:
        tables: dict[str, Any] = {t: store.read_shard(t, shard) for t in stage.inputs if t != TABLE}
        return {**tables, TABLE: frozenset(duplicate_ids(store, shard))}

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str:
        parts = [store.current_part(t, shard) for t in stage.inputs if t != TABLE]
        return fingerprint([[p.name if p else None for p in parts], duplicate_ids(store, shard)])


def compute(parts: Parts, config: DedupConfig) -> dict[str, pa.Table]:
    """Every current `samples` and `inspections` part -> `duplicates` (the global shard)."""
    pairs = pairs_of(parts)
    links = exact_links(pairs) + near_links(pairs, config)
    released = released_ids(parts.store, config.release_major)
    return {TABLE: pa.Table.from_pylist(group_rows(pairs, links, released), schema=DUPLICATES)}
