"""One small interface per role. Images are RGB uint8 arrays of shape (H, W, 3).

Every role returns plain Python / numpy values so stages can write them to Arrow without knowing
which adapter produced them. Vectors are float32, one row per input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from storage.vocabulary import ANSWERS

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


@dataclass(frozen=True)
class JudgeCase:
    """Everything one judge sees for one query: is this pair a realistic, reliable rainy training
    sample, consistent with the real rainy references retrieved for it?"""

    rainy: np.ndarray                  # the query's rainy image
    clean: np.ndarray | None           # its clean ground truth (None when the sample is unpaired)
    references: Sequence[np.ndarray]   # its retrieved real rainy images (the K3 selected), best first
    context: ImageContext = field(default_factory=dict)  # dataset and ingest labels of the query


# A judge's answer for one case: one of ANSWERS (storage.vocabulary); `error` says why when the call failed.


@dataclass(frozen=True)
class Verdict:
    answer: str
    raw: str                           # the judge's raw output (model text, or measured values)
    latency_s: float
    error: str | None = None

    def __post_init__(self) -> None:
        if self.answer not in ANSWERS:
            raise ValueError(f"verdict answer {self.answer!r} is not one of {ANSWERS}")


class Judge(Protocol):
    """Votes on cases; one Verdict per case, in order. A failure on one case is that case's
    "error" verdict, never an exception that loses the others."""

    prompt_version: str                # version of the prompt template file ("" for non-prompted judges)
    prompt_hash: str                   # sha256 of the template text, stored with every vote

    def judge(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        ...


# The ensemble: three judges, each a role of its own so a profile can pin and swap them one by one.
JUDGE_ROLES = ("judge_1", "judge_2", "judge_3")

ROLES: dict[str, type] = {
    "quality": QualityScorer,
    "captioner": Captioner,
    "expander": CaptionExpander,
    "keywords": KeywordExtractor,
    "text_encoder": TextEncoder,      # descriptions (expanded captions) of queries and references
    "keyword_encoder": TextEncoder,   # keyword strings; MiniLM on both sides keeps L2 distances comparable
    "image_encoder": ImageEncoder,    # CLIP image tower (or weight-free descriptors offline)
    **{role: Judge for role in JUDGE_ROLES},
}
