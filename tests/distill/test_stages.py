"""quality → caption → embed on the ingested sample corpus with the `offline` profile, in-process."""
from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa

from storage.stage import run_inline
from tests.distill.stages import build


def run_all(data, store, shards, profile, threshold=-1e9):
    for name in ("quality", "caption", "embed"):
        run_inline(store, build(name, store, data, profile, pool_threshold=threshold), shards)
    return {t: pa.concat_tables(store.read_shard(t, s) for s in shards)
            for t in ("samples", "quality", "captions", "embeddings")}


def test_every_sample_gets_scores_captions_and_vectors(store_copy, offline_profile):
    data, store, shards = store_copy
    tables = run_all(data, store, shards, offline_profile)
    samples, quality, captions, embeddings = (tables[t].sort_by("sample_id").to_pylist()
                                              for t in ("samples", "quality", "captions", "embeddings"))
    ids = [r["sample_id"] for r in samples]
    assert [r["sample_id"] for r in quality] == [r["sample_id"] for r in captions] == ids
    assert [r["sample_id"] for r in embeddings] == ids
    assert all(r["status"] == "ok" for table in (quality, captions, embeddings) for r in table)
    for sample, q in zip(samples, quality):
        assert np.isfinite(q["rainy_quality"])
        assert (q["clean_quality"] is None) == (sample["clean_path"] is None)
        # threshold -1e9: every real image is in the pool, pending review; no synthetic image is
        assert q["in_pool"] == bool(sample["is_real"]) and q["review"] == ("pending" if sample["is_real"] else None)
    for c in captions:
        assert c["caption"] and c["expansion"] and c["keywords"]
    schema = tables["embeddings"].schema
    assert schema.field("text_vec").type == pa.list_(pa.float16(), 384)
    assert schema.field("keyword_vec").type == pa.list_(pa.float16(), 384)
    image = np.array(tables["embeddings"].column("image_vec").to_pylist(), dtype=np.float32)
    assert image.shape[0] == len(ids)
    assert np.allclose(np.linalg.norm(image, axis=1), 1.0, atol=1e-2)


def test_pool_threshold_only_reruns_quality(store_copy, offline_profile):
    data, store, shards = store_copy
    run_all(data, store, shards, offline_profile)
    strict = build("quality", store, data, offline_profile, pool_threshold=1e9)
    assert len(run_inline(store, strict, shards)) == len(shards)
    assert run_inline(store, build("caption", store, data, offline_profile, pool_threshold=1e9), shards) == []
    quality = pa.concat_tables(store.read_shard("quality", s) for s in shards)
    assert not any(quality.column("in_pool").to_pylist())


def test_unreadable_image_is_an_error_row_naming_the_file(store_copy, offline_profile):
    data, store, shards = store_copy
    victim = store.read_shard("samples", shards[0]).to_pylist()[0]
    broken = store.root.parent / "broken"
    shutil.copytree(data, broken)
    (broken / victim["rainy_path"]).write_bytes(b"not an image any more")
    tables = run_all(broken, store, shards, offline_profile)
    for table in ("quality", "captions", "embeddings"):
        rows = {r["sample_id"]: r for r in tables[table].to_pylist()}
        assert rows[victim["sample_id"]]["status"] == "error"
        assert victim["rainy_path"].split("/")[-1] in rows[victim["sample_id"]]["error"]
        assert sum(r["status"] == "ok" for r in rows.values()) == len(rows) - 1
