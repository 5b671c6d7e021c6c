"""Measured captions and their rule-based expansion: the `offline` captioner and expander.

Without a captioning network nothing can name objects, so the captioner says only what it measured,
and says so ("Measured description: ..."), in `; `-separated `field: value` parts:

  time     day or night: the dataset label, else measured from the median luminance;
  rain     the dataset label, else measured: thin bright near-vertical lines (streaks) or small round
           bright spots (possible drops), counted per 10,000 pixels;
  light    brightness and contrast words, with the mean luminance and RMS contrast;
  colours  the 2-3 most frequent colours of a 20-colour named palette (nearest in CIELAB), with shares;
  scene    structure: edge density, vertical vs horizontal edge energy, a bright smooth top (sky-like);
  source   real or synthetic rain, and the dataset.

Measured on the sample corpus (seeds 0 and 1): the rain kind, used only where a dataset has no
label, is right for 81-89 % of streak images and 43-53 % of drop images, and 67-74 % of clean images
measure as "no clear pattern"; the measured time of day agrees with the labels on 97-100 % of day
and 83-97 % of night images.

The expander turns such a caption into plain sentences by fixed rules (no language model), so the
caption -> expansion -> keywords chain has meaningful words offline. It drops the numbers and the
dataset name: retrieval should match scenes across datasets, not dataset names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color

from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.roles import ImageContext

PREFIX = "Measured description: "
EXPANSION_NOTE = "(Rule-based expansion of measured image properties.)"
WORK_SIDE = 256             # long side the measurements run at: enough for streaks, fast on millions
NIGHT_MEDIAN_LUMA = 0.2     # below: night (corpus: all day images above, 29 of 35 night images below)
STREAKS_PER_10K = 14.0      # corpus: rainy streak images median 18-36, clean images median 2-12
SPOTS_PER_10K = 12.0        # corpus: rainy drop images median 12-15, clean images median 3-12
EDGE_THRESHOLD = 0.08       # gradient magnitude (luminance per pixel) that counts as an edge

PALETTE = {
    "black": (15, 15, 15), "dark grey": (70, 70, 70), "grey": (128, 128, 128), "light grey": (190, 190, 190),
    "white": (245, 245, 245), "red": (200, 35, 35), "dark red": (115, 20, 25), "orange": (235, 125, 35),
    "brown": (120, 75, 40), "beige": (215, 190, 150), "yellow": (235, 215, 50), "olive": (115, 115, 40),
    "green": (50, 150, 50), "dark green": (25, 75, 35), "teal": (30, 125, 125), "light blue": (135, 190, 230),
    "blue": (35, 75, 195), "navy": (25, 30, 85), "purple": (115, 55, 145), "pink": (235, 150, 180),
}
PALETTE_NAMES = list(PALETTE)
PALETTE_LAB = color.rgb2lab(np.array([list(PALETTE.values())], dtype=np.float64) / 255.0)[0]  # (20, 3)


@dataclass(frozen=True)
class Measurements:
    mean_luma: float
    median_luma: float
    contrast: float                      # RMS contrast: standard deviation of luminance
    colours: list[tuple[str, float]]     # (palette name, share), most frequent first
    edge_density: float
    vertical_ratio: float                # energy of vertical edges / horizontal edges
    sky_like_top: bool                   # top third brighter than the rest and smoother
    streaks_per_10k: float
    spots_per_10k: float


def _working(image: np.ndarray) -> np.ndarray:
    """Float32 RGB in [0, 1], shrunk to WORK_SIDE on its long side (and at least 2 px a side, which
    gradients need)."""
    pil = Image.fromarray(np.ascontiguousarray(np.asarray(image, np.uint8))).convert("RGB")
    scale = min(1.0, WORK_SIDE / max(pil.size))
    size = (max(2, round(pil.width * scale)), max(2, round(pil.height * scale)))
    if size != pil.size:
        pil = pil.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(pil, dtype=np.float32) / 255.0


def dominant_colours(rgb: np.ndarray, top: int = 3, min_share: float = 0.1) -> list[tuple[str, float]]:
    """The `top` most frequent palette colours: the first always, the second unless it is a trace
    (under 2 %), the third only above `min_share`."""
    step = max(1, max(rgb.shape[:2]) // 64)                    # 64 px a side is plenty for shares
    lab = color.rgb2lab(rgb[::step, ::step]).reshape(-1, 1, 3)
    nearest = ((lab - PALETTE_LAB[None]) ** 2).sum(2).argmin(1)
    shares = np.bincount(nearest, minlength=len(PALETTE_NAMES)) / len(nearest)
    order = np.argsort(-shares, kind="stable")[:top]
    floors = [0.0, 0.02] + [min_share] * (top - 2)
    return [(PALETTE_NAMES[i], float(shares[i])) for i, floor in zip(order, floors) if shares[i] >= floor]


@dataclass(frozen=True)
class Shapes:
    """Per connected component of a mask: pixel count, major/minor axis ratio, major-axis angle from
    vertical (degrees, -90..90) and major-axis length (px), from second moments."""

    area: np.ndarray
    elongation: np.ndarray
    angle_deg: np.ndarray
    length: np.ndarray


def blob_shapes(mask: np.ndarray) -> Shapes:
    """Shapes of the 4-connected components of `mask`, all at once through weighted bincounts."""
    labels, n = ndimage.label(mask)
    ys, xs = np.nonzero(labels)
    index = labels[ys, xs] - 1
    area = np.bincount(index, minlength=n).astype(np.float64)
    if n == 0:
        return Shapes(area, area, area, area)
    dy = ys - (np.bincount(index, ys, n) / area)[index]
    dx = xs - (np.bincount(index, xs, n) / area)[index]
    # + 1/12: the variance of one pixel's own extent, so a single pixel is round, not a point.
    syy, sxx = np.bincount(index, dy * dy, n) / area + 1 / 12, np.bincount(index, dx * dx, n) / area + 1 / 12
    sxy = np.bincount(index, dx * dy, n) / area
    half_gap = np.sqrt(np.maximum(((syy - sxx) / 2) ** 2 + sxy**2, 0))
    major, minor = (syy + sxx) / 2 + half_gap, np.maximum((syy + sxx) / 2 - half_gap, 1e-6)
    angle = 0.5 * np.degrees(np.arctan2(2 * sxy, syy - sxx))
    return Shapes(area, np.sqrt(major / minor), angle, 4 * np.sqrt(major))


def rain_evidence(luma: np.ndarray, opened: np.ndarray) -> tuple[float, float]:
    """(streaks, spots) per 10,000 px: thin bright near-vertical lines, and small round bright spots.

    `opened` is `luma` after a 3 px grey opening, which removes exactly the bright structures thinner
    than 3 px: streak cross-sections.
    """
    per_10k = luma.size / 1e4
    thin = blob_shapes(luma - opened > 0.05)
    streaks = (thin.elongation > 3) & (np.abs(thin.angle_deg) < 40) & (thin.length >= 6)
    # A 9 px opening keeps bright spots up to drop size; round ones of 4-60 px are drop glints.
    blobs = blob_shapes(luma - ndimage.grey_opening(luma, size=(9, 9)) > 0.1)
    spots = (blobs.elongation < 1.8) & (blobs.area >= 4) & (blobs.area <= 60)
    return float(streaks.sum() / per_10k), float(spots.sum() / per_10k)


def _structure(opened: np.ndarray) -> tuple[float, float, bool]:
    """(edge density, vertical/horizontal edge energy, sky-like top) of the opened luminance, where
    thin streaks no longer pass for scene structure."""
    gy, gx = np.gradient(opened)
    edges = np.hypot(gx, gy) > EDGE_THRESHOLD
    third = max(1, opened.shape[0] // 3)
    top_brighter = opened[:third].mean() - opened[third:].mean() > 0.1
    top_smoother = edges[:third].mean() < 0.5 * max(edges[third:].mean(), 1e-6)
    ratio = float(np.abs(gx).sum() / max(np.abs(gy).sum(), 1e-6))
    return float(edges.mean()), ratio, bool(top_brighter and top_smoother)


def measure(image: np.ndarray) -> Measurements:
    rgb = _working(image)
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    opened = ndimage.grey_opening(luma, size=(3, 3))
    edge_density, vertical_ratio, sky = _structure(opened)
    streaks, spots = rain_evidence(luma, opened)
    return Measurements(float(luma.mean()), float(np.median(luma)), float(luma.std()), dominant_colours(rgb),
                        edge_density, vertical_ratio, sky, streaks, spots)


def _time(m: Measurements, context: ImageContext) -> str:
    if context.get("time_of_day"):
        return f"{context['time_of_day']} (dataset label)"
    measured = "night" if m.median_luma < NIGHT_MEDIAN_LUMA else "day"
    return f"{measured} (measured: median luminance {m.median_luma:.2f})"


def _rain(m: Measurements, context: ImageContext) -> str:
    labelled = {"streak": "streaks", "drop": "drops", "streak+drop": "streaks and drops"}
    if context.get("rain_type") in labelled:
        return f"{labelled[context['rain_type']]} (dataset label)"
    evidence = (f"measured: {m.streaks_per_10k:.0f} thin bright near-vertical lines and "
                f"{m.spots_per_10k:.0f} small round bright spots per 10,000 px")
    if m.streaks_per_10k >= STREAKS_PER_10K:
        kind = "streaks and possibly drops" if m.spots_per_10k >= SPOTS_PER_10K else "streaks"
    else:
        kind = "possibly drops" if m.spots_per_10k >= SPOTS_PER_10K else "no clear pattern"
    return f"{kind} ({evidence})"


def _light(m: Measurements) -> str:
    brightness = next(word for limit, word in ((0.2, "dark"), (0.4, "dim"), (0.65, "moderately bright"),
                                               (2.0, "bright")) if m.mean_luma < limit)
    contrast = next(word for limit, word in ((0.12, "low"), (0.22, "medium"), (2.0, "high")) if m.contrast < limit)
    return f"{brightness}, {contrast} contrast (mean luminance {m.mean_luma:.2f}, RMS contrast {m.contrast:.2f})"


def _scene(m: Measurements) -> str:
    if m.vertical_ratio >= 1.3:
        direction = "strong vertical structure"
    elif m.vertical_ratio <= 1 / 1.3:
        direction = "strong horizontal structure"
    else:
        direction = "mixed vertical and horizontal structure"
    if m.sky_like_top and m.edge_density < 0.15:
        kind = "open, landscape-like scene with a bright, smooth sky-like top"
    elif m.edge_density >= 0.15:
        kind = "cluttered, urban-like scene" if m.vertical_ratio >= 1.3 else "cluttered, detailed scene"
    elif m.edge_density < 0.05:
        kind = "smooth, close-up-like scene"
    else:
        kind = "moderately detailed scene"
    joiner = " and " if " with " in kind else " with "
    return f"{kind}{joiner}{direction} (edge density {m.edge_density:.2f}, vertical/horizontal {m.vertical_ratio:.2f})"


def _source(context: ImageContext) -> str | None:
    real = {True: "real rain", False: "synthetic rain"}.get(context.get("is_real"))
    dataset = f"dataset {context['dataset']}" if context.get("dataset") else None
    parts = [p for p in (real, dataset) if p]
    return ", ".join(parts) if parts else None


def describe_image(image: np.ndarray, context: ImageContext) -> str:
    m = measure(image)
    colours = ", ".join(f"{name} {share:.0%}" for name, share in m.colours)
    fields = [("time", _time(m, context)), ("rain", _rain(m, context)), ("light", _light(m)),
              ("colours", colours), ("scene", _scene(m)), ("source", _source(context))]
    return PREFIX + "; ".join(f"{name}: {value}" for name, value in fields if value) + "."


class DescriptiveCaptioner:
    """The Captioner role from measurements and dataset labels; it names no objects."""

    def caption(self, images: Sequence[np.ndarray], contexts: Sequence[ImageContext]) -> list[str]:
        if len(images) != len(contexts):
            raise ValueError(f"{len(images)} images but {len(contexts)} contexts")
        return [describe_image(image, context) for image, context in zip(images, contexts)]


def _provenance(value: str) -> tuple[str, str]:
    """(value without its parenthesised details, 'label' | 'measured' | '')."""
    details = " ".join(re.findall(r"\(([^)]*)\)", value))
    kind = "label" if "dataset label" in details else "measured" if "measured" in details else ""
    return re.sub(r"\s*\([^)]*\)", "", value).strip(), kind


def _time_sentence(value: str) -> str:
    word, kind = _provenance(value)
    scene = "a night scene" if word == "night" else "a daytime scene"
    return f"Apparently {scene}." if kind == "measured" else f"{scene.capitalize()}."


def _rain_sentence(value: str) -> str:
    kind, _ = _provenance(value)
    streaks, drops = "rain streaks fall across the frame", "raindrops cover the glass in front of the camera"
    sentences = {
        "streaks": f"{streaks.capitalize()}.",
        "drops": f"{drops.capitalize()}.",
        "streaks and drops": f"{streaks.capitalize()} and {drops}.",
        "streaks and possibly drops": f"{streaks.capitalize()}; small bright round spots may be raindrops.",
        "possibly drops": "Small bright round spots may be raindrops on the glass.",
        "no clear pattern": "The rain pattern is faint or unclear.",
    }
    return sentences.get(kind, f"Rain: {kind}.")


def _light_sentence(value: str) -> str:
    return f"The image is {_provenance(value)[0].replace(', ', ' with ')}."


def _colours_sentence(value: str) -> str:
    names = re.findall(r"([a-z][a-z ]*?)\s+\d+\s*%", value)
    if not names:
        return f"Its colours are mostly {value}."
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Its colours are mostly {listed}."


def _scene_sentence(value: str) -> str:
    words = _provenance(value)[0]
    article = "an" if words[:1] in "aeiou" else "a"
    return f"It shows {article} {words}."


def _source_sentence(value: str) -> str:
    if value.startswith("real rain"):
        return "A real photograph of rain."
    return "Synthetic rain rendered onto a clean photograph." if value.startswith("synthetic") else ""


SENTENCES = {"time": _time_sentence, "rain": _rain_sentence, "light": _light_sentence,
             "colours": _colours_sentence, "scene": _scene_sentence, "source": _source_sentence}


def expand_caption(caption: str) -> str:
    """Sentences from a measured description's fields; any other caption is kept as it is."""
    if not caption.startswith(PREFIX):
        return f"{caption.strip()} {EXPANSION_NOTE}"
    sentences = []
    for part in caption[len(PREFIX):].rstrip(".").split("; "):
        name, _, value = part.partition(": ")
        write = SENTENCES.get(name.strip())
        sentences.append(write(value.strip()) if write else f"{part.strip()}.")
    return " ".join(s for s in sentences if s) + f" {EXPANSION_NOTE}"


class DescriptiveExpander:
    """The CaptionExpander role by fixed rules: deterministic, and it says so."""

    def expand(self, captions: Sequence[str]) -> list[str]:
        return [expand_caption(caption) for caption in captions]


# Weight-free and option-free: the spec's batch size changes nothing for a per-image measurement.
def descriptive_captioner(spec: ModelSpec, profile: Profile) -> DescriptiveCaptioner:
    return DescriptiveCaptioner()


def descriptive_expander(spec: ModelSpec, profile: Profile) -> DescriptiveExpander:
    return DescriptiveExpander()
