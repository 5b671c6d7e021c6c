"""The named PSNR/SSIM protocols: every number rainrag reports carries one of these names.

Deraining papers compute PSNR/SSIM in several incompatible ways; at 40+ dB rounding Y to 8 bits alone
moves PSNR by tenths of a dB, more than many published gaps between methods. A protocol pins colour
space, Y formula, rounding and SSIM variant (see shared reference metrics.md). Inputs are always the
decoded saved files, restored first, ground truth second: (H, W, 3) uint8 RGB, or (H, W) uint8 grey.

| name                  | PSNR on                                   | SSIM on                              |
|-----------------------|-------------------------------------------|--------------------------------------|
| `matlab_y_u8`         | Y BT.601 studio, rounded to uint8 (MATLAB rgb2ycbcr on uint8) | same Y, Wang 2004 valid |
| `matlab_y_double`     | Y BT.601 studio in float64, no rounding (rgb2ycbcr on im2double, ×255) | same Y       |
| `basicsr_y_float`     | Y as BasicSR's to_y_channel: float32 from uint8, no rounding | same Y (valid Gaussian)  |
| `skimage_uniform_rgb` | RGB in [0, 1], skimage peak_signal_noise_ratio | skimage defaults: 7×7 uniform window, sample covariance |
| `skimage_rgb`         | RGB in [0, 1], skimage peak_signal_noise_ratio | skimage Gaussian SSIM (Wang 2004 settings) |
| `pyiqa_default`       | RGB in [0, 1], pyiqa `psnr` (MSE + 1e-8)  | pyiqa `ssim`: YIQ luma ×255 rounded, cs ≥ 0 |

BT.601 studio swing with RGB in [0, 1]: Y = 16 + 65.481 R + 128.553 G + 24.966 B, Y in [16, 235].
PSNR = 10·log10(peak² / MSE); an exact match (MSE = 0) is +inf, except under `pyiqa_default`, whose ε
caps it at 80 dB as pyiqa does (`Protocol.psnr_cap`). Folder means leave the +inf of identical pairs
out and count them (`evaluation.folders`).

Grey and 16-bit input, one rule for all protocols. A 16-bit file is read at full depth and rounded to
8 bits (`evaluation.reading`). A grey image is scored on its grey values: the Y protocols take them as
Y, as BasicSR's to_y_channel and the MATLAB scripts do with one-channel images (replicating grey to RGB
first would compress it to studio swing, 16 + 219/255·g, and raise PSNR by 20·log10(255/219) = 1.32 dB);
for the RGB protocols and pyiqa, scoring the grey channel equals scoring the grey replicated to RGB
(equal channels have equal errors, and the YIQ luma of equal channels is the channel). A grey image
paired with an RGB one is replicated to RGB first.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from evaluation.reading import as_rgb
from evaluation.ssim import SIGMA, ssim

BT601_STUDIO = np.array([65.481, 128.553, 24.966])  # × RGB in [0, 1], + 16
YIQ_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # pyiqa's rgb2yiq first row
PYIQA_EPS = 1e-8  # pyiqa's psnr: 10·log10(1 / (MSE + eps))
PYIQA_PSNR_CAP = 10.0 * math.log10(1.0 / PYIQA_EPS)   # 80 dB: what an exact match scores under pyiqa
UNIFORM_WINDOW = 7  # skimage structural_similarity's default win_size


def _is_grey(image: np.ndarray) -> bool:
    return image.ndim == 2


def _checked(restored: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair as the protocols score it: both grey, or both RGB (a lone grey image replicated)."""
    for name, image in (("restored", restored), ("reference", reference)):
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"{name} image must be (H, W, 3) uint8 RGB or (H, W) uint8 grey, got "
                             f"{image.shape} {image.dtype}")
    if restored.shape[:2] != reference.shape[:2]:
        raise ValueError(f"restored image is {restored.shape[1]}×{restored.shape[0]} but its ground truth is "
                         f"{reference.shape[1]}×{reference.shape[0]}")
    if _is_grey(restored) != _is_grey(reference):
        restored, reference = as_rgb(restored), as_rgb(reference)
    return restored, reference


def _grey_or(luma: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """A Y formula that takes a grey image's values as its Y (see the module docstring)."""
    return lambda image: image.astype(np.float64) if _is_grey(image) else luma(image)


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
    psnr_cap: float | None = None   # the PSNR of an exact match when the protocol caps it (else +inf)

    def psnr(self, restored: np.ndarray, reference: np.ndarray) -> float:
        """PSNR in dB of a restored uint8 image ((H, W, 3) RGB or (H, W) grey) against its ground truth."""
        return self.psnr_fn(*_checked(restored, reference))

    def ssim(self, restored: np.ndarray, reference: np.ndarray) -> float:
        """SSIM (at most 1) of a restored uint8 image ((H, W, 3) RGB or (H, W) grey) against its ground truth."""
        return self.ssim_fn(*_checked(restored, reference))


def _y_protocol(name: str, luma: Callable[[np.ndarray], np.ndarray], summary: str, used_by: str) -> Protocol:
    luma = _grey_or(luma)
    return Protocol(
        name, summary, used_by,
        psnr_fn=lambda a, b: psnr_from_mse(_mse(luma(a), luma(b)), 255.0),
        ssim_fn=lambda a, b: ssim(luma(a), luma(b), data_range=255.0),
    )


def _skimage_psnr(a: np.ndarray, b: np.ndarray) -> float:
    with warnings.catch_warnings():  # an exact match divides by zero: +inf, as documented
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(peak_signal_noise_ratio(b / 255.0, a / 255.0, data_range=1.0))


def _channels(image: np.ndarray) -> dict:
    return {} if _is_grey(image) else {"channel_axis": -1}


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(b / 255.0, a / 255.0, data_range=1.0, gaussian_weights=True, sigma=SIGMA,
                                       use_sample_covariance=False, **_channels(a)))


def _skimage_uniform_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """PromptIR's call, `structural_similarity(clean, restored, data_range=1, multichannel=True)`, in the
    spelling skimage >= 0.19 needs (`channel_axis=-1`; `multichannel` is gone since 0.21). Its defaults
    (7×7 uniform window, sample covariance) need images of at least 7×7: skimage refuses smaller ones
    ("win_size exceeds image extent") unless win_size is set to an odd size that fits, which no
    upstream script does, so neither does this protocol."""
    if min(a.shape[:2]) < UNIFORM_WINDOW:
        raise ValueError(f"SSIM with skimage's default window needs images of at least {UNIFORM_WINDOW}×"
                         f"{UNIFORM_WINDOW} pixels, got {a.shape[1]}×{a.shape[0]}")
    return float(structural_similarity(b / 255.0, a / 255.0, data_range=1, **_channels(a)))


def _pyiqa_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10.0 * math.log10(1.0 / (_mse(a / 255.0, b / 255.0) + PYIQA_EPS))


def _pyiqa_ssim(a: np.ndarray, b: np.ndarray) -> float:
    luma = _grey_or(luma_yiq_rounded)
    return ssim(luma(a), luma(b), data_range=255.0, relu_cs=True)


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    _y_protocol("matlab_y_u8", luma_u8, "Y (BT.601 studio) rounded to uint8; SSIM Wang 2004 valid on that Y",
                "Restormer/MPRNet evaluate_PSNR_SSIM.m (Rain13K); DRSformer, NeRD-Rain, MSDT, IDT (Rain200, SPA)"),
    _y_protocol("matlab_y_double", luma_double, "Y (BT.601 studio) in float64, not rounded; SSIM on Y",
                "RCDNet, DRSformer, NeRD-Rain on DID/DDN; PReNet"),
    _y_protocol("basicsr_y_float", luma_basicsr, "Y (BT.601 studio) in float32 from uint8, not rounded; SSIM on Y",
                "BasicSR calculate_psnr/ssim(test_y_channel=True), MMagic"),
    Protocol("skimage_uniform_rgb", "RGB in [0, 1]; skimage PSNR and skimage's default SSIM (7×7 uniform window, "
             "sample covariance) over channels",
             "PromptIR, AirNet, AdaIR, MoCE-IR (compute_psnr_ssim: structural_similarity(data_range=1, "
             "multichannel=True)); they score the network's float output, this scores the saved 8-bit PNG",
             _skimage_psnr, _skimage_uniform_ssim),
    Protocol("skimage_rgb", "RGB in [0, 1]; skimage PSNR and Gaussian SSIM (Wang 2004 settings) over channels",
             "skimage's documented way to match Wang et al. 2004 (gaussian_weights, sigma 1.5, population "
             "covariance); PromptIR-style scripts use skimage's defaults instead: see skimage_uniform_rgb",
             _skimage_psnr, _skimage_ssim),
    Protocol("pyiqa_default", "PSNR on RGB (pyiqa psnr, eps 1e-8); SSIM on rounded YIQ luma (pyiqa ssim)",
             "UniRain cal_metrics.py, CST-Net", _pyiqa_psnr, _pyiqa_ssim, psnr_cap=PYIQA_PSNR_CAP),
)}


def get_protocol(name: str) -> Protocol:
    """The protocol called `name`; an unknown name is an error listing the known ones."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown metric protocol {name!r}; known protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
