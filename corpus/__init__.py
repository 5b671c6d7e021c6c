"""Deterministic sample corpus: real photos under synthetic rain, in the on-disk layouts of 10 datasets.

`make demo` and the ingest tests need data that looks like the public rain datasets on disk, without
downloads and without committing images. `generate_corpus` writes it at run time from a seed; the same
seed always gives the same bytes.
"""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from corpus.defects import _NOTED, NotedPair, plant_defects, write_labels
from corpus.layouts import LAYOUTS

__all__ = ["DATASETS", "generate_corpus"]

# Dataset folder names, in the order they are generated.
DATASETS: tuple[str, ...] = tuple(LAYOUTS)


def generate_corpus(out_dir: Path, seed: int = 0, scale: int = 1, defects: bool = True) -> dict[str, int]:
    """Write the corpus under `out_dir` and return the number of rainy sample files per dataset folder.

    `scale` multiplies every dataset's item count (scale=1: about 170 rainy files, under 200 px a side).
    Each dataset draws from its own random stream, derived from `seed` and its name, so one dataset's
    counts never shift another's images. With `defects`, about a third of the training pairs are spoilt
    (corpus.defects); every pair and its label is in `<out_dir>/defects.csv` either way. Existing files
    with the same names are overwritten.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    noted: dict[str, list[NotedPair]] = {}
    planted: Counter[str] = Counter()   # defects of each kind so far, across datasets
    for name, writer in LAYOUTS.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        token = _NOTED.set(noted.setdefault(name, []))
        try:
            counts[name] = writer(out_dir / name, rng, scale)
        finally:
            _NOTED.reset(token)
        if defects:
            plant_defects(noted[name], np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), 1]), planted)
    write_labels(out_dir, noted)
    return counts
