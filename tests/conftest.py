"""Shared fixtures. Prefect tests share one temporary Prefect server for the whole session; the sample
corpus, the fitted `offline` profile and the distilled corpus are made once per session too."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from models.pipeline.profiles import Profile
    from storage.store import Store

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """(data root, store root, sample shards): the sample corpus ingested in-process, once per session,
    without its planted defects: tests here check the stages on genuine pairs (the defects have theirs:
    tests/test_corpus_defects.py and tests/distill/test_known_answers.py).

    Shared by every test that reads it: copy the store before writing into it.
    """
    from corpus import generate_corpus
    from storage.store import Store
    from tasks.dag import ingest_into_store

    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(root / "data", seed=0, scale=1, defects=False)
    shards = ingest_into_store(root / "data", Store(root / "store"), shard_size=64)
    return root / "data", root / "store", shards


@pytest.fixture(scope="session")
def offline_profile(corpus_store, tmp_path_factory) -> Profile:
    """`offline` with its quality model fitted on the corpus's clean ground truth, in a private models dir."""
    import pyarrow as pa

    from models.pipeline.offline.niqe import fit_niqe
    from models.pipeline.profiles import load_profile
    from storage.images import clean_loader
    from storage.store import Store

    data, store_root, shards = corpus_store
    models_dir = tmp_path_factory.mktemp("models")
    profile = load_profile("offline", models_dir=models_dir)
    rows = pa.concat_tables(Store(store_root).read_shard("samples", s) for s in shards).to_pylist()
    first_of_clean = {r["clean_hash"]: r for r in rows if r["clean_path"]}
    load = clean_loader(data)
    fit_niqe([load(r) for r in first_of_clean.values()], models_dir / profile.roles["quality"].model_id)
    return profile


@pytest.fixture(scope="session")
def distilled(corpus_store, offline_profile, tmp_path_factory) -> tuple[Path, Path]:
    """(data, store): a copy of the sample corpus distilled once through every stage and released as
    RainRAG 1.0 (tests.distill.stages.distil), for tests to copy."""
    from storage.store import Store
    from tests.distill.stages import distil

    root = tmp_path_factory.mktemp("distilled")
    shutil.copytree(corpus_store[0], root / "data")
    distil(root / "data", Store(root / "store"), offline_profile)
    return root / "data", root / "store"


@pytest.fixture()
def distilled_copy(distilled, tmp_path) -> tuple[Path, Store]:
    """A test's own copy of `distilled`: its data and its store, both free to change."""
    from storage.store import Store

    shutil.copytree(distilled[0], tmp_path / "data")
    shutil.copytree(distilled[1], tmp_path / "store")
    return tmp_path / "data", Store(tmp_path / "store")
