"""The caption stage: caption → expansion → keywords for the rainy image of every sample.

All three steps are kept, so a retrieval result can always be traced back to the words it came from.
Expansion and keywords run over the whole shard's captions at once (text is small); the adapters
batch internally by their profile's batch size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa

from models.pipeline.registry import load_role
from storage.images import rainy_loader
from storage.schemas import CAPTIONS
from tasks.image_batches import MODEL_TIME, decoded_chunks
from tasks.run_context import ModelsConfig

STAGE = "caption"
VERSION = "1"
ROLES = ("captioner", "expander", "keywords")
CONTEXT_FIELDS = ("dataset", "time_of_day", "rain_type", "is_real")


def caption_shard(samples: pa.Table, models: Mapping[str, Any], data_root: Path, chunk: int) -> pa.Table:
    """One `captions` row per sample; an unreadable image is an error row with the reason."""
    rows = samples.to_pylist()
    captions: dict[str, str] = {}
    errors: dict[str, str] = {}
    for part in decoded_chunks(rows, rainy_loader(data_root), chunk):
        errors.update(part.errors)
        if part.images:
            contexts = [{k: row[k] for k in CONTEXT_FIELDS} for row in part.rows]
            texts = MODEL_TIME.call(models["captioner"].caption, part.images, contexts)
            captions.update((row["sample_id"], text) for row, text in zip(part.rows, texts))
    ids = list(captions)
    expansions = dict(zip(ids, MODEL_TIME.call(models["expander"].expand, [captions[i] for i in ids]))) if ids else {}
    keywords = dict(zip(ids, MODEL_TIME.call(models["keywords"].keywords, [expansions[i] for i in ids]))) if ids else {}
    out = [{"sample_id": row["sample_id"], "caption": captions.get(row["sample_id"]),
            "expansion": expansions.get(row["sample_id"]), "keywords": keywords.get(row["sample_id"]),
            "status": "error" if row["sample_id"] in errors else "ok", "error": errors.get(row["sample_id"])}
           for row in rows]
    return pa.Table.from_pylist(out, schema=CAPTIONS)


@dataclass(frozen=True)
class CaptionConfig(ModelsConfig):
    """The captioner's, expander's and keyword extractor's identity; images per captioner call."""
    ROLES = ROLES
    BATCH_ROLE = "captioner"


def compute(tables: Mapping[str, pa.Table], config: CaptionConfig) -> dict[str, pa.Table]:
    """`samples` -> `captions` with the profile's captioner, expander and keyword extractor."""
    models = {role: load_role(config.profile, role) for role in ROLES}
    return {"captions": caption_shard(tables["samples"], models, config.data_root, config.batch_size)}
