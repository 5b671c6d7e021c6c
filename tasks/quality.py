"""The quality stage: NR-IQA scores of every rainy and clean image, and the reference pool.

The paper builds its reference database from real rainy images that pass an IQA filter and a manual
selection. Every score is kept as a column; `in_pool` is only the threshold's verdict and `review`
starts `pending` for every pool member, for the manual selection to settle.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa

from models.pipeline.profiles import Profile
from models.pipeline.registry import load_role
from storage.images import clean_loader, rainy_loader
from storage.schemas import QUALITY
from storage.stage import handle_field, speed_field
from tasks.image_batches import MODEL_TIME, decoded_chunks

STAGE = "quality"
VERSION = "1"


def _score_images(rows: list[dict], first_of_clean: dict[str, dict], data_root: Path, scorer: Any,
                  chunk: int) -> tuple[dict[str, float], dict[str, str]]:
    """Scores and errors keyed by "rainy:<sample_id>" / "clean:<sample_id>".

    Rainy and clean images go through one stream of chunks, so decoding keeps overlapping the model
    from the first rainy chunk to the last clean one.
    """
    loaders = {"rainy": rainy_loader(data_root), "clean": clean_loader(data_root)}
    jobs = [{**row, "image": image, "sample_id": f"{image}:{row['sample_id']}"}
            for image, group in (("rainy", rows), ("clean", list(first_of_clean.values()))) for row in group]
    scores: dict[str, float] = {}
    errors: dict[str, str] = {}
    for part in decoded_chunks(jobs, lambda job: loaders[job["image"]](job), chunk):
        errors.update(part.errors)
        if part.images:
            values = MODEL_TIME.call(scorer.score, part.images)
            scores.update((job["sample_id"], float(v)) for job, v in zip(part.rows, values))
    return scores, errors


def score_shard(samples: pa.Table, scorer: Any, data_root: Path, pool_threshold: float, chunk: int) -> pa.Table:
    """One `quality` row per sample; a many-to-one clean image is decoded and scored once."""
    rows = samples.to_pylist()
    first_of_clean: dict[str, dict] = {}
    for row in rows:
        if row["clean_path"]:
            first_of_clean.setdefault(row["clean_hash"], row)
    scores, errors = _score_images(rows, first_of_clean, data_root, scorer, chunk)
    owner = {h: r["sample_id"] for h, r in first_of_clean.items()}   # clean hash -> the row that scored it
    out = []
    for row in rows:
        sid, key = row["sample_id"], row["clean_hash"]
        clean_job = f"clean:{owner[key]}" if key else None
        rainy, clean = scores.get(f"rainy:{sid}"), scores.get(clean_job)
        error = errors.get(f"rainy:{sid}") or errors.get(clean_job)
        in_pool = bool(row["is_real"]) and rainy is not None and rainy >= pool_threshold
        out.append({"sample_id": sid, "dataset": row["dataset"], "is_real": row["is_real"],
                    "rainy_quality": rainy, "clean_quality": clean,
                    "in_pool": in_pool, "review": "pending" if in_pool else None,
                    "status": "error" if error else "ok", "error": error})
    return pa.Table.from_pylist(out, schema=QUALITY)


@dataclass(frozen=True)
class QualityConfig:
    models: dict                               # identity of the profile's quality scorer
    pool_threshold: float                      # a real rainy image scoring at least this enters the pool
    batch_size: int = speed_field()
    profile: Profile = handle_field()
    data_root: Path = handle_field()

    @classmethod
    def from_run(cls, run: Any) -> QualityConfig:
        return cls(run.profile.identity("quality"), run.settings.pool_threshold,
                   run.profile.roles["quality"].batch_size, run.profile, run.data_root)


def compute(tables: Mapping[str, pa.Table], config: QualityConfig) -> dict[str, pa.Table]:
    """`samples` -> `quality` with the profile's quality scorer."""
    scorer = load_role(config.profile, "quality")
    return {"quality": score_shard(tables["samples"], scorer, config.data_root, config.pool_threshold,
                                   config.batch_size)}
