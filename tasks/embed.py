"""The embed stage: description, keyword and image vectors of every sample, for retrieval.

Text vectors come from the captions table (the expanded caption is the description; keywords are
joined with ", "), image vectors from the rainy image. Vectors are stored as fixed-size float16
lists; a sample whose caption failed or whose image cannot be read is an error row without vectors.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from models.pipeline.registry import load_role
from storage.images import rainy_loader
from storage.schemas import embeddings_schema
from tasks.image_batches import MODEL_TIME, decoded_chunks
from tasks.run_context import ModelsConfig

STAGE = "embed"
VERSION = "1"
ROLES = ("text_encoder", "keyword_encoder", "image_encoder")


def _vectors(matrix: np.ndarray, ok: np.ndarray) -> pa.FixedSizeListArray:
    """(N, D) float32 -> N fixed-size float16 lists, null where `ok` is False."""
    values = pa.array(matrix.astype(np.float16).reshape(-1))   # (N*D,)
    return pa.FixedSizeListArray.from_arrays(values, matrix.shape[1], mask=pa.array(~ok))


def _image_vectors(rows: list[dict], encoder: Any, data_root: Path, chunk: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    vectors: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for part in decoded_chunks(rows, rainy_loader(data_root), chunk):
        errors.update(part.errors)
        if part.images:
            matrix = MODEL_TIME.call(encoder.encode_images, part.images)   # (n, D)
            vectors.update((row["sample_id"], v) for row, v in zip(part.rows, matrix))
    return vectors, errors


def embed_shard(samples: pa.Table, captions: pa.Table, models: Mapping[str, Any], data_root: Path, chunk: int) -> pa.Table:
    caption_of = {c["sample_id"]: c for c in captions.to_pylist()}
    rows = [r for r in samples.to_pylist() if r["sample_id"] in caption_of]
    errors = {r["sample_id"]: f"caption failed: {caption_of[r['sample_id']]['error']}"
              for r in rows if caption_of[r["sample_id"]]["status"] != "ok"}
    todo = [r for r in rows if r["sample_id"] not in errors]
    images, image_errors = _image_vectors(todo, models["image_encoder"], data_root, chunk)
    errors.update(image_errors)
    ids = [r["sample_id"] for r in rows]
    ok = np.array([i not in errors for i in ids], dtype=bool)
    good = [i for i in ids if i not in errors]
    descriptions = [caption_of[i]["expansion"] for i in good]
    keywords = [", ".join(caption_of[i]["keywords"] or []) for i in good]
    text, keyword, image = (np.zeros((len(ids), m.dim), np.float32)
                            for m in (models["text_encoder"], models["keyword_encoder"], models["image_encoder"]))
    if good:
        text[ok] = MODEL_TIME.call(models["text_encoder"].encode_texts, descriptions)
        keyword[ok] = MODEL_TIME.call(models["keyword_encoder"].encode_texts, keywords)
        image[ok] = np.stack([images[i] for i in good])
    schema = embeddings_schema(text.shape[1], keyword.shape[1], image.shape[1])
    return pa.table([pa.array(ids, pa.string()), _vectors(text, ok), _vectors(keyword, ok), _vectors(image, ok),
                     pa.array(["ok" if k else "error" for k in ok], pa.string()),
                     pa.array([errors.get(i) for i in ids], pa.string())], schema=schema)


@dataclass(frozen=True)
class EmbedConfig(ModelsConfig):
    """The text, keyword and image encoders' identity; images per image-encoder call."""
    ROLES = ROLES
    BATCH_ROLE = "image_encoder"


def compute(tables: Mapping[str, pa.Table], config: EmbedConfig) -> dict[str, pa.Table]:
    """`captions` + `samples` -> `embeddings` with the profile's encoders."""
    models = {role: load_role(config.profile, role) for role in ROLES}
    return {"embeddings": embed_shard(tables["samples"], tables["captions"], models, config.data_root,
                                      config.batch_size)}
