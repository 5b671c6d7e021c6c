"""Benchmark fixtures: a tiny UniRain trained for a few steps on the sample corpus, and private store copies."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.training.helpers import tiny_config
from training.layout import build_layout
from training.loop import train


@pytest.fixture(scope="session")
def tiny_run(corpus_store, tmp_path_factory) -> Path:
    """A run folder of flows.train's format: the tiny UniRain after 4 steps (checkpoints/ckpt-00000004.pt)."""
    data, store, _ = corpus_store
    root = tmp_path_factory.mktemp("bench-run")
    build_layout(store, data, root / "layout")
    train(tiny_config(steps=4, val_every=2, log_every=2), root / "layout" / "train", root / "run")
    return root / "run"


@pytest.fixture
def store_copy(corpus_store, tmp_path) -> Path:
    """A private copy of the ingested corpus store, free to write into."""
    _, store, _ = corpus_store
    return Path(shutil.copytree(store, tmp_path / "store", symlinks=True))
