"""The corpus store after each stage, once per session, and a private copy of it per test (the fitted
`offline` profile and the fully distilled store are in tests/conftest.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage.stage import run_inline
from storage.store import Store
from tests.distill.stages import build


def private_copy(corpus_store, store_root: Path, tmp_path: Path) -> tuple[Path, Store, list[str]]:
    """(data root, a test's own copy of `store_root`, the sample shards)."""
    data, _, shards = corpus_store
    shutil.copytree(store_root, tmp_path / "store")
    return data, Store(tmp_path / "store"), shards


@pytest.fixture()
def store_copy(corpus_store, tmp_path) -> tuple[Path, Store, list[str]]:
    return private_copy(corpus_store, corpus_store[1], tmp_path)


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
