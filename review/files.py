"""Which files the review app may send: only those inside the data root or the store, nothing else.

A requested path is relative to one of the two roots. It is refused when it is absolute, names `..`,
or resolves (symlinks followed) to a place outside its root: a link inside the data root that points
at /etc is as much outside as `../../etc/passwd`.
"""
from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

IMAGE_SIDE = 768   # pages show images at most this wide or high: sent as PNGs of that size


class Refused(PermissionError):
    """A path the app does not serve; the message says why (and is safe to show)."""


def inside(root: Path, relative: str) -> Path:
    """The file `relative` names under `root`, or Refused."""
    posix = PurePosixPath(relative.replace("\\", "/"))
    if not relative or posix.is_absolute() or Path(relative).is_absolute():
        raise Refused(f"{relative!r}: only paths relative to the data root or the store are served")
    if ".." in posix.parts:
        raise Refused(f"{relative!r}: a path with '..' is not served")
    base = root.resolve()
    target = (base / posix).resolve()
    if not target.is_relative_to(base):
        raise Refused(f"{relative!r} leads outside {base} (a symbolic link out): not served")
    if not target.is_file():
        raise FileNotFoundError(f"{relative!r}: no such file under {base}")
    return target


def png_bytes(image: np.ndarray, side: int = IMAGE_SIDE) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes, shrunk to fit side x side (browsers cannot show every format the
    datasets ship, such as 16-bit TIFF, and a side-by-side file holds two images)."""
    picture = Image.fromarray(image)
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
