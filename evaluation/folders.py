"""Score a folder of restored images against a folder of ground truths, paired by file stem.

This is how every number in the `results` table is made (the benchmark flow saves 8-bit PNGs and
scores the saved files) and what `python -m flows.benchmark --pred-dir P --gt-dir G` runs on outputs
made elsewhere, so released results of other methods are compared under the same protocol.

Pairing is strict: `x.png` in the predictions pairs with `x.*` in the ground truths; a stem present on
one side only, or twice on one side (`x.png` and `x.jpg`), is an error naming the files, never a
silently smaller mean. Sub-folders are not searched. Files are read at full depth, grey kept grey
(`evaluation.reading`); an image a protocol cannot score (smaller than its SSIM window) is an error
naming both files.

Means are over images. An identical pair has an infinite PSNR under every protocol without a cap: it
is counted (`identical`) and left out of the PSNR mean, which stays finite (+inf only when every pair
is identical); under a protocol with a cap (`pyiqa_default`: 80 dB) it scores the cap and is averaged
like any image, as that protocol's own tool does.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evaluation.lpips import Lpips
from evaluation.protocols import get_protocol
from storage.atomic import write_json
from evaluation.reading import as_rgb, read_for_scoring
from storage.paths import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImageScore:
    stem: str
    psnr: float
    ssim: float
    lpips: float | None = None
    identical: bool = False   # the restored image equals its ground truth


@dataclass
class FolderScore:
    """Per-image and mean scores of one prediction folder under one protocol."""

    protocol: str
    pred_dir: str
    gt_dir: str
    images: list[ImageScore] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.images)

    @property
    def identical(self) -> int:
        """Pairs whose restored image equals its ground truth (+inf PSNR, or the protocol's cap)."""
        return sum(s.identical for s in self.images)

    def mean(self, metric: str) -> float | None:
        """Mean over images (PSNR: of the per-image dB values, as the baselines average, identical pairs left
        out; +inf only if all are identical); None if unmeasured."""
        values = [getattr(s, metric) for s in self.images]
        if not values or any(v is None for v in values):
            return None
        if metric == "psnr":
            finite = [v for v in values if not math.isinf(v)]
            return float(np.mean(finite)) if finite else math.inf
        return float(np.mean(values))

    def to_json(self) -> dict:
        cap = get_protocol(self.protocol).psnr_cap
        return {"protocol": self.protocol, "pred_dir": self.pred_dir, "gt_dir": self.gt_dir, "n": self.n,
                "identical": self.identical, "psnr_cap": cap,
                "mean": {m: _json_number(self.mean(m)) for m in ("psnr", "ssim", "lpips")},
                "images": [{k: _json_number(v) for k, v in asdict(s).items()} for s in self.images]}


def _json_number(value):
    """JSON has no infinity: an exact match's +inf PSNR is written as the string "inf"."""
    return "inf" if isinstance(value, float) and math.isinf(value) else value


def images_by_stem(folder: Path) -> dict[str, Path]:
    """stem -> image file of a folder; two images with one stem are an error."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in found:
            raise ValueError(f"{folder}: {found[path.stem].name} and {path.name} share the stem {path.stem!r}; "
                             "keep one image per stem")
        found[path.stem] = path
    return found


def pair_by_stem(pred_dir: Path, gt_dir: Path) -> list[tuple[str, Path, Path]]:
    """(stem, restored file, ground-truth file) for every stem, in stem order; unmatched stems are an error."""
    preds, gts = images_by_stem(Path(pred_dir)), images_by_stem(Path(gt_dir))
    missing, extra = sorted(set(gts) - set(preds)), sorted(set(preds) - set(gts))
    problems = []
    if missing:
        problems.append(f"{len(missing)} ground truths in {gt_dir} have no restored image in {pred_dir} "
                        f"(e.g. {', '.join(missing[:3])})")
    if extra:
        problems.append(f"{len(extra)} restored images in {pred_dir} have no ground truth in {gt_dir} "
                        f"(e.g. {', '.join(extra[:3])})")
    if problems:
        raise ValueError("images are paired by file stem: " + "; ".join(problems))
    if not gts:
        raise ValueError(f"{gt_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return [(stem, preds[stem], gts[stem]) for stem in sorted(gts)]


def score_folders(pred_dir: Path, gt_dir: Path, protocols: list[str],
                  lpips: Lpips | None = None) -> dict[str, FolderScore]:
    """protocol -> FolderScore of `pred_dir` against `gt_dir`; each image pair is decoded once."""
    chosen = [get_protocol(name) for name in protocols]
    pairs = pair_by_stem(Path(pred_dir), Path(gt_dir))
    scores = {p.name: FolderScore(p.name, str(pred_dir), str(gt_dir)) for p in chosen}
    for stem, pred_path, gt_path in pairs:
        restored, reference = read_for_scoring(pred_path), read_for_scoring(gt_path)
        if restored.shape[:2] != reference.shape[:2]:
            raise ValueError(f"{pred_path} is {restored.shape[1]}×{restored.shape[0]} but its ground truth "
                             f"{gt_path} is {reference.shape[1]}×{reference.shape[0]}")
        distance = lpips(as_rgb(restored), as_rgb(reference)) if lpips is not None else None  # a network on RGB
        identical = restored.shape == reference.shape and np.array_equal(restored, reference)
        for protocol in chosen:
            try:
                score = ImageScore(stem, protocol.psnr(restored, reference), protocol.ssim(restored, reference),
                                   distance, identical)
            except ValueError as exc:
                raise ValueError(f"{pred_path} against {gt_path}, protocol {protocol.name}: {exc}") from exc
            scores[protocol.name].images.append(score)
    return scores


def write_scores_json(path: Path, scores: dict[str, FolderScore]) -> Path:
    """Per-image and mean values of every protocol, as {"protocols": {name: ...}}."""
    return write_json(Path(path), {"protocols": {name: s.to_json() for name, s in scores.items()}})
