"""Known answers: labelled defects planted among the sample corpus's training pairs.

Distillation is only seen to distil, and the judges only measured, on data whose bad pairs are known.
After each dataset is written, about a third of its training pairs (PLANTED_SHARE) are spoilt in one
of the ways real rain datasets go wrong, and every pair is listed in `<corpus>/defects.csv` with its
label (`none` for a genuine pair):

  noise_not_rain      the rainy image is the clean one plus sensor noise: no rain at all
  flat_overlay        the rainy image is the clean one under a flat grey veil: no streak, no drop
  other_scene         the clean image is another scene
  shifted             the clean image is shifted sideways by 1/12 of its width
  rotated             the clean image is rotated by 8 degrees
  still_rainy         the clean image still has rain on it (other streaks of the same density)
  blurred             the clean image is blurred (Gaussian, sigma 2 px)
  noisy               the clean image has sensor noise (sigma 12 grey levels)
  copy_exact          the pair is a byte copy of another training pair of the dataset (`source`)
  copy_resized        ... a resized (0.8), JPEG re-encoded copy of another training pair
  copy_of_public_test ... a resized, re-encoded copy of a public test pair: a leak of the benchmark

Public test pairs are never spoilt (they are held out and not judged). A clean image that several
rainy images share (DDN-Data, GTAV-NightRain, SPA-Data) only gets the rainy-side defects, so that one
label never spoils its siblings. The defects draw from a random stream of their own, so the genuine
pairs are the same images with or without them.
"""
from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from corpus.photos import random_scene
from corpus.rain import blur

PLANTED_SHARE = 1 / 3
LABELS_FILE = "defects.csv"
RAINY_SIDE = ("noise_not_rain", "flat_overlay")
CLEAN_SIDE = ("other_scene", "shifted", "rotated", "still_rainy", "blurred", "noisy")
COPIES = ("copy_exact", "copy_resized", "copy_of_public_test")
KINDS = (*RAINY_SIDE, *CLEAN_SIDE, *COPIES)
GENUINE = "none"


@dataclass
class NotedPair:
    rainy: Path
    clean: Path
    split: str                   # train | test
    shared_clean: bool = False   # other rainy images have the same clean file
    halves: str | None = None    # side-by-side file: "rainy_left" | "clean_left"
    defect: str = GENUINE
    source: Path | None = None


_NOTED: ContextVar[list[NotedPair] | None] = ContextVar("noted_pairs", default=None)


def note_pair(rainy: Path, clean: Path, split: str, shared_clean: bool = False, halves: str | None = None) -> None:
    """Writers call this for each pair they write, so that defects can be planted (no-op otherwise)."""
    noted = _NOTED.get()
    if noted is not None:
        noted.append(NotedPair(Path(rainy), Path(clean), split, shared_clean, halves))


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def read_pair(pair: NotedPair) -> tuple[np.ndarray, np.ndarray]:
    if pair.halves is None:
        return load(pair.rainy), load(pair.clean)
    image = load(pair.rainy)
    left, right = np.split(image, 2, axis=1)
    return (left, right) if pair.halves == "rainy_left" else (right, left)


def write_pair(pair: NotedPair, rainy: np.ndarray | None, clean: np.ndarray | None) -> None:
    """Write new rainy and/or clean content at the pair's paths (None: that side unchanged)."""
    from corpus.layouts import save   # the writers' encoder settings (corpus.layouts imports this module)

    if pair.halves is None:
        if rainy is not None:
            save(pair.rainy, rainy)
        if clean is not None:
            save(pair.clean, clean)
        return
    old_rainy, old_clean = read_pair(pair)
    rainy, clean = old_rainy if rainy is None else rainy, old_clean if clean is None else clean
    save(pair.rainy, np.concatenate([rainy, clean] if pair.halves == "rainy_left" else [clean, rainy], axis=1))


def reencoded(image: np.ndarray, scale: float = 0.8, quality: int = 85) -> np.ndarray:
    """`image` resized by `scale` and through a JPEG of `quality`: another file of the same pair."""
    pil = Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))
    pil = pil.resize((max(8, round(pil.width * scale)), max(8, round(pil.height * scale))), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0


def spoil(kind: str, rainy: np.ndarray, clean: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(new rainy, new clean) of a rainy- or clean-side defect; None where a side stays."""
    from corpus.layouts import streaks   # (corpus.layouts imports this module)

    h, w = clean.shape[:2]
    if kind == "noise_not_rain":
        return np.clip(clean + rng.normal(0.0, 0.06, clean.shape), 0, 1).astype(np.float32), None
    if kind == "flat_overlay":
        return (0.7 * clean + 0.3 * 0.85).astype(np.float32), None
    if kind == "other_scene":
        return None, random_scene(rng, (h, w))
    if kind == "shifted":
        dx = max(4, w // 12)
        return None, np.concatenate([np.repeat(clean[:, :1], dx, axis=1), clean[:, :-dx]], axis=1)
    if kind == "rotated":
        pil = Image.fromarray(np.clip(np.rint(clean * 255), 0, 255).astype(np.uint8))
        return None, np.asarray(pil.rotate(8.0, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    if kind == "still_rainy":
        return None, streaks(clean, rng, "medium")
    if kind == "blurred":
        return None, blur(clean, 2.0)
    if kind == "noisy":
        return None, np.clip(clean + rng.normal(0.0, 12 / 255, clean.shape), 0, 1).astype(np.float32)
    raise ValueError(f"unknown defect {kind!r}")


def plant_defects(pairs: list[NotedPair], rng: np.random.Generator, used: Counter[str]) -> None:
    """Spoil about PLANTED_SHARE of the training pairs in place. Each gets the kind planted least often so
    far (`used`, counted across the corpus's datasets) among those that apply to it."""
    train = [p for p in pairs if p.split == "train"]
    tests = [p for p in pairs if p.split == "test" and not p.shared_clean]
    chosen = sorted(rng.choice(len(train), size=round(len(train) * PLANTED_SHARE), replace=False).tolist())
    sources = [p for i, p in enumerate(train) if i not in chosen and not p.shared_clean]
    for index in chosen:
        pair = train[index]
        applicable = [k for k in KINDS if not (pair.shared_clean and k not in RAINY_SIDE)
                      and not (k in COPIES and not (tests if k == "copy_of_public_test" else sources))]
        kind = min(applicable, key=lambda k: (used[k], KINDS.index(k)))
        used[kind] += 1
        if kind in COPIES:
            source = tests[int(rng.integers(len(tests)))] if kind == "copy_of_public_test" \
                else sources[int(rng.integers(len(sources)))]
            if kind == "copy_exact":
                shutil.copyfile(source.rainy, pair.rainy)
                if pair.halves is None:
                    shutil.copyfile(source.clean, pair.clean)
            else:
                rainy, clean = read_pair(source)
                write_pair(pair, reencoded(rainy), reencoded(clean))
            pair.source = source.rainy
        else:
            write_pair(pair, *spoil(kind, *read_pair(pair), rng))
        pair.defect = kind


def write_labels(out_dir: Path, noted: dict[str, list[NotedPair]]) -> Path:
    """`<out_dir>/defects.csv`: every noted pair with its label, paths relative to `out_dir`."""
    path = out_dir / LABELS_FILE
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "rainy_path", "clean_path", "split", "defect", "source"])
        for dataset, pairs in noted.items():
            for p in pairs:
                source = p.source.relative_to(out_dir).as_posix() if p.source else ""
                writer.writerow([dataset, p.rainy.relative_to(out_dir).as_posix(),
                                 p.clean.relative_to(out_dir).as_posix(), p.split, p.defect, source])
    return path


def read_labels(corpus_dir: Path) -> list[dict]:
    """The rows of `<corpus_dir>/defects.csv`."""
    path = Path(corpus_dir) / LABELS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: generate the corpus with `python -m corpus --out DIR`")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
