"""The retrieve stage on the ingested sample corpus with the `offline` profile."""
from __future__ import annotations

import pyarrow as pa

from storage.stage import plan, run_inline
from tests.distill.stages import build

SMALL = {"k1": 12, "k2": 5, "k3": 2, "ssim_size": 64}


def table(store, name, shards):
    return pa.concat_tables(store.read_shard(name, s) for s in shards)


def test_every_paired_query_gets_its_ranked_references_and_never_itself(embedded_copy, offline_profile):
    data, store, shards = embedded_copy   # every real image is a reference
    run_inline(store, build("retrieve", store, data, offline_profile, **SMALL), shards)
    samples = {r["sample_id"]: r for r in table(store, "samples", shards).to_pylist()}
    rows = table(store, "retrievals", shards).to_pylist()
    by_query: dict[str, list[dict]] = {}
    for row in rows:
        assert row["status"] == "ok"
        by_query.setdefault(row["query_id"], []).append(row)
    paired = {sid for sid, s in samples.items() if s["clean_path"]}
    assert set(by_query) == paired
    for query_id, refs in by_query.items():
        query = samples[query_id]
        assert [r["rank"] for r in refs] == list(range(1, SMALL["k2"] + 1))
        assert [r["selected"] for r in refs] == [r["rank"] <= SMALL["k3"] for r in refs]
        ssim = [r["s_ssim"] for r in refs]
        assert ssim == sorted(ssim, reverse=True)
        for r in refs:
            ref = samples[r["reference_id"]]
            assert ref["is_real"]
            assert r["reference_id"] != query_id and ref["rainy_hash"] != query["rainy_hash"]
            assert not (query["clean_hash"] and ref["clean_hash"] == query["clean_hash"])   # same source scene
    # real paired queries (SPA-Data) are in the pool themselves: the rule had something to exclude
    assert any(samples[q]["is_real"] for q in by_query)


def test_the_index_is_built_once_per_pool_and_a_new_pool_reruns_retrieval(embedded_copy, offline_profile):
    data, store, shards = embedded_copy
    run_inline(store, build("retrieve", store, data, offline_profile, **SMALL), shards)
    again = build("retrieve", store, data, offline_profile, **SMALL)
    assert plan(store, again, shards)[0] == []                    # same pool, same fingerprint: nothing to do
    assert len(list((store.root / "_indexes").glob("*.faiss"))) == 1
    run_inline(store, build("quality", store, data, offline_profile, pool_threshold=-3.5), shards)   # a stricter pool
    smaller = build("retrieve", store, data, offline_profile, **SMALL)
    assert len(plan(store, smaller, shards)[0]) == len(shards)
    run_inline(store, smaller, shards)
    assert len(list((store.root / "_indexes").glob("*.faiss"))) == 2
