"""Real photographs for the sample corpus, from the images that ship inside the scikit-image wheel.

Synthetic rain is only a fair test of the quality, caption and retrieval stages if the scenes under
it are real photographs with real statistics; scikit-image bundles about ten with no download. Many
distinct "scenes" come from those few by random crops, aspect ratios, sizes and mirroring.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np
import skimage.data
from PIL import Image

# Photographs only: colour wheels, textures (grass, gravel, brick) and scanned documents
# (coins, page, text) would not look like any rain dataset's backgrounds. The Hubble deep field is
# left out too: point-like stars vanish under the defocus of raindrop frames, so its pairs look
# misaligned. The weight is how often a photo is drawn: the micrograph and the fundus are valid but
# unusual rain scenes.
PHOTO_LOADERS: dict[str, tuple[Callable[[], np.ndarray], float]] = {
    "astronaut": (skimage.data.astronaut, 1.0),
    "coffee": (skimage.data.coffee, 1.0),
    "chelsea": (skimage.data.chelsea, 1.0),
    "rocket": (skimage.data.rocket, 1.0),
    "motorcycle_left": (lambda: skimage.data.stereo_motorcycle()[0], 1.0),
    "motorcycle_right": (lambda: skimage.data.stereo_motorcycle()[1], 1.0),
    "camera": (skimage.data.camera, 1.0),
    "immunohistochemistry": (skimage.data.immunohistochemistry, 0.3),
    "retina": (skimage.data.retina, 0.3),
}

# Large photos are shrunk once so that every crop resizes quickly.
MAX_PHOTO_SIDE = 640
# Crops flatter than this (black retina corners, empty sky) make poor scenes; in 0-255 units.
MIN_CROP_STD = 15.0


def _as_rgb_uint8(arr: np.ndarray) -> np.ndarray:
    """Gray/RGB/RGBA uint8 -> RGB uint8, at most MAX_PHOTO_SIDE on its long side."""
    img = np.asarray(arr, dtype=np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    image = Image.fromarray(np.ascontiguousarray(img[..., :3]))
    scale = MAX_PHOTO_SIDE / max(image.size)
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(image)


@functools.cache
def load_photos() -> tuple[tuple[str, np.ndarray, float], ...]:
    """(name, RGB uint8 photo, weight) for the bundled photographs that load offline, in a fixed order.

    A photo whose file is not in the installed wheel (newer scikit-image releases move some behind a
    download) is skipped rather than fetched, so corpus generation never touches the network.
    """
    photos = []
    for name, (loader, weight) in PHOTO_LOADERS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                photo = _as_rgb_uint8(loader())
        except Exception:  # noqa: BLE001 - any failure (missing pooch, no network, no file) means "skip"
            continue
        photo.setflags(write=False)
        photos.append((name, photo, weight))
    if not photos:
        raise RuntimeError("no scikit-image sample photo could be loaded; is scikit-image installed fully?")
    return tuple(photos)


def random_shape(rng: np.random.Generator, min_side: int = 96, max_side: int = 192) -> tuple[int, int]:
    """A random (H, W) with even sides in [min_side, max_side]; aspect ratios from 1:2 to 2:1."""
    h, w = rng.integers(min_side // 2, max_side // 2 + 1, size=2) * 2
    return int(h), int(w)


def _crop_box(rng: np.random.Generator, photo_shape: tuple[int, ...], aspect: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop with width/height = aspect, 35-100 % of the fit."""
    ph, pw = photo_shape[:2]
    fit_h = min(ph, pw / aspect)
    ch = max(int(fit_h * rng.uniform(0.35, 1.0)), 8)
    cw = max(min(int(round(ch * aspect)), pw), 8)
    top = int(rng.integers(0, ph - ch + 1))
    left = int(rng.integers(0, pw - cw + 1))
    return top, left, ch, cw


def random_scene(
    rng: np.random.Generator, shape: tuple[int, int] | None = None, min_side: int = 96, max_side: int = 192
) -> np.ndarray:
    """A new scene: a random crop of a random bundled photo, resized to `shape` (or a random size).

    Returns float32 RGB (H, W, 3) in [0, 1]. Low-contrast crops are redrawn a few times. Pillow does
    the resizing: it is fast and gives the same bytes on every run.
    """
    photos = load_photos()
    weights = np.array([weight for _, _, weight in photos])
    h, w = shape if shape is not None else random_shape(rng, min_side, max_side)
    crop = None
    for _ in range(6):
        _, photo, _ = photos[int(rng.choice(len(photos), p=weights / weights.sum()))]
        top, left, ch, cw = _crop_box(rng, photo.shape, w / h)
        crop = photo[top : top + ch, left : left + cw]
        if float(crop.std()) >= MIN_CROP_STD:
            break
    image = Image.fromarray(np.ascontiguousarray(crop)).resize((w, h), Image.Resampling.LANCZOS)
    scene = np.asarray(image, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        scene = scene[:, ::-1]
    return np.ascontiguousarray(scene)


def scene_frames(
    rng: np.random.Generator, shape: tuple[int, int], n_frames: int, step: int = 3
) -> list[np.ndarray]:
    """`n_frames` views of one scene panning sideways by `step` px per frame, like a video sequence."""
    h, w = shape
    wide = random_scene(rng, (h, w + step * max(n_frames - 1, 0)))
    return [np.ascontiguousarray(wide[:, f * step : f * step + w]) for f in range(n_frames)]
