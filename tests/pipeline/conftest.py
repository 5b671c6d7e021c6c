"""The `tiny` profile's models, built once per test session, and a few real photographs."""
from __future__ import annotations

import numpy as np
import pytest

from models.pipeline.profiles import Profile
from models.pipeline.tiny import build_tiny_models, sample_photos


@pytest.fixture(scope="session")
def tiny_profile(tmp_path_factory) -> Profile:
    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Three real photographs of different sizes and aspect ratios, RGB uint8 (H, W, 3)."""
    sizes = [(64, 64), (48, 80), (90, 60)]
    return [sample_photos(3, seed=1, size=size)[i] for i, size in enumerate(sizes)]
