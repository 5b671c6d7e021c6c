"""Reading images from the wild: validate once at ingest, load as 8-bit RGB everywhere after.

Validation decodes every pixel (a truncated file only fails when its missing bytes are reached) but
refuses to decode anything larger than a pixel limit, so a decompression bomb costs a header read.
Unusual but valid files — 16-bit PNG, RGBA, grayscale, palette, CMYK JPEG — are accepted and their
original mode and bit depth recorded; `to_rgb8` gives later stages one representation.

The pixel limit is rainrag's own (`--max-pixels`), the same in every process that imports this module:
Pillow's decompression-bomb guard (a fixed 89.5 Mpx warning, an error at twice that) is switched off
here, because it would fire before the user's limit and refuse what the user allowed. Every file a
stage decodes after ingest was validated by `probe` under the user's limit.
"""
from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFile

from storage.atomic import atomic_write
from storage.paths import absolute

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # rainrag's own limit applies instead (see the module docstring)
DEFAULT_MAX_PIXELS = 100_000_000  # ~10k x 10k; the largest public rain images are a few megapixels

# The reason codes of `rejects.code`: stable names to group by in SQL; the message says the rest.
EMPTY_FILE = "empty_file"
UNREADABLE_FILE = "unreadable_file"      # the filesystem refused to read it
NOT_AN_IMAGE = "not_an_image"            # no image format Pillow knows
CORRUPT_IMAGE = "corrupt_image"          # a known format whose data is broken (truncated, bad chunks)
TOO_MANY_PIXELS = "too_many_pixels"      # above --max-pixels; not decoded

# Object reprs in library messages (`<_io.BytesIO object at 0x7f...>`) differ from run to run.
_OBJECT_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")


class ImageProblem(ValueError):
    """An image that cannot be a sample: `code` is the stable reason code, the message the reason."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    mode: str
    bits: int  # bits per channel as stored in the file: 1, 8, 16 or 32


def bits_per_channel(image: Image.Image) -> int:
    """Bits per channel of an opened, not yet loaded image, from its mode and its decoder's raw mode.

    Pillow opens a 48-bit RGB PNG as mode RGB (keeping the high byte of each channel); its raw mode
    (`RGB;16B`) is where the file's depth shows.
    """
    if image.mode == "1":
        return 1
    if image.mode.startswith("I;16"):
        return 16
    if image.mode in ("I", "F"):
        return 32
    rawmodes = [tile.args[0] if isinstance(tile.args, tuple) else tile.args for tile in image.tile]
    return 16 if any(isinstance(r, str) and ";16" in r for r in rawmodes) else 8


def _message(exc: Exception) -> str:
    return _OBJECT_REPR.sub("", f"{exc.__class__.__name__}: {exc}")


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[ImageInfo, Image.Image]:
    """Decode `data` fully and return its header facts and the decoded image, or raise ImageProblem."""
    if not data:
        raise ImageProblem(EMPTY_FILE, "empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except Exception as exc:  # UnidentifiedImageError, or a header too broken to parse
        code = NOT_AN_IMAGE if isinstance(exc, Image.UnidentifiedImageError) else CORRUPT_IMAGE
        raise ImageProblem(code, f"cannot decode image: {_message(exc)}") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageProblem(TOO_MANY_PIXELS, f"{width}x{height} = {width * height} pixels is above the limit of "
                                            f"{max_pixels} (--max-pixels, the decompression-bomb guard); not decoded")
    bits = bits_per_channel(image)
    try:
        image.load()
    except Exception as exc:  # Pillow signals corrupt data with many exception types
        raise ImageProblem(CORRUPT_IMAGE, f"cannot decode image: {_message(exc)}") from exc
    return ImageInfo(width, height, image.format or "unknown", image.mode, bits), image


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
    """HxWx3 uint8 RGB of a file already validated by ingest (under the user's pixel limit)."""
    with Image.open(path) as image:
        return to_rgb8(image)


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write an (H, W, 3) uint8 RGB image as a lossless PNG, atomically."""
    return atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


def image_data_uri(path: Path, max_side: int = 1600) -> str:
    """A `data:` URI of the image at `path`, for pages that cannot read the store's files (the Prefect UI
    renders markdown and image artifacts in the browser). Shrunk to `max_side` and sent as JPEG when that
    is smaller than the PNG, so an artifact stays a few hundred kB."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        encoded = {}
        for fmt, options in (("PNG", {}), ("JPEG", {"quality": 85})):   # plots are smaller as PNG, photos as JPEG
            buffer = io.BytesIO()
            image.save(buffer, format=fmt, **options)
            encoded[fmt] = buffer.getvalue()
    fmt = min(encoded, key=lambda f: len(encoded[f]))
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(encoded[fmt]).decode('ascii')}"


def rainy_loader(data_root: Path) -> Callable[[dict], np.ndarray]:
    """`samples` row -> its rainy image (the rainy half of a side-by-side file), (H, W, 3) uint8."""
    def load(row: dict) -> np.ndarray:
        image = load_rgb8(absolute(data_root, row["rainy_path"], row["rainy_path_raw"]))
        return halves(image, row["side_by_side"])[0] if row["side_by_side"] else image
    return load


def clean_loader(data_root: Path) -> Callable[[dict], np.ndarray]:
    """`samples` row -> the clean ground truth of a paired sample, (H, W, 3) uint8."""
    def load(row: dict) -> np.ndarray:
        image = load_rgb8(absolute(data_root, row["clean_path"], row["clean_path_raw"]))
        return halves(image, row["side_by_side"])[1] if row["side_by_side"] else image
    return load
