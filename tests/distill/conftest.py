"""A private copy of the ingested sample corpus per test, and a fitted `offline` profile per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from models.pipeline.offline.niqe import fit_niqe
from models.pipeline.profiles import Profile, load_profile
from storage.images import clean_loader
from storage.stage import run_inline
from storage.store import Store
from tests.distill.stages import build, distil


def private_copy(corpus_store, store_root: Path, tmp_path: Path) -> tuple[Path, Store, list[str]]:
    """(data root, a test's own copy of `store_root`, the sample shards)."""
    data, _, shards = corpus_store
    shutil.copytree(store_root, tmp_path / "store")
    return data, Store(tmp_path / "store"), shards


@pytest.fixture()
def store_copy(corpus_store, tmp_path) -> tuple[Path, Store, list[str]]:
    return private_copy(corpus_store, corpus_store[1], tmp_path)


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


@pytest.fixture(scope="session")
def embedded_store(corpus_store, offline_profile, tmp_path_factory) -> Path:
    """The corpus store after quality (every real image in the pool), caption and embed, once per session."""

    data, store_root, shards = corpus_store
    root = tmp_path_factory.mktemp("embedded") / "store"
    shutil.copytree(store_root, root)
    for name in ("quality", "caption", "embed"):
        run_inline(Store(root), build(name, Store(root), data, offline_profile, pool_threshold=-1e9), shards)
    return root


@pytest.fixture()
def embedded_copy(corpus_store, embedded_store, tmp_path) -> tuple[Path, Store, list[str]]:
    return private_copy(corpus_store, embedded_store, tmp_path)


@pytest.fixture(scope="session")
def retrieved_store(corpus_store, embedded_store, offline_profile, tmp_path_factory) -> Path:
    """The embedded corpus store after a small retrieval (K3 = 2), once per session: the judges' input."""
    data, _, shards = corpus_store
    root = tmp_path_factory.mktemp("retrieved") / "store"
    shutil.copytree(embedded_store, root)
    store = Store(root)
    run_inline(store, build("retrieve", store, data, offline_profile, k1=12, k2=5, k3=2, ssim_size=64), shards)
    return root


@pytest.fixture()
def retrieved_copy(corpus_store, retrieved_store, tmp_path) -> tuple[Path, Store, list[str]]:
    return private_copy(corpus_store, retrieved_store, tmp_path)


@pytest.fixture(scope="session")
def distilled(corpus_store, offline_profile, tmp_path_factory) -> tuple[Path, Path]:
    """(data, store): a copy of the sample corpus distilled once through every stage and released as
    RainRAG 1.0 (tests.distill.stages.distil), for tests to copy."""
    root = tmp_path_factory.mktemp("distilled")
    shutil.copytree(corpus_store[0], root / "data")
    distil(root / "data", Store(root / "store"), offline_profile)
    return root / "data", root / "store"


@pytest.fixture()
def distilled_copy(distilled, tmp_path) -> tuple[Path, Store]:
    """A test's own copy of `distilled`: its data and its store, both free to change."""
    shutil.copytree(distilled[0], tmp_path / "data")
    shutil.copytree(distilled[1], tmp_path / "store")
    return tmp_path / "data", Store(tmp_path / "store")
