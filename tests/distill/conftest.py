"""A private copy of the ingested sample corpus per test, and a fitted `offline` profile per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from models.pipeline.offline.niqe import fit_niqe
from models.pipeline.profiles import Profile, load_profile
from storage.store import Store
from tasks.image_batches import clean_loader


@pytest.fixture()
def store_copy(corpus_store, tmp_path) -> tuple[Path, Store, list[str]]:
    data, store_root, shards = corpus_store
    shutil.copytree(store_root, tmp_path / "store")
    return data, Store(tmp_path / "store"), shards


@pytest.fixture(scope="session")
def offline_profile(corpus_store, tmp_path_factory) -> Profile:
    """`offline` with its quality model fitted on the corpus's clean ground truth, in a private models dir."""
    data, store_root, shards = corpus_store
    models_dir = tmp_path_factory.mktemp("models")
    profile = load_profile("offline", models_dir=models_dir)
    rows = pa.concat_tables(Store(store_root).read_shard("samples", s) for s in shards).to_pylist()
    first_of_clean = {r["clean_hash"]: r for r in rows if r["clean_path"]}
    load = clean_loader(data)
    fit_niqe([load(r) for r in first_of_clean.values()], models_dir / profile.roles["quality"].model_id)
    return profile
