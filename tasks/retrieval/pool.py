"""The reference pool: real rainy images that passed the quality threshold and, as the run's `review`
setting says, the manual selection of the review app, with the vectors retrieval searches and what the
exclusion rule needs.

Review modes (decisions: storage.reviews, made in the review app):
- off: every image above the threshold; decisions are not read;
- use: those, less the ones rejected in review;
- require: only the ones accepted in review.

Only the pool's rows are read: `quality` (small columns) says which shards hold pool members, and
only those shards' `embeddings` and `samples` rows are loaded, so the pool of a 2.4 M-sample store
costs what its few thousand real images cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage.fingerprint import content_hash
from storage.store import Store

# Quality scores are −(distance to the pristine model) (higher is better). With the `offline` scorer,
# clean photographs of the sample corpus score about −2.2 (median) and synthetic rainy ones about
# −3.3; −3.5 keeps the real rainy images at least as clean as a typical synthetic one [ours]. Tune it
# per scorer: every score is stored, so a new threshold only re-runs the quality stage.
POOL_THRESHOLD = -3.5
SAMPLE_FIELDS = ("sample_id", "dataset", "rainy_path", "rainy_path_raw", "side_by_side", "rainy_hash", "clean_hash",
                 "time_of_day", "rain_type")


@dataclass(frozen=True)
class Pool:
    rows: list[dict]          # the samples fields above, one per reference, in vector order
    text: np.ndarray          # (N, D_text) float32, the references' description vectors
    image: np.ndarray         # (N, D_image) float32, their image vectors
    fingerprint: str          # changes when a member or a vector changes: the index key

    def __len__(self) -> int:
        return len(self.rows)


def vectors(column: pa.ChunkedArray) -> np.ndarray:
    """A fixed-size-list column -> (N, D) float32."""
    flat = column.combine_chunks()
    width = flat.type.list_size
    return flat.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, width)  # (N, D)


REVIEW_MODES = ("off", "use", "require")


def _members(store: Store, shard: str, review: str, decisions: dict[str, str]) -> pa.Array | None:
    part = store.current_part("quality", shard)
    if part is None:
        return None
    quality = pq.read_table(part, columns=["sample_id", "in_pool", "status"])
    keep = pc.and_(pc.fill_null(quality["in_pool"], False), pc.equal(quality["status"], "ok"))
    if review == "use":
        keep = pc.and_(keep, pc.invert(pc.is_in(quality["sample_id"], _with(decisions, "rejected"))))
    elif review == "require":
        keep = pc.and_(keep, pc.is_in(quality["sample_id"], _with(decisions, "accepted")))
    ids = quality.filter(keep)["sample_id"]
    return ids.combine_chunks() if len(ids) else None


def _with(decisions: dict[str, str], decision: str) -> pa.Array:
    return pa.array([item for item, d in decisions.items() if d == decision], pa.string())


def load_pool(store: Store, shards: list[str], review: str = "off",
              decisions: dict[str, str] | None = None) -> Pool:
    """Every pool member with ok vectors, sorted by sample_id so the pool's order is stable.
    `decisions`: sample_id -> accepted | rejected, read by `review` use and require."""
    if review not in REVIEW_MODES:
        raise ValueError(f"review must be one of {', '.join(REVIEW_MODES)}, not {review!r}")
    rows, text, image = [], [], []
    for shard in shards:
        ids = _members(store, shard, review, decisions or {})
        if ids is None or store.current_part("embeddings", shard) is None:
            continue
        embeddings = store.read_shard("embeddings", shard)
        embeddings = embeddings.filter(pc.and_(pc.is_in(embeddings["sample_id"], ids),
                                               pc.equal(embeddings["status"], "ok")))
        samples = store.read_shard("samples", shard).select(list(SAMPLE_FIELDS))
        by_id = {r["sample_id"]: r for r in samples.filter(pc.is_in(samples["sample_id"], ids)).to_pylist()}
        rows.extend(by_id[i] for i in embeddings["sample_id"].to_pylist())
        text.append(vectors(embeddings["text_vec"]))
        image.append(vectors(embeddings["image_vec"]))
    if not rows:
        return Pool([], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), content_hash(b""))
    order = np.argsort([r["sample_id"] for r in rows], kind="stable")
    text_all, image_all = np.concatenate(text)[order], np.concatenate(image)[order]
    members = [rows[i] for i in order]
    digest = content_hash("\n".join(r["sample_id"] for r in members).encode() + text_all.tobytes() + image_all.tobytes())
    return Pool(members, text_all, image_all, digest)


def why_no_pool(store: Store, shards: list[str], threshold: float, review: str = "off",
                decisions: dict[str, str] | None = None) -> str:
    """Why no image is in the pool, from the quality rows: what a run with an empty pool fails with."""
    parts = [p for p in (store.current_part("quality", s) for s in shards) if p is not None]
    if not parts:
        return f"no quality rows in {store.root}: the quality stage has not run"
    quality = pa.concat_tables(pq.read_table(p, columns=["sample_id", "is_real", "rainy_quality", "in_pool", "status"])
                               for p in parts)
    real = quality.filter(pc.fill_null(quality["is_real"], False))
    scored = real.filter(pc.equal(real["status"], "ok"))
    passed = scored.filter(pc.fill_null(scored["in_pool"], False))
    if not real.num_rows:
        return (f"no real rainy image among the {quality.num_rows} samples: the pool is made of real rainy images "
                "(the datasets whose layout marks them real, such as SPA-Data or RealRain-1k); add one under "
                "the data root")
    if not scored.num_rows:
        return f"none of the {real.num_rows} real rainy images could be scored (see quality.error)"
    if not passed.num_rows:
        best = pc.max(scored["rainy_quality"]).as_py()
        return (f"the pool threshold {threshold} removed all {scored.num_rows} real rainy images (best score "
                f"{best:.2f}); lower --pool-threshold")
    verdicts = [(decisions or {}).get(i) for i in passed["sample_id"].to_pylist()]
    if review == "require" and "accepted" not in verdicts:
        return (f"review=require and none of the {passed.num_rows} real rainy images above the threshold is "
                "accepted in review: accept references in the review app (python -m review serve)")
    if review == "use" and all(v == "rejected" for v in verdicts):
        return f"all {passed.num_rows} real rainy images above the threshold were rejected in review"
    return f"none of the {passed.num_rows} real rainy images above the threshold has an image vector (see embeddings.error)"
