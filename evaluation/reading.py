"""Reading restored and ground-truth files for scoring: full bit depth, grey kept grey.

Pillow opens a 48-bit RGB PNG as 8-bit RGB by keeping the high byte of each channel (v >> 8), which
puts 28 % of the values one level below their rounded 8-bit value and moves PSNR by a few hundredths
of a dB. Files are read here with OpenCV instead, as BasicSR reads them (`cv2.imread(...,
IMREAD_UNCHANGED)`): 8- and 16-bit PNG, TIFF and JPEG at their stored depth.

One rule then makes every file 8-bit, as every protocol scores 8-bit data: a 16-bit value v becomes
round(v * 255 / 65535), the value an 8-bit save of the same image holds (MATLAB's im2uint8). A grey
file stays one channel (H, W); each protocol says what it does with one (`evaluation.protocols`). An
alpha channel is dropped: restored images and ground truths are opaque.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) as it is; a grey (H, W) image with its value in all three channels."""
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def to_8bit(array: np.ndarray) -> np.ndarray:
    """uint8 data as it is; uint16 as round(v * 255 / 65535); anything else is an error."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return np.round(array.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    raise ValueError(f"cannot score {array.dtype} images: 8- and 16-bit files only")


def read_for_scoring(path: Path) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) grey uint8 of an image file, read at full depth (see the module docstring)."""
    data = np.fromfile(path, dtype=np.uint8)   # bytes first: cv2.imread cannot open every file name
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can decode")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    elif image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return to_8bit(image)
