"""Reading images from the wild: validate once at ingest, load as 8-bit RGB everywhere after.

Validation decodes every pixel (a truncated file only fails when its missing bytes are reached) but
refuses to decode anything larger than a pixel limit, so a decompression bomb costs a header read.
Unusual but valid files — 16-bit PNG, RGBA, grayscale, palette, CMYK JPEG — are accepted and their
original mode recorded; `to_rgb8` gives later stages one representation.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from storage.atomic import atomic_write

ImageFile.LOAD_TRUNCATED_IMAGES = False
DEFAULT_MAX_PIXELS = 100_000_000  # ~10k x 10k; the largest public rain images are a few megapixels


class ImageProblem(ValueError):
    """An image that cannot be a sample; the message is the reason stored in `rejects`."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    mode: str


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[ImageInfo, Image.Image]:
    """Decode `data` fully and return its header facts and the decoded image, or raise ImageProblem."""
    if not data:
        raise ImageProblem("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageProblem(f"{width}x{height} = {width * height} pixels is above the limit of "
                                   f"{max_pixels} (decompression-bomb guard); not decoded")
            image.load()
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem(f"refused by the decompression-bomb guard: {exc}") from exc
    except Exception as exc:  # Pillow signals corrupt data with many exception types
        raise ImageProblem(f"cannot decode image: {exc.__class__.__name__}: {exc}") from exc
    return ImageInfo(width, height, image.format or "unknown", image.mode), image


def to_rgb8(image: Image.Image) -> np.ndarray:
    """HxWx3 uint8 RGB from any Pillow mode, scaling 16/32-bit data instead of clipping it."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.round(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white: transparent areas of rain renders are background, not black.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(canvas, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def halves(image: np.ndarray, side_by_side: str) -> tuple[np.ndarray, np.ndarray]:
    """(rainy, clean) from a side-by-side HxWx3 array, by the dataset's half order."""
    half = image.shape[1] // 2
    left, right = image[:, :half], image[:, half:2 * half]
    return (left, right) if side_by_side == "left_rainy" else (right, left)


def load_rgb8(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB of a file already validated by ingest."""
    with Image.open(path) as image:
        return to_rgb8(image)


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write an (H, W, 3) uint8 RGB image as a lossless PNG, atomically."""
    return atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
