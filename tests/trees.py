"""Build tiny dataset trees for tests: real (decodable) images at given relative paths.

Images are 8x6 (16x6 for side-by-side files), encoded by suffix: PNG, JPEG or BMP. Any other suffix
gets a few placeholder bytes unless `texts` gives its content (pair lists, manifests, READMEs).
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from PIL import Image

WIDTH, HEIGHT = 8, 6
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


@lru_cache(maxsize=None)
def image_bytes(fmt: str, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """One small RGB image (a gradient, so it is not blank) encoded as `fmt`."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 30 % 256, y * 40 % 256, (x + y) * 10 % 256) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write_tree(root: Path, paths: Iterable[str], *, wide: Iterable[str] = (),
               texts: Mapping[str, str] | None = None) -> Path:
    """Write every path (relative to root, POSIX) and return root.

    Image suffixes (any case) get a real image, twice as wide for paths in `wide`; paths in `texts` get
    that text; anything else gets placeholder bytes.
    """
    paths = list(paths)
    wide = set(wide)
    texts = dict(texts or {})
    for rel in [*paths, *[t for t in texts if t not in paths]]:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fmt = FORMATS.get(target.suffix.lower())
        if rel in texts:
            target.write_text(texts[rel], encoding="utf-8")
        elif fmt:
            target.write_bytes(image_bytes(fmt, WIDTH * 2 if rel in wide else WIDTH, HEIGHT))
        else:
            target.write_bytes(b"not an image\n")
    return root
