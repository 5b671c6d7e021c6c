"""NIQE-style no-reference image quality (Mittal, Soundararajan and Bovik, IEEE SPL 2013), vectorised.

In an undistorted photograph the mean-subtracted contrast-normalised (MSCN) coefficients, and the
products of neighbouring coefficients, follow (asymmetric) generalised Gaussians of characteristic
shapes. Rain streaks (heavy-tailed bright lines), raindrops (smooth lenses), blur and noise all move
those shapes. NIQE fits a multivariate Gaussian (MVG) to 36 shape parameters of the patches of
pristine images; an image's quality is minus the distance between its own patch MVG and the pristine
one (0 is pristine; higher is better).

    fit_niqe(clean_images, out_dir)        # niqe.npz (mean, covariance) + niqe.json (settings)
    NiqeModel.load(out_dir).score(images)  # (N,) float32

Images are first shrunk to `max_side`, and every per-patch statistic is a sum of a few cell sums
(`PatchGrid`), so overlapping patches cost hardly more than disjoint ones: about 60 ms for a 512 px
image on one core, 10 ms for a photo of the sample corpus.

Fitting it (on the sample corpus for `make models`, or on your own clean images from the command line):
models.pipeline.offline.niqe_fitting.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image
from scipy import ndimage, special

from models.pipeline.loading import MissingModel, resolve_model_dir
from models.pipeline.profiles import ModelSpec, Profile
from storage.atomic import atomic_write, write_json

MODEL_FILE, SETTINGS_FILE = "niqe.npz", "niqe.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# The paper's 7x7 Gaussian window with sigma 7/6, and its stabilising constant C=1 in 0-255 units.
WINDOW_SIGMA, WINDOW_RADIUS, MSCN_C = 7.0 / 6.0, 3, 1.0
# Neighbours whose products with the MSCN map give the paper's four pairwise maps: H, V, D1, D2.
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
N_FEATURES = 36
# The sample corpus `make models` fits on: the same bytes on every machine.
FIT_SEED, FIT_SCALE = 0, 1
EPS = 1e-10


@dataclass(frozen=True)
class NiqeSettings:
    """Feature settings, stored with every fitted model so that scoring always matches fitting.

    The defaults differ from the paper's (96 px disjoint patches, sharpness threshold 0.75) because
    the sample corpus's photos are 64-192 px: half-overlapping 32 px patches give a stable MVG on an
    image that small, and its clean photos are all in focus, so no patch needs excluding as blurred.
    Rainy versions ranked below their clean photo, fitted on seed 0 (benchmarks/offline_quality.py):
    paper settings 89 % on seed 0 and 80 % on seed 1; these defaults 92 % and 90 %.
    """

    patch_size: int = 32            # side of a square patch at full scale (half of it at half scale)
    patch_stride: int = 16          # step between patches; < patch_size makes them overlap
    max_side: int = 512             # long side images are shrunk to first: speed, and a fixed scale
    sharpness_threshold: float = 0.0    # fitting keeps patches with sharpness >= this x the image's max

    def __post_init__(self) -> None:
        # An even stride puts the half-scale patches exactly under the full-scale ones (PatchGrid).
        grid_ok = self.patch_stride % 2 == 0 and self.patch_size % self.patch_stride == 0
        if not (grid_ok and 2 <= self.patch_stride <= self.patch_size <= self.max_side):
            raise ValueError(f"bad niqe settings {self}: patch_stride must be even and divide patch_size, "
                             "with 2 <= patch_stride <= patch_size <= max_side")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> NiqeSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown niqe options {unknown}; known: {sorted(known)}")
        return cls(**options)


# E[|x|]^2 / E[x^2] of a generalised Gaussian as a function of its shape alpha (increasing in alpha).
ALPHAS = np.arange(0.2, 10.0, 0.001)
RHO = special.gamma(2 / ALPHAS) ** 2 / (special.gamma(1 / ALPHAS) * special.gamma(3 / ALPHAS))


def _shape_from_ratio(r: np.ndarray) -> np.ndarray:
    """The grid alpha whose moment ratio is nearest to r, for every entry at once."""
    i = np.clip(np.searchsorted(RHO, r), 1, len(RHO) - 1)
    nearer_left = np.abs(r - RHO[i - 1]) <= np.abs(RHO[i] - r)
    return ALPHAS[np.where(nearer_left, i - 1, i)]


@dataclass(frozen=True)
class PatchGrid:
    """Patches of k x k cells of cell_h x cell_w pixels, one patch per cell offset: a patch side that
    is a multiple of the stride makes every patch sum a sum of a few cell sums, one pass per map."""

    cell_h: int
    cell_w: int
    k_h: int
    k_w: int

    def sums(self, maps: np.ndarray) -> np.ndarray:
        """(K, patches) sums of each of K maps (K, H, W) over every patch."""
        ny, nx = maps.shape[1] // self.cell_h, maps.shape[2] // self.cell_w
        cropped = maps[:, : ny * self.cell_h, : nx * self.cell_w]
        cells = cropped.reshape(len(maps), ny, self.cell_h, nx, self.cell_w).sum((2, 4), dtype=np.float64)
        out_h, out_w = ny - self.k_h + 1, nx - self.k_w + 1
        total = sum(cells[:, i:i + out_h, j:j + out_w] for i in range(self.k_h) for j in range(self.k_w))
        return total.reshape(len(maps), -1)  # (K, out_h * out_w)

    @property
    def pixels(self) -> int:
        return self.cell_h * self.k_h * self.cell_w * self.k_w

    def halved(self) -> PatchGrid:
        return PatchGrid(self.cell_h // 2, self.cell_w // 2, self.k_h, self.k_w)


def aggd_fit(x: np.ndarray, grid: PatchGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, left sigma, right sigma) of an asymmetric generalised Gaussian fitted per patch of map x."""
    left, right = x < 0, x > 0
    sq = x * x
    n_left, n_right, sq_left, sq_right, absolute = grid.sums(np.stack([left, right, sq * left, sq * right,
                                                                       np.abs(x)]))
    left_std = np.sqrt(sq_left / np.maximum(n_left, 1))
    right_std = np.sqrt(sq_right / np.maximum(n_right, 1))
    gamma_hat = left_std / (right_std + EPS)
    r_hat = (absolute / grid.pixels) ** 2 / ((sq_left + sq_right) / grid.pixels + EPS)
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    return _shape_from_ratio(r_norm), left_std, right_std


def _mscn(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MSCN map, local sigma map) of a float32 0-255 gray image."""
    truncate = WINDOW_RADIUS / WINDOW_SIGMA
    mu = ndimage.gaussian_filter(gray, WINDOW_SIGMA, truncate=truncate, mode="nearest")
    var = ndimage.gaussian_filter(gray * gray, WINDOW_SIGMA, truncate=truncate, mode="nearest") - mu * mu
    sigma = np.sqrt(np.abs(var))
    return (gray - mu) / (sigma + MSCN_C), sigma


def _scale_features(gray: np.ndarray, grid: PatchGrid) -> tuple[np.ndarray, np.ndarray]:
    """(patches, 18) features at one scale, and each patch's sharpness (mean local sigma)."""
    mscn, sigma = _mscn(gray)
    alpha, bl, br = aggd_fit(mscn, grid)
    columns = [alpha, (bl + br) / 2]
    for dy, dx in SHIFTS:
        product = mscn * np.roll(mscn, (-dy, -dx), axis=(0, 1))  # wraps around, as the paper's circshift
        alpha, bl, br = aggd_fit(product, grid)
        mean = (br - bl) * special.gamma(2 / alpha) / special.gamma(1 / alpha)
        columns += [alpha, mean, bl**2, br**2]
    return np.stack(columns, 1), grid.sums(sigma[None])[0] / grid.pixels


def working_gray(image: np.ndarray, max_side: int) -> np.ndarray:
    """Float32 0-255 luma (ITU-R 601) of an RGB uint8 image, shrunk to `max_side` on its long side and
    cropped to even sides, so that the half scale has the same patch grid under the full-scale one."""
    gray = Image.fromarray(np.ascontiguousarray(np.asarray(image, dtype=np.uint8))).convert("F")
    scale = max_side / max(gray.size)
    if scale < 1:
        gray = gray.resize((max(2, round(gray.width * scale)), max(2, round(gray.height * scale))),
                           Image.Resampling.BICUBIC)
    arr = np.asarray(gray, dtype=np.float32)
    return arr[: arr.shape[0] // 2 * 2, : arr.shape[1] // 2 * 2]


def _grid(side_h: int, side_w: int, settings: NiqeSettings) -> PatchGrid:
    """The patch grid of an image; along a side shorter than a patch, the whole side is one patch."""
    k = settings.patch_size // settings.patch_stride
    (cell_h, k_h), (cell_w, k_w) = ((settings.patch_stride, k) if side >= settings.patch_size else (side, 1)
                                    for side in (side_h, side_w))
    return PatchGrid(cell_h, cell_w, k_h, k_w)


def image_features(image: np.ndarray, settings: NiqeSettings) -> tuple[np.ndarray, np.ndarray]:
    """(patches, 36) features at full and half scale, and each patch's sharpness; no patches at all
    for an image under 2 px on a side."""
    gray = working_gray(image, settings.max_side)
    if min(gray.shape) < 2:
        return np.empty((0, N_FEATURES)), np.empty(0)
    grid = _grid(*gray.shape, settings)
    full, sharpness = _scale_features(gray, grid)
    half = Image.fromarray(gray).resize((gray.shape[1] // 2, gray.shape[0] // 2), Image.Resampling.BICUBIC)
    coarse, _ = _scale_features(np.asarray(half, np.float32), grid.halved())
    return np.concatenate([full, coarse], 1), sharpness


def mvg(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of feature rows; a single row has zero covariance, not NaN."""
    if len(features) < 2:
        return features.mean(0), np.zeros((features.shape[1],) * 2)
    return features.mean(0), np.cov(features, rowvar=False)


def pristine_features(images: Iterable[np.ndarray], settings: NiqeSettings) -> tuple[np.ndarray, int]:
    """(patches, 36) features of the sharp-enough patches of every image, and the number of images."""
    kept, n_images = [], 0
    for image in images:
        features, sharpness = image_features(image, settings)
        n_images += 1
        if not len(features):
            continue
        kept.append(features[sharpness >= settings.sharpness_threshold * sharpness.max()])
    return (np.concatenate(kept) if kept else np.empty((0, N_FEATURES))), n_images


def fit_niqe(images: Iterable[np.ndarray], out_dir: Path, settings: NiqeSettings | None = None,
             source: str = "") -> None:
    """Fit the pristine MVG on clean RGB uint8 images and write it to `out_dir`.

    Each file is written atomically and the settings go into the .npz as well, so a reader can tell
    a consistent model from a half-replaced one (see `NiqeModel.load`).
    """
    settings = settings or NiqeSettings()
    features, n_images = pristine_features(images, settings)
    if len(features) <= N_FEATURES:
        raise ValueError(f"{len(features)} patches from {n_images} images cannot fit a {N_FEATURES}-d "
                         "covariance; give more or larger clean images")
    mean, cov = mvg(features)
    settings_text = json.dumps(asdict(settings), sort_keys=True)
    out_dir = Path(out_dir)

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez would append .npz to a bare path
            np.savez(handle, mean=mean, cov=cov, settings=np.array(settings_text))

    atomic_write(out_dir / MODEL_FILE, write_npz)
    write_json(out_dir / SETTINGS_FILE, {"model": "niqe", "settings": asdict(settings), "images": n_images,
                                         "patches": len(features), "fitted_on": source})


class NiqeModel:
    """A fitted pristine MVG; `score` is the QualityScorer role."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, settings: NiqeSettings):
        self.mean, self.cov, self.settings = mean, cov, settings

    @classmethod
    def load(cls, folder: Path) -> NiqeModel:
        """Raises MissingModel when `folder` holds no complete, consistent fitted model."""
        model_file, settings_file = Path(folder) / MODEL_FILE, Path(folder) / SETTINGS_FILE
        if not (model_file.is_file() and settings_file.is_file()):
            raise MissingModel(f"no fitted NIQE model in {folder} (needs {MODEL_FILE} and {SETTINGS_FILE}); "
                               "fit it with `make models PROFILE=offline` or `python -m "
                               f"models.pipeline.offline.niqe_fitting fit --images DIR --out {folder}`")
        with np.load(model_file) as data:
            mean, cov, stored = data["mean"], data["cov"], json.loads(str(data["settings"]))
        described = json.loads(settings_file.read_text(encoding="utf-8"))["settings"]
        if stored != described:
            raise MissingModel(f"{model_file} and {settings_file} disagree (a fit was interrupted); fit again")
        return cls(mean, cov, NiqeSettings(**stored))

    def distance(self, image: np.ndarray) -> float:
        """Distance between the image's patch MVG and the pristine MVG (0 = pristine); NaN for an
        image too small to have a patch."""
        features = image_features(image, self.settings)[0]
        if not len(features):
            return float("nan")
        mean, cov = mvg(features)
        diff = self.mean - mean
        return float(np.sqrt(max(diff @ np.linalg.pinv((self.cov + cov) / 2) @ diff, 0.0)))

    def score(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) float32 quality, higher is better: minus the distance to the pristine model."""
        return np.array([-self.distance(image) for image in images], dtype=np.float32)


def niqe_adapter(spec: ModelSpec, profile: Profile) -> NiqeModel:
    """The fitted model under the models dir; options given in the profile must match its settings."""
    model = NiqeModel.load(resolve_model_dir(spec, profile))
    asked = asdict(NiqeSettings.from_options(spec.options))
    fitted = asdict(model.settings)
    differ = {k: (v, fitted[k]) for k, v in asked.items() if k in spec.options and fitted[k] != v}
    if differ:
        raise MissingModel(f"NIQE model {spec.model_id!r} was fitted with other settings (asked, fitted): "
                           f"{differ}; fit it again with `make models PROFILE={profile.name}`")
    return model
