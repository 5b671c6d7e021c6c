"""Paths inside a data root: POSIX text for tables, exact bytes for the filesystem.

File names from the wild are not always UTF-8. Python hands them over with surrogate escapes, which
Parquet cannot store, so a path is stored as readable text (undecodable bytes shown as `\\xNN`) plus,
only when that text is not exact, the raw bytes needed to open the file again.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path, PurePosixPath

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def encode_rel_path(rel: str) -> tuple[str, bytes | None]:
    """(text, raw) for a relative path string that may carry surrogate escapes."""
    raw = os.fsencode(rel)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw


def fs_rel(text: str, raw: bytes | None = None) -> str:
    """The relative path as the filesystem names it: `text`, or the raw bytes surrogate-escaped."""
    return os.fsdecode(raw) if raw is not None else text


def absolute(data_root: Path, text: str, raw: bytes | None = None) -> Path:
    """The filesystem path of a stored relative path (raw bytes win when present)."""
    return Path(data_root) / fs_rel(text, raw)


def contained_rel(root: Path, candidate: str) -> str | None:
    """`candidate` (relative to `root`) normalised, or None when it escapes `root`.

    Decided on the text alone, so an entry pointing outside the dataset is rejected without ever
    being opened; symlinks inside the tree are then followed as the user laid them out.
    """
    parts: list[str] = []
    for part in PurePosixPath(candidate.replace("\\", "/").lstrip("/")).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) if parts else None


@lru_cache(maxsize=256)
def _listing(folder: str) -> dict[str, str]:
    """lower-case name -> real name for one folder (empty when it does not exist)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    listing: dict[str, str] = {}
    for name in sorted(names):
        listing.setdefault(name.lower(), name)
    return listing


def clear_listing_cache() -> None:
    _listing.cache_clear()


def resolve_ci(root: Path, rel: str) -> str | None:
    """Find `rel` under `root` matching each component case-insensitively; the real relative path.

    A final component ending in `.*` matches any image suffix (`5_clean.*` finds `5_clean.JPG`).
    Listings are cached per folder, so pairing a million files costs one listing per folder.
    """
    current = os.fspath(root)
    real_parts: list[str] = []
    parts = rel.split("/")
    for index, part in enumerate(parts):
        listing = _listing(current)
        if index == len(parts) - 1 and part.endswith(".*"):
            stem = part[:-2].lower()
            name = next((listing[stem + s] for s in IMAGE_SUFFIXES if stem + s in listing), None)
        else:
            name = listing.get(part.lower())
        if name is None:
            return None
        real_parts.append(name)
        current = os.path.join(current, name)
    return "/".join(real_parts)
