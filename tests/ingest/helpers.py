"""Run discovery + the ingest stage in-process (no Prefect), the way one engine worker would."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.images import DEFAULT_MAX_PIXELS
from storage.sources.registry import load_registry, locate
from tasks.ingest import ingest_shard, plan_dataset


def ingest_in_process(data_root: Path, staging: Path, layouts: list[Path] = (),
                      max_pixels: int = DEFAULT_MAX_PIXELS, shard_size: int = 2048) -> dict[str, pa.Table]:
    """{'samples', 'rejects'} of every dataset under data_root, concatenated and sorted by sample_id."""
    located, _ = locate(data_root, load_registry(layouts))
    staging.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[pa.Table]] = {"samples": [], "rejects": []}
    for item in located:
        keys, _ = plan_dataset(item, data_root, staging, shard_size)
        for key in keys:
            for table, data in ingest_shard(pq.read_table(staging / f"{key}.parquet"), data_root, max_pixels).items():
                out[table].append(data)
    return {t: pa.concat_tables(parts).sort_by("sample_id") for t, parts in out.items() if parts}
