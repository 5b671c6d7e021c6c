"""The `offline` judges: three independent, weight-free judges that measure what a VLM judge is asked.

Each looks at one way a training pair can be bad, so their majority means something on the demo:

  rain_layer_judge   the rain layer (rainy - clean) must be rain: present, brighter than the scene it
                     covers rather than a different scene, and of a strength seen in the real rainy
                     references. A reference has no clean image, so its rain layer is estimated as what
                     a grey opening removes: the bright structures thinner than the opening.
  background_judge   the two backgrounds must be the same, aligned scene: once blurred past the rain, the
                     rainy and clean images correlate strongly, at zero offset (phase correlation).
  clean_image_judge  the ground truth itself must be clean: sharp (Crete et al.'s re-blur measure,
                     SPIE 2007) and without sensor noise (Immerkaer's estimate, CVIU 1996).

Each verdict's `raw` holds the reason, the measured values and the thresholds they were held to, as
JSON, so a vote can be read and re-decided later. A judge with nothing to measure (no clean image)
abstains. Thresholds are options (fingerprinted through the profile). Their defaults sit near the 5th
or 95th percentile of the 158 genuine pairs of the sample corpus (`python -m corpus --out DIR`, seed
0, references drawn from its real rainy images), so each judge turns down the worst few percent of a
corpus on its own measure. On that corpus (seed 0):

  pairs                          rain_layer no   background no   clean_image no   kept (>= 2 of 3)
  genuine                          28 / 158         6 / 158         17 / 158         150 / 158
  clean image = rainy image       158               0               26               132
  clean image of another scene     82             155               26                63
  clean image shifted by 1/16      53             158               20                94
  clean image blurred (sigma 2)    27               7              157               125
  clean image + noise (sigma 12)   27               7              158               125

Each defect is caught by the judge that targets it; the majority alone cannot reject a defect only one
judge sees, which is why the three measure different things.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from models.pipeline.loading import parse_options
from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.roles import JudgeCase, Verdict

# Side every image is shrunk to for the rain-layer and background measures: enough to see streaks.
WORK_SIDE = 256
# Smallest side a judge measures: the background blur and the 9 px re-blur need a few pixels around them.
MIN_SIDE = 16


def luma(image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Rec. 601 luminance in [0, 1], float32 (H, W); resized to `size` = (H, W), or shrunk to WORK_SIDE.
    An image too small to measure (or not an image) is a ValueError, which the judge records."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or min(array.shape[:2]) < MIN_SIDE:
        raise ValueError(f"an image of shape {array.shape} cannot be measured: need (H, W, 3) with H, W >= {MIN_SIDE}")
    pil = Image.fromarray(np.ascontiguousarray(array.astype(np.uint8, copy=False))).convert("L")
    if size is None:
        scale = min(1.0, WORK_SIDE / max(pil.size))
        size = (max(8, round(pil.height * scale)), max(8, round(pil.width * scale)))
    if size != (pil.height, pil.width):
        pil = pil.resize(size[::-1], Image.Resampling.BILINEAR)
    return np.asarray(pil, dtype=np.float32) / 255.0


def opened_residual(y: np.ndarray, width: int) -> np.ndarray:
    """White top-hat: what a grey opening `width` px wide removes, i.e. bright structures thinner than
    it — rain streaks and drops on a real rainy image. (H, W), >= 0."""
    return y - ndimage.grey_opening(y, size=(width, width))


def phase_offset(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """The integer (dy, dx) that best aligns `b` onto `a`, from the peak of their phase correlation."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))    # (H, W), damps the borders
    fa, fb = np.fft.fft2((a - a.mean()) * window), np.fft.fft2((b - b.mean()) * window)
    cross = fa * np.conj(fb)
    surface = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    # Peaks past the middle are negative offsets (the FFT wraps around).
    return (int(dy - a.shape[0]) if dy > a.shape[0] // 2 else int(dy),
            int(dx - a.shape[1]) if dx > a.shape[1] // 2 else int(dx))


def crete_blur(y: np.ndarray) -> float:
    """Crete et al.'s perceptual blur in [0, 1] (0 sharp, 1 flat): how little a 9 px box re-blur
    changes the image's neighbour differences. A sharp image loses much, a blurred one little."""
    diffs = []
    for axis in (0, 1):
        reblurred = ndimage.uniform_filter1d(y, 9, axis=axis)
        d_image = np.abs(np.diff(y, axis=axis))
        d_reblurred = np.abs(np.diff(reblurred, axis=axis))
        lost = np.maximum(0.0, d_image - d_reblurred).sum()
        total = d_image.sum()
        diffs.append(1.0 if total <= 0 else float((total - lost) / total))
    return max(diffs)


def immerkaer_noise(y: np.ndarray, flat_share: float = 0.3) -> float:
    """Immerkaer's estimate of additive Gaussian noise sigma, in 0-255 grey levels: the mean absolute
    response to a Laplacian-difference kernel that cancels smooth structure, taken over the flattest
    `flat_share` of the pixels (by smoothed gradient), where texture cannot pass for noise."""
    if min(y.shape) < 5:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(ndimage.convolve(y * 255.0, kernel))[1:-1, 1:-1]      # (H-2, W-2), borders dropped
    gy, gx = np.gradient(ndimage.gaussian_filter(y * 255.0, 1.0))
    gradient = np.hypot(gy, gx)[1:-1, 1:-1]                                 # (H-2, W-2)
    flat = gradient <= np.quantile(gradient, flat_share)
    return float(np.sqrt(np.pi / 2) * response[flat].mean() / 6.0)


class RainLayerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    opening_px: int = Field(5, ge=3)                # bright structures thinner than this count as rain
    min_rain: float = Field(0.005, ge=0)            # mean |rainy - clean| below this: no rain in the pair
    min_brighter: float = Field(0.55, ge=0, le=1)   # share of the layer's energy that brightens the scene
    max_ratio: float = Field(3.0, gt=1)             # query's rain vs the references' median, either way


class BackgroundOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    blur_sigma: float = Field(3.0, gt=0)               # px at WORK_SIDE: blurs rain away, keeps the scene
    min_correlation: float = Field(0.9, ge=-1, le=1)   # of the blurred luminances; genuine pairs: median 0.99
    max_offset_px: int = Field(2, ge=0)                # phase-correlation offset at WORK_SIDE


class CleanImageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_blur: float = Field(0.4, ge=0, le=1)   # Crete blur of the clean image; genuine: median 0.28
    max_noise: float = Field(5.0, ge=0)        # Immerkaer sigma over flat pixels, 0-255 levels; genuine: median 1.6


def _verdict(answer: str, measured: dict[str, Any], thresholds: BaseModel, started: float) -> Verdict:
    measured = dict(measured)
    reason = measured.pop("reason")
    raw = json.dumps({"reason": reason, "measured": measured, "thresholds": thresholds.model_dump()}, sort_keys=True)
    return Verdict(answer=answer, raw=raw, latency_s=time.perf_counter() - started)


def _round(values: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 5) for key, value in values.items()}


def judge_rain_layer(case: JudgeCase, o: RainLayerOptions) -> tuple[str, dict[str, Any]]:
    if case.clean is None:
        return "abstain", {"reason": "no clean image: the pair has no rain layer to measure"}
    rainy = luma(case.rainy)
    clean = luma(case.clean, rainy.shape)
    layer = rainy - clean                                          # (H, W), in [-1, 1]
    strength = float(np.abs(layer).mean())
    brighter = float(np.clip(layer, 0, None).sum() / max(np.abs(layer).sum(), 1e-9))
    # References have no clean image, so their rain is what the opening removes; the query's is
    # measured by the same estimator on its rainy image, so that like is compared with like. (Its
    # top-hat minus the clean image's is no better: rain veils the scene's own thin bright details.)
    query_rain = float(opened_residual(rainy, o.opening_px).mean())
    ref_rain = [float(opened_residual(luma(ref), o.opening_px).mean()) for ref in case.references]
    measured: dict[str, Any] = _round({"strength": strength, "brighter": brighter, "query_rain": query_rain})
    if strength < o.min_rain:
        return "no", {**measured, "reason": "no rain: rainy and clean images are almost equal"}
    if brighter < o.min_brighter:
        return "no", {**measured, "reason": "the difference darkens as much as it brightens: not a rain layer"}
    if not ref_rain:
        return "yes", {**measured, "reason": "rain present; no references to compare its strength with"}
    reference = float(np.median(ref_rain))
    ratio = max(query_rain, 1e-6) / max(reference, 1e-6)
    measured.update(_round({"reference_rain": reference, "ratio": ratio}))
    if not 1 / o.max_ratio <= ratio <= o.max_ratio:
        return "no", {**measured, "reason": "rain strength unlike the real rainy references"}
    return "yes", {**measured, "reason": "rain present, brightening, as strong as the references"}


def judge_background(case: JudgeCase, o: BackgroundOptions) -> tuple[str, dict[str, Any]]:
    if case.clean is None:
        return "abstain", {"reason": "no clean image: no pair to align"}
    rainy = luma(case.rainy)
    clean = luma(case.clean, rainy.shape)
    low_rainy = ndimage.gaussian_filter(rainy, o.blur_sigma)
    low_clean = ndimage.gaussian_filter(clean, o.blur_sigma)
    correlation = float(np.corrcoef(low_rainy.ravel(), low_clean.ravel())[0, 1]) \
        if low_rainy.std() > 1e-6 and low_clean.std() > 1e-6 else 0.0
    dy, dx = phase_offset(low_rainy, low_clean)
    measured: dict[str, Any] = {"correlation": round(correlation, 5), "offset_px": [dy, dx]}
    if correlation < o.min_correlation:
        return "no", {**measured, "reason": "backgrounds disagree: another scene or another exposure"}
    if max(abs(dy), abs(dx)) > o.max_offset_px:
        return "no", {**measured, "reason": "backgrounds are shifted against each other"}
    return "yes", {**measured, "reason": "same scene, aligned"}


def judge_clean_image(case: JudgeCase, o: CleanImageOptions) -> tuple[str, dict[str, Any]]:
    if case.clean is None:
        return "abstain", {"reason": "no clean image to assess"}
    clean = luma(case.clean, size=np.asarray(case.clean).shape[:2])   # full size: blur and noise are per pixel
    measured: dict[str, Any] = _round({"blur": crete_blur(clean), "noise": immerkaer_noise(clean)})
    if measured["blur"] > o.max_blur:
        return "no", {**measured, "reason": "the clean image is blurred"}
    if measured["noise"] > o.max_noise:
        return "no", {**measured, "reason": "the clean image is noisy"}
    return "yes", {**measured, "reason": "the clean image is sharp and noise-free"}


class MeasuredJudge:
    """One offline judge: a measure-and-decide function applied case by case. Not prompted, so its
    prompt version and hash are empty; its thresholds live in the role's options instead."""

    prompt_version = ""
    prompt_hash = ""

    def __init__(self, decide: Callable[[JudgeCase, Any], tuple[str, dict[str, Any]]], options: BaseModel):
        self.decide, self.options = decide, options

    def judge(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        verdicts = []
        for case in cases:
            started = time.perf_counter()
            try:
                answer, measured = self.decide(case, self.options)
            except Exception as error:   # one unreadable case must not lose the others' votes
                verdicts.append(Verdict("error", "", time.perf_counter() - started, f"{type(error).__name__}: {error}"))
                continue
            verdicts.append(_verdict(answer, measured, self.options, started))
        return verdicts


def rain_layer_judge(spec: ModelSpec, profile: Profile) -> MeasuredJudge:
    return MeasuredJudge(judge_rain_layer, parse_options(spec, RainLayerOptions))


def background_judge(spec: ModelSpec, profile: Profile) -> MeasuredJudge:
    return MeasuredJudge(judge_background, parse_options(spec, BackgroundOptions))


def clean_image_judge(spec: ModelSpec, profile: Profile) -> MeasuredJudge:
    return MeasuredJudge(judge_clean_image, parse_options(spec, CleanImageOptions))
