"""Stage discovery's candidates on disk and split them into deterministic shards.

A small dataset's candidates are split in memory; a larger walk streams them into a Parquet file in
bounded batches (a million-file dataset never sits in memory), then DuckDB partitions that file by
shard out of core. Both write the same shard files. Shards are per dataset, so adding
a dataset never reshuffles the others: shard = hash(clean path, else rainy path) mod n (see
`discover.shard_hash`), with n the power of two that keeps shards at about `shard_size` candidates.
A dataset only re-shards when it crosses a power of two.
"""
from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path
from typing import Iterable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage.schemas import CANDIDATES

BATCH_ROWS = 8192
# Datasets up to this many candidates (tens of MB) are split in memory with pyarrow: a candidates file,
# a DuckDB connection and a partitioned COPY cost more than that for a small dataset, on every run.
IN_MEMORY_ROWS = 100_000


def shard_count(candidates: int, shard_size: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, math.ceil(candidates / shard_size)))))


def shard_key(dataset: str, index: int) -> str:
    return f"{dataset}-{index:05d}"


def write_candidates(rows: Iterable[dict], path: Path) -> int:
    """Stream candidate dicts into one Parquet file; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count, batch = 0, []
    with pq.ParquetWriter(path, CANDIDATES, compression="zstd") as writer:
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=CANDIDATES))
                count, batch = count + len(batch), []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=CANDIDATES))
            count += len(batch)
    return count


def stage_shards(rows: Iterable[dict], dataset: str, shard_size: int, out_dir: Path,
                 in_memory_rows: int = IN_MEMORY_ROWS) -> list[str]:
    """Write a dataset's candidates as `<out_dir>/<shard key>.parquet`, one file per shard; returns the keys.

    Up to `in_memory_rows` candidates are split in memory; a larger walk spills to a candidates file
    that DuckDB partitions out of core (`partition`). Both write the same files.
    """
    rows = iter(rows)
    head = list(itertools.islice(rows, in_memory_rows + 1))
    if len(head) <= in_memory_rows:
        if not head:
            return []
        table = pa.Table.from_pylist(head, schema=CANDIDATES)
        return _partition_table(table, dataset, shard_count(len(head), shard_size), out_dir)
    candidates_file = out_dir / f".{dataset}.candidates.parquet"
    try:
        count = write_candidates(itertools.chain(head, rows), candidates_file)
        return partition(candidates_file, dataset, count, shard_size, out_dir)
    finally:
        candidates_file.unlink(missing_ok=True)


def partition(candidates_file: Path, dataset: str, count: int, shard_size: int, out_dir: Path) -> list[str]:
    """Split a dataset's candidate file into `<out_dir>/<shard key>.parquet` out of core; returns the shard keys."""
    shards = shard_count(count, shard_size)
    scratch = out_dir / f".{dataset}.partition"
    shutil.rmtree(scratch, ignore_errors=True)
    con = duckdb.connect(config={"memory_limit": "512MB", "threads": 2})
    try:
        con.execute(
            f"COPY (SELECT *, shard_hash % {shards} AS shard FROM read_parquet(?)) "
            f"TO '{scratch.as_posix()}' (FORMAT parquet, PARTITION_BY (shard))",
            [candidates_file.as_posix()],
        )
    finally:
        con.close()
    keys = []
    for folder in sorted(scratch.glob("shard=*")):
        key = shard_key(dataset, int(folder.name.removeprefix("shard=")))
        table = pq.read_table(sorted(folder.glob("*.parquet")), schema=CANDIDATES)
        pq.write_table(table.sort_by("sample_id"), out_dir / f"{key}.parquet")
        keys.append(key)
    shutil.rmtree(scratch)
    return sorted(keys)  # by shard number (the keys are zero-padded), as the folders are not


def _partition_table(table: pa.Table, dataset: str, shards: int, out_dir: Path) -> list[str]:
    """`partition` for candidates already in memory: the same files, without DuckDB."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shard_of_row = table["shard_hash"].to_numpy() % shards  # (rows,)
    keys = []
    for shard in np.unique(shard_of_row):
        key = shard_key(dataset, int(shard))
        pq.write_table(table.filter(pa.array(shard_of_row == shard)).sort_by("sample_id"), out_dir / f"{key}.parquet")
        keys.append(key)
    return keys
