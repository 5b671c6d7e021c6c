"""One small interface per role. Images are RGB uint8 arrays of shape (H, W, 3).

Every role returns plain Python / numpy values so stages can write them to Arrow without knowing
which adapter produced them. Vectors are float32, one row per input.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

# What a captioner may know about an image besides its pixels: the sample's dataset and the labels
# ingest derived from it. Neural captioners ignore it; the offline captioner states it plainly.
ImageContext = dict


class QualityScorer(Protocol):
    """No-reference image quality: higher is better. Scores are comparable across images."""

    def score(self, images: Sequence[np.ndarray]) -> np.ndarray:  # (N,) float32
        ...


class Captioner(Protocol):
    def caption(self, images: Sequence[np.ndarray], contexts: Sequence[ImageContext]) -> list[str]:
        ...


class CaptionExpander(Protocol):
    """Turns a short caption into a fuller description of the scene and its rain."""

    def expand(self, captions: Sequence[str]) -> list[str]:
        ...


class KeywordExtractor(Protocol):
    def keywords(self, texts: Sequence[str]) -> list[list[str]]:
        ...


class TextEncoder(Protocol):
    dim: int

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:  # (N, dim) float32
        ...


class ImageEncoder(Protocol):
    dim: int

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:  # (N, dim) float32
        ...


ROLES: dict[str, type] = {
    "quality": QualityScorer,
    "captioner": Captioner,
    "expander": CaptionExpander,
    "keywords": KeywordExtractor,
    "text_encoder": TextEncoder,      # descriptions (expanded captions) of queries and references
    "keyword_encoder": TextEncoder,   # keyword strings; MiniLM on both sides keeps L2 distances comparable
    "image_encoder": ImageEncoder,    # CLIP image tower (or weight-free descriptors offline)
}
