"""Training fixtures: the authors' layout built once per session from the ingested sample corpus."""
from __future__ import annotations

from pathlib import Path

import pytest

from training.layout import build_layout


@pytest.fixture(scope="session")
def layout(corpus_store, tmp_path_factory) -> Path:
    """The authors' layout of the corpus (symlinks); train/ and test/ inside."""
    data, store, _ = corpus_store
    out = tmp_path_factory.mktemp("layout")
    build_layout(store, data, out)
    return out
