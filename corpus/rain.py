"""Synthetic rain rendering for the sample corpus.

The ingest, quality and judge stages need rainy/clean pairs whose degradation looks like the
public datasets' (streaks of varied angle and density, raindrops on glass, lit night rain) without
shipping any of those images. Every function works on float32 RGB arrays in [0, 1] of shape
(H, W, 3), returns a new array in [0, 1], and draws randomness only from the `numpy.random.Generator`
it is given, so a corpus is reproducible byte for byte from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

# Streaks are not pure white: scattered sky light makes them slightly blue.
STREAK_COLOUR = np.array([0.92, 0.95, 1.0], dtype=np.float32)
# Sodium / tungsten street lights.
WARM_LIGHT = np.array([1.0, 0.72, 0.38], dtype=np.float32)


@dataclass(frozen=True)
class StreakParams:
    """One rain layer's parameters; `sample` draws them from a named density level."""

    angle_deg: float
    density: float
    length: float
    width: float
    intensity: float

    @classmethod
    def sample(cls, rng: np.random.Generator, level: str, angle_deg: float | None = None) -> StreakParams:
        """Draw parameters for `level` ('light', 'medium' or 'heavy'); angle is from vertical."""
        lo, hi = LEVELS[level]
        params = rng.uniform(lo, hi)
        angle = float(rng.uniform(-25.0, 25.0)) if angle_deg is None else angle_deg
        return cls(angle, *(float(p) for p in params))


# (low, high) of (density, length, width, intensity) per level. Density = fraction of pixels that
# seed a streak; Rain100L/SPA-like rain is sparse and thin, Rain200H/DID-heavy is dense and long.
LEVELS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "light": (np.array([0.0012, 8.0, 0.8, 0.55]), np.array([0.0025, 16.0, 1.2, 0.75])),
    "medium": (np.array([0.0025, 12.0, 1.0, 0.6]), np.array([0.004, 22.0, 1.5, 0.8])),
    "heavy": (np.array([0.004, 18.0, 1.4, 0.7]), np.array([0.007, 30.0, 2.2, 0.9])),
}


def _line_kernel(length: float, angle_deg: float, width: float) -> np.ndarray:
    """Motion-blur kernel of one falling drop: a line with tapered ends, peak 1."""
    half = int(np.ceil(length / 2 + 2 * width)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    dx, dy = np.sin(theta), np.cos(theta)  # streak direction; image y grows downwards
    along = xx * dx + yy * dy
    across = xx * dy - yy * dx
    profile = np.exp(-0.5 * (across / max(width / 2.0, 0.4)) ** 2)
    taper = np.clip(1.0 - np.abs(along) / (length / 2.0), 0.0, 1.0) ** 0.7
    kernel = profile * taper
    return kernel / kernel.max()


def _seeded_layer(
    shape: tuple[int, int], rng: np.random.Generator, density: float, kernel: np.ndarray, gain: float
) -> np.ndarray:
    """Sparse random seeds convolved with `kernel`; padded so streaks enter from outside the frame."""
    pad = kernel.shape[0]
    h, w = shape[0] + 2 * pad, shape[1] + 2 * pad
    hit = rng.random((h, w)) < density
    seeds = np.where(hit, rng.uniform(0.4, 1.0, size=(h, w)) * gain, 0.0).astype(np.float32)
    layer = signal.fftconvolve(seeds, kernel, mode="same")
    return layer[pad:-pad, pad:-pad]


def render_streaks(
    shape: tuple[int, int], rng: np.random.Generator, angle_deg: float, density: float, length: float, width: float
) -> np.ndarray:
    """Streak layer (H, W) in [0, 1]: near drops (long, wide) over a finer, dimmer far layer.

    Public because Rain100L ships the streak layer and a binary rain mask next to each pair.
    """
    near = _seeded_layer(shape, rng, density, _line_kernel(length, angle_deg, width), 1.0)
    far_angle = angle_deg + float(rng.uniform(-4.0, 4.0))
    far_kernel = _line_kernel(length * 0.5, far_angle, max(width * 0.6, 0.6))
    far = _seeded_layer(shape, rng, density * 1.5, far_kernel, 0.5)
    layer = ndimage.gaussian_filter(np.maximum(near, far), 0.4)
    return np.clip(layer, 0.0, 1.0).astype(np.float32)


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def composite_streaks(img: np.ndarray, layer: np.ndarray, intensity: float, lit: bool = False) -> np.ndarray:
    """Screen-blend a streak layer onto `img` and add the haze (veil) that dense rain leaves.

    With `lit`, streak brightness follows the local light level, as at night where rain is only seen
    near lamps; otherwise streaks are uniform and the veil tends to a bright grey sky.
    """
    sigma = max(img.shape[0], img.shape[1]) / 10.0
    local = ndimage.gaussian_filter(img, (sigma, sigma, 0), truncate=2.0)
    strength = np.full(layer.shape, intensity, dtype=np.float32)
    if lit:
        strength *= np.clip(0.2 + 2.5 * _luma(local), 0.0, 1.3)
    s = np.clip(layer * strength, 0.0, 1.0)[..., None] * STREAK_COLOUR
    out = 1.0 - (1.0 - img) * (1.0 - s)
    veil = min(0.3, 2.5 * float(layer.mean()) * intensity)
    airlight = 1.3 * local if lit else 0.35 + 0.5 * local
    lift = 0.0 if lit else 0.02 * intensity  # daylight rain brightens the whole frame a little
    out = out * (1.0 - veil) + np.clip(airlight, 0.0, 1.0) * veil + lift
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def add_streaks(
    img: np.ndarray,
    rng: np.random.Generator,
    angle_deg: float,
    density: float,
    length: float,
    width: float,
    intensity: float,
    lit: bool = False,
) -> np.ndarray:
    """Rain streaks at `angle_deg` from vertical; `density` is the fraction of pixels seeding a streak."""
    layer = render_streaks(img.shape[:2], rng, angle_deg, density, length, width)
    return composite_streaks(img, layer, intensity, lit)


def add_streak_params(img: np.ndarray, rng: np.random.Generator, p: StreakParams, lit: bool = False) -> np.ndarray:
    """`add_streaks` with a `StreakParams` bundle."""
    return add_streaks(img, rng, p.angle_deg, p.density, p.length, p.width, p.intensity, lit)


def _one_drop(out: np.ndarray, source: np.ndarray, rng: np.random.Generator, radius: float) -> None:
    """Paint one drop into `out` in place: a flipped, magnified lens view of `source` with rim and glint."""
    h, w = out.shape[:2]
    ry, rx = radius * rng.uniform(0.9, 1.25), radius * rng.uniform(0.8, 1.05)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    y0, y1 = max(int(cy - ry) - 1, 0), min(int(np.ceil(cy + ry)) + 2, h)
    x0, x1 = max(int(cx - rx) - 1, 0), min(int(np.ceil(cx + rx)) + 2, w)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    v, u = (yy - cy) / ry, (xx - cx) / rx
    rho = np.sqrt(u**2 + v**2)
    alpha = np.clip((1.0 - rho) * min(rx, ry), 0.0, 1.0)[..., None]
    # A drop is a tiny lens: it shows an inverted view of a nearby patch, stretched towards its edge.
    mag = rng.uniform(0.45, 0.8) * (1.0 + 0.6 * rho**2)
    oy, ox = rng.normal(-radius, radius), rng.normal(0.0, radius)
    coords = [cy + oy - v * ry * mag, cx + ox - u * rx * mag]
    lens = np.stack([ndimage.map_coordinates(source[..., c], coords, order=1, mode="reflect") for c in range(3)], -1)
    rim = np.clip((rho - 0.65) / 0.35, 0.0, 1.0) ** 2
    glint = np.exp(-((u + 0.3) ** 2 + (v + 0.38) ** 2) / (2 * 0.13**2))
    lens = (0.85 * lens + 0.1) * (1.0 - 0.5 * rim)[..., None] + 0.75 * glint[..., None]
    patch = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = patch * (1.0 - alpha) + np.clip(lens, 0.0, 1.0) * alpha


def add_drops(
    img: np.ndarray,
    rng: np.random.Generator,
    count: int,
    radius_range: tuple[float, float],
    background_sigma: float = 0.9,
) -> np.ndarray:
    """Raindrops on glass in front of a slightly defocused background (the camera focuses past the glass)."""
    out = blur(img, background_sigma)
    source = blur(img, 1.5)
    for radius in np.sort(rng.uniform(*radius_range, size=count))[::-1]:
        _one_drop(out, source, rng, float(radius))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def to_night(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Night version of a day scene: strong gamma darkening, blue tint and a few warm street-light glows."""
    h, w = img.shape[:2]
    dark = img ** rng.uniform(1.8, 2.3) * rng.uniform(0.4, 0.55) * np.array([0.55, 0.7, 1.0], dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glow = np.zeros((h, w), dtype=np.float32)
    spill = np.zeros((h, w), dtype=np.float32)
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.05, 0.6) * h, rng.uniform(0.0, 1.0) * w
        sigma = rng.uniform(0.04, 0.09) * min(h, w)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        glow += rng.uniform(0.6, 1.0) * (np.exp(-d2 / (2 * sigma**2)) + np.exp(-d2 / (2 * (sigma / 4) ** 2)))
        spill += np.exp(-d2 / (2 * (3 * sigma) ** 2))
    lit = dark + 0.35 * img * np.clip(spill, 0.0, 1.0)[..., None] * WARM_LIGHT
    out = 1.0 - (1.0 - lit) * (1.0 - np.clip(glow, 0.0, 1.0)[..., None] * WARM_LIGHT)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel; later stages use it to check that quality scores drop."""
    if sigma <= 0:
        return img.astype(np.float32, copy=True)
    return np.clip(ndimage.gaussian_filter(img, (sigma, sigma, 0)), 0.0, 1.0).astype(np.float32)
