"""The named PSNR/SSIM protocols: every number rainrag reports carries one of these names.

Deraining papers compute PSNR/SSIM in several incompatible ways; at 40+ dB rounding Y to 8 bits alone
moves PSNR by tenths of a dB, more than many published gaps between methods. A protocol pins colour
space, Y formula, rounding and SSIM variant (see shared reference metrics.md). Inputs are always the
decoded saved files: (H, W, 3) uint8 RGB, restored first, ground truth second.

| name              | PSNR on                                   | SSIM on                              |
|-------------------|-------------------------------------------|--------------------------------------|
| `matlab_y_u8`     | Y BT.601 studio, rounded to uint8 (MATLAB rgb2ycbcr on uint8) | same Y, Wang 2004 valid |
| `matlab_y_double` | Y BT.601 studio in float64, no rounding (rgb2ycbcr on im2double, ×255) | same Y       |
| `basicsr_y_float` | Y as BasicSR's to_y_channel: float32 from uint8, no rounding | same Y (valid Gaussian)  |
| `skimage_rgb`     | RGB in [0, 1], skimage peak_signal_noise_ratio | skimage Gaussian SSIM, channel_axis=-1 |
| `pyiqa_default`   | RGB in [0, 1], pyiqa `psnr` (MSE + 1e-8)  | pyiqa `ssim`: YIQ luma ×255 rounded, cs ≥ 0 |

BT.601 studio swing with RGB in [0, 1]: Y = 16 + 65.481 R + 128.553 G + 24.966 B, Y in [16, 235].
PSNR = 10·log10(peak² / MSE); an exact match (MSE = 0) is +inf and reported as such, except under
`pyiqa_default`, whose ε caps it at 80 dB as pyiqa does.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from evaluation.ssim import SIGMA, ssim

BT601_STUDIO = np.array([65.481, 128.553, 24.966])  # × RGB in [0, 1], + 16
YIQ_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # pyiqa's rgb2yiq first row
PYIQA_EPS = 1e-8  # pyiqa's psnr: 10·log10(1 / (MSE + eps))


def _check(restored: np.ndarray, reference: np.ndarray) -> None:
    for name, image in (("restored", restored), ("reference", reference)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{name} image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if restored.shape != reference.shape:
        raise ValueError(f"restored image is {restored.shape[1]}×{restored.shape[0]} but its ground truth is "
                         f"{reference.shape[1]}×{reference.shape[0]}")


def luma_double(rgb8: np.ndarray) -> np.ndarray:
    """(H, W) float64 Y in [16, 235]: MATLAB rgb2ycbcr(im2double(x)) × 255, not rounded."""
    return 16.0 + (rgb8.astype(np.float64) / 255.0) @ BT601_STUDIO


def luma_u8(rgb8: np.ndarray) -> np.ndarray:
    """(H, W) float64 holding uint8 Y: MATLAB rgb2ycbcr on uint8, the exact value rounded half up.

    Computed in integers (Y = 16 + (65481 R + 128553 G + 24966 B) / 255000), so the 194 (R, G, B)
    combinations whose exact Y ends in .5 round up on every machine; double arithmetic lands some of
    them just below .5 (about 1e-5 of all colours, a PSNR effect far below 0.01 dB).
    """
    weighted = rgb8.astype(np.int64) @ np.array([65481, 128553, 24966], dtype=np.int64)  # (H, W)
    return (16 + (weighted + 127_500) // 255_000).astype(np.float64)


def luma_basicsr(rgb8: np.ndarray) -> np.ndarray:
    """(H, W) float64 Y of BasicSR's to_y_channel: uint8 → float32 /255 → bgr2ycbcr(y_only) → float32 ×255."""
    unit = rgb8.astype(np.float32) / np.float32(255.0)
    y = (unit @ BT601_STUDIO + 16.0) / 255.0  # float64 product of the float32 image, as numpy does there
    return (y.astype(np.float32) * np.float32(255.0)).astype(np.float64)


def luma_yiq_rounded(rgb8: np.ndarray) -> np.ndarray:
    """(H, W) float64 Y of pyiqa's ssim: float32 [0, 1] RGB → YIQ luma → ×255 → rounded (half to even)."""
    unit = rgb8.astype(np.float32) / np.float32(255.0)
    return np.round((unit @ YIQ_LUMA) * np.float32(255.0)).astype(np.float64)


def psnr_from_mse(mse: float, peak: float) -> float:
    """10·log10(peak² / MSE) in dB; +inf for MSE = 0."""
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


@dataclass(frozen=True)
class Protocol:
    """One way to compute PSNR and SSIM, with what it is and who uses it."""

    name: str
    summary: str
    used_by: str
    psnr_fn: Callable[[np.ndarray, np.ndarray], float]
    ssim_fn: Callable[[np.ndarray, np.ndarray], float]

    def psnr(self, restored: np.ndarray, reference: np.ndarray) -> float:
        """PSNR in dB of a restored (H, W, 3) uint8 RGB image against its ground truth."""
        _check(restored, reference)
        return self.psnr_fn(restored, reference)

    def ssim(self, restored: np.ndarray, reference: np.ndarray) -> float:
        """SSIM (at most 1) of a restored (H, W, 3) uint8 RGB image against its ground truth."""
        _check(restored, reference)
        return self.ssim_fn(restored, reference)


def _y_protocol(name: str, luma: Callable[[np.ndarray], np.ndarray], summary: str, used_by: str) -> Protocol:
    return Protocol(
        name, summary, used_by,
        psnr_fn=lambda a, b: psnr_from_mse(_mse(luma(a), luma(b)), 255.0),
        ssim_fn=lambda a, b: ssim(luma(a), luma(b), data_range=255.0),
    )


def _skimage_psnr(a: np.ndarray, b: np.ndarray) -> float:
    with warnings.catch_warnings():  # an exact match divides by zero: +inf, as documented
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(peak_signal_noise_ratio(b / 255.0, a / 255.0, data_range=1.0))


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(b / 255.0, a / 255.0, data_range=1.0, channel_axis=-1,
                                       gaussian_weights=True, sigma=SIGMA, use_sample_covariance=False))


def _pyiqa_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10.0 * math.log10(1.0 / (_mse(a / 255.0, b / 255.0) + PYIQA_EPS))


def _pyiqa_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return ssim(luma_yiq_rounded(a), luma_yiq_rounded(b), data_range=255.0, relu_cs=True)


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    _y_protocol("matlab_y_u8", luma_u8, "Y (BT.601 studio) rounded to uint8; SSIM Wang 2004 valid on that Y",
                "Restormer/MPRNet evaluate_PSNR_SSIM.m (Rain13K); DRSformer, NeRD-Rain, MSDT, IDT (Rain200, SPA)"),
    _y_protocol("matlab_y_double", luma_double, "Y (BT.601 studio) in float64, not rounded; SSIM on Y",
                "RCDNet, DRSformer, NeRD-Rain on DID/DDN; PReNet"),
    _y_protocol("basicsr_y_float", luma_basicsr, "Y (BT.601 studio) in float32 from uint8, not rounded; SSIM on Y",
                "BasicSR calculate_psnr/ssim(test_y_channel=True), MMagic"),
    Protocol("skimage_rgb", "RGB in [0, 1]; skimage PSNR and Gaussian SSIM over channels",
             "MoCE-IR, PromptIR, AirNet, UniRain test.py", _skimage_psnr, _skimage_ssim),
    Protocol("pyiqa_default", "PSNR on RGB (pyiqa psnr, eps 1e-8); SSIM on rounded YIQ luma (pyiqa ssim)",
             "UniRain cal_metrics.py, CST-Net", _pyiqa_psnr, _pyiqa_ssim),
)}


def get_protocol(name: str) -> Protocol:
    """The protocol called `name`; an unknown name is an error listing the known ones."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown metric protocol {name!r}; known protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
