"""A run that ends with nothing to show fails, and says why: no reference in the pool, no pair in RainRAG."""
from __future__ import annotations

import shutil

import pytest

from storage.catalog import query
from storage.store import Store

pytestmark = pytest.mark.slow


def run(corpus, datasets, tmp_path, offline_profile, **settings):
    from flows.distill import distill

    data = tmp_path / "data"
    for dataset in datasets:
        shutil.copytree(corpus / dataset, data / dataset)
    return data, lambda: distill(data_root=str(data), store=str(tmp_path / "store"), profile="offline",
                                 models_dir=str(offline_profile.models_dir), shard_size=64, k1=12, k2=5, k3=2,
                                 ssim_size=64, **settings)


def test_no_real_rainy_image_fails_before_retrieval_naming_the_reason(corpus_store, offline_profile, tmp_path,
                                                                     prefect_harness):
    from flows.distill import EmptyResult

    _, distill = run(corpus_store[0], ["Rain200H"], tmp_path, offline_profile)
    with pytest.raises(EmptyResult, match=r"the reference pool is empty: no real rainy image among the 15 samples"):
        distill()
    store = Store(tmp_path / "store")
    assert store.current_shards("embeddings") and not store.current_shards("retrievals")   # stopped there


def test_a_threshold_above_every_score_fails_naming_the_best_score(corpus_store, offline_profile, tmp_path,
                                                                  prefect_harness):
    from flows.distill import EmptyResult

    _, distill = run(corpus_store[0], ["Rain200H", "Real3000"], tmp_path, offline_profile, pool_threshold=100.0)
    with pytest.raises(EmptyResult, match=r"the pool threshold 100.0 removed all \d+ real rainy images \(best score "
                                          r"-?\d+\.\d\d\); lower --pool-threshold"):
        distill()


def test_only_public_test_pairs_fail_with_an_empty_rainrag_and_are_never_judged(corpus_store, offline_profile,
                                                                               tmp_path, prefect_harness):
    from flows.distill import EmptyResult

    data, distill = run(corpus_store[0], ["Rain200H", "Real3000"], tmp_path, offline_profile)
    shutil.rmtree(data / "Rain200H" / "rain_data_train_Heavy")   # its public test split alone
    with pytest.raises(EmptyResult, match=r"RainRAG has no pair: of 17 candidates, 12 unpaired \(references only\), "
                                          r"5 in public test splits; see: select stage, reason"):
        distill()
    store = Store(tmp_path / "store")
    assert query(store, "select count(*) as n from votes") == [{"n": 0}]
    assert not (tmp_path / "store" / "manifest.parquet").exists()
