"""Shared fixtures. Prefect tests share one temporary Prefect server for the whole session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

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
