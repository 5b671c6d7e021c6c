"""The ingest stage: read, hash and validate every candidate pair of a shard into `samples`/`rejects`.

Discovery (storage.sources) already decided which files pair up; this stage opens them. A shard's
input fingerprint covers its candidate rows and the size and mtime of every file they name, so an
unchanged tree re-reads and re-hashes nothing on a second run, while a touched file re-runs its shard.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.fingerprint import content_hash, fingerprint
from storage.images import DEFAULT_MAX_PIXELS, UNREADABLE_FILE, ImageInfo, ImageProblem, probe
from storage.paths import absolute
from storage.schemas import CANDIDATES, REJECTS, SAMPLES
from storage.sources.discover import DiscoveryStats, discover
from storage.sources.registry import Located
from storage.sources.staging import stage_shards
from storage.stage import Stage, handle_field
from storage.store import Store

STAGE = "ingest"
# Reason codes of pairs that cannot be samples (the file codes are storage.images', discovery's its own).
SIZE_MISMATCH = "size_mismatch"
NARROW_SIDE_BY_SIDE = "narrow_side_by_side"
DUPLICATE_ENTRY = "duplicate_entry"
VERSION = "2"  # 2: reject codes, bits per channel


def _stat(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read(data_root: Path, text: str, raw: bytes | None, max_pixels: int) -> tuple[bytes, ImageInfo]:
    path = absolute(data_root, text, raw)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageProblem(UNREADABLE_FILE, f"cannot read file: {exc.strerror or exc}") from exc
    info, _ = probe(data, max_pixels)
    return data, info


def _reject(row: dict, code: str, reason: str, path: str | None = None, partner: str | None = None) -> dict:
    return {"sample_id": row["sample_id"], "dataset": row["dataset"], "split": row["split"],
            "pairing_rule": row["pairing_rule"], "path": path or row["rainy_path"],
            "partner_path": partner if path else row["clean_path"], "code": code, "reason": reason}


class CleanFileProblem(ImageProblem):
    """The clean file of a pair is at fault (the reject names it as the file)."""


def validate_pair(row: dict, data_root: Path, max_pixels: int, clean_cache: dict) -> dict:
    """A `samples` row for a candidate, or raise ImageProblem with the reason (prefixed by the side)."""
    try:
        rainy_data, rainy = _read(data_root, row["rainy_path"], row["rainy_path_raw"], max_pixels)
    except ImageProblem as exc:
        raise ImageProblem(exc.code, f"rainy file: {exc}") from exc
    width, height = rainy.width, rainy.height
    clean_hash, clean_mode, clean_bits, clean_bytes = None, None, None, None
    if row["side_by_side"]:
        if width < 2:
            raise ImageProblem(NARROW_SIDE_BY_SIDE, f"side-by-side file is {width} px wide; cannot split it in halves")
        width //= 2
        clean_hash, clean_bytes = content_hash(rainy_data), len(rainy_data)
        clean_mode, clean_bits = rainy.mode, rainy.bits
    elif row["clean_path"] is not None:
        key = row["clean_path"]
        if key not in clean_cache:  # many-to-one sets name one clean file many times per shard
            try:
                data, info = _read(data_root, row["clean_path"], row["clean_path_raw"], max_pixels)
                clean_cache[key] = (content_hash(data), info, len(data))
            except ImageProblem as exc:
                clean_cache[key] = exc
        cached = clean_cache[key]
        if isinstance(cached, ImageProblem):
            raise CleanFileProblem(cached.code, f"clean file {row['clean_path']}: {cached}")
        clean_hash, clean_info, clean_bytes = cached
        clean_mode, clean_bits = clean_info.mode, clean_info.bits
        if (clean_info.width, clean_info.height) != (width, height):
            raise ImageProblem(SIZE_MISMATCH, f"pair of different sizes: rainy {width}x{height}, "
                                              f"clean {clean_info.width}x{clean_info.height}")
    return {
        **{k: row[k] for k in ("sample_id", "dataset", "split", "pairing", "pairing_rule", "rainy_path",
                                "rainy_path_raw", "clean_path", "clean_path_raw", "side_by_side",
                                "time_of_day", "rain_type", "is_real")},
        "width": width, "height": height, "format": rainy.format, "rainy_mode": rainy.mode,
        "clean_mode": clean_mode, "rainy_bits": rainy.bits, "clean_bits": clean_bits,
        "rainy_hash": content_hash(rainy_data), "clean_hash": clean_hash,
        "rainy_bytes": len(rainy_data), "clean_bytes": clean_bytes,
    }


def ingest_shard(candidates: pa.Table, data_root: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, pa.Table]:
    """{'samples', 'rejects'} for one shard of candidates; one bad file never stops the others."""
    samples, rejects, seen, clean_cache = [], [], set(), {}
    for row in candidates.sort_by("sample_id").to_pylist():
        if row["sample_id"] in seen:
            rejects.append(_reject(row, DUPLICATE_ENTRY, "duplicate entry: this rainy file was already paired"))
            continue
        seen.add(row["sample_id"])
        if row["problem"]:
            rejects.append(_reject(row, row["problem_code"], row["problem"]))
            continue
        try:
            samples.append(validate_pair(row, data_root, max_pixels, clean_cache))
        except CleanFileProblem as exc:
            rejects.append(_reject(row, exc.code, str(exc), path=row["clean_path"], partner=row["rainy_path"]))
        except ImageProblem as exc:
            rejects.append(_reject(row, exc.code, str(exc)))
    return {"samples": pa.Table.from_pylist(samples, schema=SAMPLES),
            "rejects": pa.Table.from_pylist(rejects, schema=REJECTS)}


@dataclass(frozen=True)
class IngestStageConfig:
    max_pixels: int
    data_root: Path = handle_field()
    staging: Path = handle_field()          # <staging>/<shard>.parquet: the candidates discovery staged


class StagedCandidates:
    """The ingest stage's input: a shard's staged candidate rows. Their fingerprint covers the rows and
    the size and mtime of every file they name, so an unchanged tree is not re-read on a second run."""

    def read(self, store: Store, stage: Stage, shard: str) -> pa.Table:
        return pq.read_table(stage.config.staging / f"{shard}.parquet", schema=CANDIDATES)

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str:
        data_root = stage.config.data_root
        rows = self.read(store, stage, shard).drop(["shard_hash"]).to_pylist()
        stats = [[_stat(absolute(data_root, r["rainy_path"], r["rainy_path_raw"])),
                  _stat(absolute(data_root, r["clean_path"], r["clean_path_raw"])) if r["clean_path"] else None]
                 for r in rows]
        return fingerprint({"candidates": rows, "stats": stats})


def compute(candidates: pa.Table, config: IngestStageConfig) -> dict[str, pa.Table]:
    """Staged candidates -> `samples` + `rejects`."""
    return ingest_shard(candidates, config.data_root, config.max_pixels)


def plan_dataset(located: Located, data_root: Path, staging: Path, shard_size: int) -> tuple[list[str], DiscoveryStats]:
    """Discover one dataset into staged candidate shards; returns their keys and what the walk saw."""
    stats = DiscoveryStats()
    keys = stage_shards(discover(located, Path(data_root), stats), located.dataset.name, shard_size, staging)
    return keys, stats


def drop_stale_shards(store: Store, dataset: str, keep: list[str]) -> list[str]:
    """Remove a dataset's shards that the current plan no longer has (it shrank or was re-sharded)."""
    pattern = re.compile(rf"^{re.escape(dataset)}-\d{{5}}$")
    stale = sorted({s for t in ("samples", "rejects") for s in store.shards(t)
                    if pattern.match(s) and s not in keep})
    for shard in stale:
        for table in ("samples", "rejects"):
            store.drop_shard(table, shard)
        store.ledger.forget_shard(STAGE, shard)
    return stale
