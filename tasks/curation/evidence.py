"""Measured evidence about a sample's images, computed once per sample by the `inspect` stage.

- time of day and rain type, for datasets whose labels are mixed (null): the offline descriptors'
  measurements (median luminance; thin bright near-vertical lines vs small round bright spots);
- a 64-bit DCT perceptual hash of the rainy and of the clean image, for near-duplicate search;
- the pair's rain signature: its rain layer (rainy - clean luminance) averaged over a 16 x 16 grid, less
  the part the scene explains, zero-mean and of unit norm, so that the dot product of two signatures is
  their correlation (`rain_signature`). It tells
  a copy of a pair from another rain rendering of the same background, which the hashes cannot: on the
  sample corpus the rainy images of DDN-Data's renderings of one clean image are 0-6 bits apart, as
  close as a resized, re-encoded copy (0-4), while their signatures correlate at most 0.63 against at
  least 0.86 for copies resized by 0.8 through JPEG 85 (seeds 0-2; tasks.curation.duplicates);
- the alignment of a pair: the correlation of the two images' low frequencies at zero offset, and how
  much better any small shift correlates. Rain is thin and bright, so blurring to a coarse grid leaves
  mostly the scene. Heavy rain or fog lowers the correlation itself (0.68 for the worst aligned pair of
  the sample corpus), but an aligned pair still correlates best at zero offset (gain <= 0.003 on the
  corpus), while a clean image shifted by 1/12 of its width gains >= 0.02: the gain is the signal.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
from PIL import Image
from scipy import fft, ndimage

from models.pipeline.offline.descriptive import measure
from storage.images import clean_loader, rainy_loader
from storage.schemas import INSPECTIONS
from storage.stage import handle_field, speed_field
from tasks.image_batches import decoded_chunks

STAGE = "inspect"
VERSION = "2"   # 2: the rain signature
PHASH_SIDE = 32      # [imagehash] the image is shrunk to 32x32 before the DCT
PHASH_BITS = 8       # [imagehash] the 8x8 lowest frequencies make the 64 bits
ALIGN_SIDE = 64      # grid the low frequencies are compared on
ALIGN_SIGMA = 1.5    # Gaussian blur (grid pixels) that removes what is left of the rain
ALIGN_SHIFT = 6      # shifts tried, in grid pixels each way: about 10 % of the side
SIGNATURE_SIDE = 16  # grid of the rain signature: 256 values (storage.schemas.INSPECTIONS)


def gray(image: np.ndarray, side: int) -> np.ndarray:
    """(side, side) float32 luminance in [0, 1], area-averaged (so thin rain is averaged away)."""
    pil = Image.fromarray(np.ascontiguousarray(image)).convert("L").resize((side, side), Image.Resampling.BOX)
    return np.asarray(pil, dtype=np.float32) / 255.0


def phash(image: np.ndarray, side: int = PHASH_SIDE, bits: int = PHASH_BITS) -> int:
    """DCT perceptual hash as in `imagehash.phash`: bits of the 8x8 lowest DCT coefficients of the
    32x32 grayscale image above their median, as a signed 64-bit integer (Parquet has no uint64)."""
    coefficients = fft.dctn(gray(image, side).astype(np.float64), type=2, norm="ortho")
    low = coefficients[:bits, :bits]
    bits = (low > np.median(low)).ravel()
    value = int(np.packbits(bits).view(">u8")[0])
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distances between every hash of `a` (N,) and every hash of `b` (M,): (N, M) int."""
    x = np.bitwise_xor(a.astype(np.int64)[:, None], b.astype(np.int64)[None, :]).view(np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)


def rain_signature(rainy: np.ndarray, clean: np.ndarray, side: int = SIGNATURE_SIDE) -> np.ndarray:
    """(side * side,) float16: the rain layer on a coarse grid, less what the scene explains, zero-mean and
    of unit L2 norm (zeros when nothing is left).

    Rain composited over a scene brightens its dark parts more than its bright ones, and a veil is a
    function of the scene alone; either way that part of the layer is the same for every rendering of
    one background. It is removed by a least-squares fit of the layer on the clean image's grid (and a
    constant), so that what is left is where this rendering's rain fell."""
    background = gray(clean, side).ravel().astype(np.float64)            # (side * side,)
    layer = gray(rainy, side).ravel().astype(np.float64) - background   # (side * side,)
    design = np.stack([np.ones_like(background), background], axis=1)   # (side * side, 2)
    coefficients, *_ = np.linalg.lstsq(design, layer, rcond=None)
    residual = layer - design @ coefficients
    norm = float(np.linalg.norm(residual))
    return (residual / norm if norm > 1e-6 else np.zeros_like(residual)).astype(np.float16)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 1e-12 else 0.0


def alignment(rainy: np.ndarray, clean: np.ndarray, side: int = ALIGN_SIDE, sigma: float = ALIGN_SIGMA,
              shift: int = ALIGN_SHIFT) -> tuple[float, float]:
    """(correlation at zero offset, gain of the best shift over it) of the blurred low-resolution
    luminance of the two images, shifts up to `shift` grid pixels each way on the overlap."""
    a = ndimage.gaussian_filter(gray(rainy, side), sigma)   # (S, S)
    b = ndimage.gaussian_filter(gray(clean, side), sigma)
    s, best = side, -1.0
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            overlap_a = a[max(0, dy):s + min(0, dy), max(0, dx):s + min(0, dx)]
            overlap_b = b[max(0, -dy):s + min(0, -dy), max(0, -dx):s + min(0, -dx)]
            best = max(best, correlation(overlap_a, overlap_b))
    at_zero = correlation(a, b)
    return at_zero, max(0.0, best - at_zero)


def inspect_pair(row: dict, config: InspectConfig) -> dict[str, Any]:
    """Every measurement of one sample (the clean-side ones only when it is paired)."""
    rainy = rainy_loader(config.data_root)(row)
    m = measure(rainy)
    out = {"sample_id": row["sample_id"], "median_luma": m.median_luma, "streaks_per_10k": m.streaks_per_10k,
           "spots_per_10k": m.spots_per_10k, "rainy_phash": phash(rainy, *config.phash), "clean_phash": None,
           "alignment": None, "alignment_gain": None, "rain_signature": None, "status": "ok", "error": None}
    if row["clean_path"]:
        clean = clean_loader(config.data_root)(row)
        at_zero, gain = alignment(rainy, clean, *config.align)
        out.update(clean_phash=phash(clean, *config.phash), alignment=at_zero, alignment_gain=gain,
                   rain_signature=rain_signature(rainy, clean))
    return out


def inspect_shard(samples: pa.Table, config: InspectConfig) -> pa.Table:
    """One row per sample; a sample whose image cannot be read is an error row naming the file."""
    rows = samples.to_pylist()
    out: list[dict] = []
    for part in decoded_chunks(rows, lambda row: inspect_pair(row, config), config.batch_size):
        out.extend(part.images)   # `images` holds what the loader returned: here, the measurements
        out.extend({"sample_id": sid, "status": "error", "error": why} for sid, why in part.errors.items())
    order = {r["sample_id"]: i for i, r in enumerate(rows)}
    return pa.Table.from_pylist(sorted(out, key=lambda r: order[r["sample_id"]]), schema=INSPECTIONS)


@dataclass(frozen=True)
class InspectConfig:
    phash: tuple[int, int] = (PHASH_SIDE, PHASH_BITS)                       # (image side, DCT bits)
    align: tuple[int, float, int] = (ALIGN_SIDE, ALIGN_SIGMA, ALIGN_SHIFT)  # (grid side, blur, shifts)
    batch_size: int = speed_field(default=16)                               # samples decoded ahead
    data_root: Path = handle_field(default=None)

    @classmethod
    def from_run(cls, run: Any) -> InspectConfig:
        return cls(data_root=run.data_root)


def compute(tables: Mapping[str, pa.Table], config: InspectConfig) -> dict[str, pa.Table]:
    """`samples` -> `inspections` (no model: nothing but the data and this code decides it)."""
    return {"inspections": inspect_shard(tables["samples"], config)}
