"""The `offline` judges: three weight-free judges that measure what a VLM judge is asked.

A pair can be bad in three ways, and each has a check (its thresholds are the role's options):

  check_rain    the rain layer (rainy - clean) must be rain: present, mostly brightening, made of thin
                structures (a grey top-hat keeps most of it: not a veil or an exposure change), not
                sensor noise the clean image lacks, and of a strength within an order of magnitude of
                the real rainy references'. A reference has no clean image, so its rain is estimated
                as what a grey opening removes: the bright structures thinner than the opening.
  check_scene   the two backgrounds must be the same, aligned scene: once blurred past the rain, the
                rainy and clean images correlate, and neither the whole image nor any of its 3 x 3
                tiles is offset (phase correlation); a rotation offsets the tiles apart.
  check_clean   the ground truth itself must be clean: no blurrier than the rainy image (Crete et al.'s
                re-blur measure, SPIE 2007), without sensor noise (Immerkaer's estimate, CVIU 1996), and
                without rain of its own (thin bright structures the rainy image does not have).

Each judge applies two of them, in order, the first "no" deciding:

  rain_layer_judge   check_rain, then check_scene
  background_judge   check_scene, then check_clean
  clean_image_judge  check_clean, then check_rain

so every way a pair can be bad is seen by two of the three judges, and the majority (min_yes 2)
rejects it; with one check per judge, a defect only one judge sees would be kept by the other two.
Each verdict's `raw` holds the reason, the measured values and the thresholds they were held to, as
JSON, so a vote can be read and re-decided later. A judge with nothing to measure (no clean image)
abstains. The defaults were set on the training pairs of the sample corpus with its planted defects
(corpus.defects, seed 0) and checked on seeds 1 and 2: `python -m benchmarks.judge_accuracy` reports
the confusion of each judge and of the ensemble, and the README's Benchmarks table their results.
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
    min_brighter: float = Field(0.45, ge=0, le=1)   # share of the layer's energy that brightens the scene
    min_thin: float = Field(0.2, ge=0, le=1)        # share of the brightening made of thin structures
    max_added_noise: float = Field(4.0, ge=0)       # noise the rainy image has over the clean one, 0-255 levels
    max_ratio: float = Field(10.0, gt=1)            # query's rain vs the references' median, either way


class BackgroundOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    blur_sigma: float = Field(3.0, gt=0)               # px at WORK_SIDE: blurs rain away, keeps the scene
    min_correlation: float = Field(0.65, ge=-1, le=1)  # of the blurred luminances; genuine: median 0.99 (0.69 min)
    max_offset_px: int = Field(2, ge=0)                # phase-correlation offset at WORK_SIDE, whole image
    max_tile_offset_px: int = Field(2, ge=0)           # ... and of each of 3 x 3 tiles: a rotation moves them apart
    min_tile_contrast: float = Field(0.03, ge=0)       # a flatter tile has no phase to correlate: not measured


class CleanImageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_blur_gain: float = Field(0.13, ge=0, le=1)  # Crete blur of the clean image over the rainy one's
    max_noise: float = Field(6.0, ge=0)             # Immerkaer sigma over flat pixels, 0-255 levels; genuine: 1.3
    # thin bright structures of the clean image missing from the rainy one, over those of the rainy
    # image missing from the clean one: streaks only brighten (genuine streak pairs: <= 0.14), drops
    # refract and darken as well (genuine drop pairs: up to 1.1)
    max_clean_rain: float = Field(1.5, ge=0)             # a pair whose rain type is drops, mixed or unknown
    max_clean_rain_streaks: float = Field(0.2, ge=0)     # a pair its dataset labels as streaks


def _verdict(answer: str, measured: dict[str, Any], thresholds: BaseModel, started: float) -> Verdict:
    measured = dict(measured)
    reason = measured.pop("reason")
    # the reason first: the decisions table and the demo show the first characters of `raw`
    raw = json.dumps({"reason": reason, "measured": dict(sorted(measured.items())),
                      "thresholds": dict(sorted(thresholds.model_dump().items()))})
    return Verdict(answer=answer, raw=raw, latency_s=time.perf_counter() - started)


def _round(values: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 5) for key, value in values.items()}


def working_lumas(case: JudgeCase) -> tuple[np.ndarray, np.ndarray]:
    """(rainy, clean) luminance at the working size, both (H, W) in [0, 1]; rainy - clean is the rain layer."""
    rainy = luma(case.rainy)
    return rainy, luma(case.clean, rainy.shape)


def check_rain(case: JudgeCase, o: RainLayerOptions) -> tuple[str, dict[str, Any]]:
    """The rain layer must be rain: present, mostly brightening, made of thin structures (not a veil),
    not sensor noise, and of a strength seen in the real rainy references."""
    rainy, clean = working_lumas(case)
    layer = rainy - clean                                          # (H, W), in [-1, 1]
    bright = np.clip(layer, 0, None)
    strength = float(np.abs(layer).mean())
    brighter = float(bright.sum() / max(np.abs(layer).sum(), 1e-9))
    thin = float(opened_residual(bright, o.opening_px).sum() / max(bright.sum(), 1e-9))
    full_rainy, full_clean = (luma(image, size=np.asarray(image).shape[:2]) for image in (case.rainy, case.clean))
    added_noise = immerkaer_noise(full_rainy) - immerkaer_noise(full_clean)
    # References have no clean image, so their rain is what the opening removes; the query's is
    # measured by the same estimator on its rainy image, so that like is compared with like.
    query_rain = float(opened_residual(rainy, o.opening_px).mean())
    ref_rain = [float(opened_residual(luma(ref), o.opening_px).mean()) for ref in case.references]
    measured: dict[str, Any] = _round({"strength": strength, "brighter": brighter, "thin": thin,
                                       "added_noise": added_noise, "query_rain": query_rain})
    if strength < o.min_rain:
        return "no", {**measured, "reason": "no rain: rainy and clean images are almost equal"}
    if brighter < o.min_brighter:
        return "no", {**measured, "reason": "the difference darkens as much as it brightens: not a rain layer"}
    if added_noise > o.max_added_noise:
        return "no", {**measured, "reason": "the difference is sensor noise, not rain"}
    if thin < o.min_thin:
        return "no", {**measured, "reason": "the difference is a veil or a change of exposure, not thin rain"}
    if not ref_rain:
        return "yes", {**measured, "reason": "rain present, brightening, thin; no references to compare it with"}
    reference = float(np.median(ref_rain))
    ratio = max(query_rain, 1e-6) / max(reference, 1e-6)
    measured.update(_round({"reference_rain": reference, "ratio": ratio}))
    if not 1 / o.max_ratio <= ratio <= o.max_ratio:
        return "no", {**measured, "reason": "rain strength unlike the real rainy references"}
    return "yes", {**measured, "reason": "rain present, brightening, thin, as strong as the references"}


def tile_offsets(rainy: np.ndarray, clean: np.ndarray, contrast: float, n: int = 3) -> list[int]:
    """The largest phase-correlation offset (px, either axis) of each of n x n tiles of two (H, W) images,
    leaving out tiles whose clean side is flatter than `contrast` (standard deviation)."""
    h, w = rainy.shape[0] // n, rainy.shape[1] // n
    tiles = [(rainy[y:y + h, x:x + w], clean[y:y + h, x:x + w]) for y in range(0, n * h, h) for x in range(0, n * w, w)]
    return [max(map(abs, phase_offset(a, b))) for a, b in tiles if b.std() >= contrast]


def check_scene(case: JudgeCase, o: BackgroundOptions) -> tuple[str, dict[str, Any]]:
    """The two backgrounds must be the same scene, aligned everywhere: once blurred past the rain they
    correlate strongly, and neither the whole image nor any of its 3 x 3 tiles is offset."""
    rainy, clean = working_lumas(case)
    low_rainy = ndimage.gaussian_filter(rainy, o.blur_sigma)
    low_clean = ndimage.gaussian_filter(clean, o.blur_sigma)
    correlation = float(np.corrcoef(low_rainy.ravel(), low_clean.ravel())[0, 1]) \
        if low_rainy.std() > 1e-6 and low_clean.std() > 1e-6 else 0.0
    dy, dx = phase_offset(low_rainy, low_clean)
    tiles = tile_offsets(low_rainy, low_clean, o.min_tile_contrast)
    measured: dict[str, Any] = {"correlation": round(correlation, 5), "offset_px": [dy, dx], "tile_offset_px": tiles}
    if correlation < o.min_correlation:
        return "no", {**measured, "reason": "backgrounds disagree: another scene or another exposure"}
    if max(abs(dy), abs(dx)) > o.max_offset_px:
        return "no", {**measured, "reason": "backgrounds are shifted against each other"}
    if max(tiles, default=0) > o.max_tile_offset_px:
        return "no", {**measured, "reason": "parts of the backgrounds are displaced: rotated or warped"}
    return "yes", {**measured, "reason": "same scene, aligned"}


def check_clean(case: JudgeCase, o: CleanImageOptions) -> tuple[str, dict[str, Any]]:
    """The ground truth itself must be clean: not blurrier than the rainy image (night scenes are soft in
    both), without sensor noise, and without rain of its own (thin bright structures where the rainy
    image has none)."""
    clean = luma(case.clean, size=np.asarray(case.clean).shape[:2])   # full size: blur and noise are per pixel
    rainy = luma(case.rainy, size=np.asarray(case.rainy).shape[:2])
    small_rainy, small_clean = working_lumas(case)
    layer = small_rainy - small_clean                                 # (H, W) at the working size
    rain_in_rainy = float(opened_residual(np.clip(layer, 0, None), 5).mean())
    rain_in_clean = float(opened_residual(np.clip(-layer, 0, None), 5).mean())
    limit = o.max_clean_rain_streaks if case.context.get("rain_type") == "streak" else o.max_clean_rain
    measured: dict[str, Any] = _round({"blur_gain": crete_blur(clean) - crete_blur(rainy),
                                       "noise": immerkaer_noise(clean),
                                       "clean_rain": rain_in_clean / max(rain_in_rainy, 1e-6)})
    if measured["blur_gain"] > o.max_blur_gain:
        return "no", {**measured, "reason": "the clean image is blurred"}
    if measured["noise"] > o.max_noise:
        return "no", {**measured, "reason": "the clean image is noisy"}
    if measured["clean_rain"] > limit:
        return "no", {**measured, "reason": "the clean image has rain of its own"}
    return "yes", {**measured, "reason": "the clean image is sharp, noise-free and dry"}


Check = Callable[[JudgeCase, Any], tuple[str, dict[str, Any]]]


class MeasuredJudge:
    """One offline judge: its checks applied in order to each case, the first "no" deciding. Not prompted,
    so its prompt version and hash are empty; its thresholds live in the role's options instead."""

    prompt_version = ""
    prompt_hash = ""

    def __init__(self, checks: Sequence[Check], options: BaseModel):
        self.checks, self.options = tuple(checks), options

    def decide(self, case: JudgeCase) -> tuple[str, dict[str, Any]]:
        if case.clean is None:
            return "abstain", {"reason": "no clean image: nothing to compare the rainy image with"}
        measured: dict[str, Any] = {}
        reasons = []
        for check in self.checks:
            answer, found = check(case, self.options)
            reasons.append(found.pop("reason"))
            measured.update(found)
            if answer == "no":
                return "no", {**measured, "reason": reasons[-1]}
        return "yes", {**measured, "reason": "; ".join(reasons)}

    def judge(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        verdicts = []
        for case in cases:
            started = time.perf_counter()
            try:
                answer, measured = self.decide(case)
            except Exception as error:   # one unreadable case must not lose the others' votes
                verdicts.append(Verdict("error", "", time.perf_counter() - started, f"{type(error).__name__}: {error}"))
                continue
            verdicts.append(_verdict(answer, measured, self.options, started))
        return verdicts


class RainAndSceneOptions(RainLayerOptions, BackgroundOptions):
    pass


class SceneAndCleanOptions(BackgroundOptions, CleanImageOptions):
    pass


class CleanAndRainOptions(CleanImageOptions, RainLayerOptions):
    pass


def rain_layer_judge(spec: ModelSpec, profile: Profile) -> MeasuredJudge:
    return MeasuredJudge((check_rain, check_scene), parse_options(spec, RainAndSceneOptions))


def background_judge(spec: ModelSpec, profile: Profile) -> MeasuredJudge:
    return MeasuredJudge((check_scene, check_clean), parse_options(spec, SceneAndCleanOptions))


def clean_image_judge(spec: ModelSpec, profile: Profile) -> MeasuredJudge:
    return MeasuredJudge((check_clean, check_rain), parse_options(spec, CleanAndRainOptions))
