"""The metric protocols: hand-computed golden cases, cross-checks against scikit-image, and the gap
between rounded and float Y on a near-perfect restoration."""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from evaluation.protocols import PROTOCOLS, get_protocol, luma_basicsr, luma_double, luma_u8, luma_yiq_rounded
from evaluation.ssim import gaussian_taps, ssim

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def solid(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def photo(seed: int, h: int = 48, w: int = 40) -> np.ndarray:
    """A smooth random image with texture, like a photograph at small scale."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 60 * np.sin(xx / 5.0)[..., None] * np.cos(yy / 7.0)[..., None] * np.array([1.0, 0.8, 0.6])
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).round().astype(np.uint8)


def test_luma_formulas_by_hand():
    white, black = solid(1, 1, (255, 255, 255)), solid(1, 1, (0, 0, 0))
    assert luma_double(white)[0, 0] == pytest.approx(235.0) and luma_double(black)[0, 0] == 16.0
    # (10, 200, 30): 16 + (65.481·10 + 128.553·200 + 24.966·30) / 255 = 16 + 27114.39 / 255 = 122.33094...
    pixel = solid(1, 1, (10, 200, 30))
    assert luma_double(pixel)[0, 0] == pytest.approx(16 + 27114.39 / 255, abs=1e-9)
    assert luma_u8(pixel)[0, 0] == 122.0  # MATLAB's uint8 rgb2ycbcr rounds
    # (0, 204, 68): 16 + (128.553·204 + 24.966·68) / 255 = 16 + 27922.5 / 255 = 125.5 exactly; half rounds up
    # (double arithmetic gives 125.49999999999999 here, which is why luma_u8 works in integers)
    assert luma_u8(solid(1, 1, (0, 204, 68)))[0, 0] == 126.0
    assert luma_basicsr(pixel)[0, 0] == pytest.approx(16 + 27114.39 / 255, abs=1e-4)  # float32, not rounded
    # pyiqa's YIQ luma: 0.299·10 + 0.587·200 + 0.114·30 = 123.81 -> 124
    assert luma_yiq_rounded(pixel)[0, 0] == 124.0


def test_psnr_golden_one_grey_level_everywhere():
    gt, restored = solid(16, 16, (0, 0, 0)), solid(16, 16, (1, 1, 1))
    # Y differs by 219/255 = 0.8588 (studio swing): float protocols see that, uint8 Y rounds it to 1.
    float_y = 10 * math.log10(255**2 / (219 / 255) ** 2)
    assert get_protocol("matlab_y_double").psnr(restored, gt) == pytest.approx(float_y)
    assert get_protocol("basicsr_y_float").psnr(restored, gt) == pytest.approx(float_y, abs=1e-4)
    assert get_protocol("matlab_y_u8").psnr(restored, gt) == pytest.approx(10 * math.log10(255**2 / 1.0))
    assert get_protocol("skimage_rgb").psnr(restored, gt) == pytest.approx(10 * math.log10(255**2 / 1.0))
    pyiqa = 10 * math.log10(1 / ((1 / 255) ** 2 + 1e-8))  # pyiqa adds its eps to the MSE
    assert get_protocol("pyiqa_default").psnr(restored, gt) == pytest.approx(pyiqa)


def test_psnr_golden_one_pixel_of_sixteen():
    gt = solid(4, 4, (100, 100, 100))
    restored = gt.copy()
    restored[2, 3] = (110, 100, 100)  # only R changes: RGB MSE = 10² / (16·3)
    assert get_protocol("skimage_rgb").psnr(restored, gt) == pytest.approx(10 * math.log10(255**2 / (100 / 48)))
    dy = 65.481 * 10 / 255  # = 2.5679 in Y
    assert get_protocol("matlab_y_double").psnr(restored, gt) == pytest.approx(10 * math.log10(255**2 / (dy**2 / 16)))
    # uint8 Y: grey 100 -> 16 + 219·100/255 = 101.88 -> 102; with R + 10 -> 104.45 -> 104: a step of 2.
    assert get_protocol("matlab_y_u8").psnr(restored, gt) == pytest.approx(10 * math.log10(255**2 / (2**2 / 16)))


def test_exact_match_is_infinite_except_under_pyiqa():
    image = photo(0)
    for name in ("matlab_y_u8", "matlab_y_double", "basicsr_y_float", "skimage_rgb"):
        assert get_protocol(name).psnr(image, image) == math.inf
        assert get_protocol(name).ssim(image, image) == pytest.approx(1.0)
    assert get_protocol("pyiqa_default").psnr(image, image) == pytest.approx(80.0)  # 10·log10(1 / 1e-8)


def test_ssim_golden_flat_images_reduce_to_the_luminance_term():
    gt, restored = solid(11, 11, (0, 0, 0)), solid(11, 11, (255, 255, 255))
    # One valid window; no variance, so SSIM = (2·a·b + C1) / (a² + b² + C1) with a, b the Y values.
    a, b = 16.0, 235.0
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert get_protocol("matlab_y_u8").ssim(restored, gt) == pytest.approx(expected, abs=1e-12)
    assert get_protocol("matlab_y_double").ssim(restored, gt) == pytest.approx(expected, abs=1e-12)
    rgb = (2 * 0 * 255 + C1) / (0 + 255**2 + C1)  # RGB: a = 0, b = 255 in every channel
    assert get_protocol("skimage_rgb").ssim(restored, gt) == pytest.approx(rgb, abs=1e-9)


def test_ssim_golden_one_window_written_out():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 255, (11, 11)), rng.uniform(0, 255, (11, 11))
    window = np.outer(gaussian_taps(), gaussian_taps())
    assert window.shape == (11, 11) and window.sum() == pytest.approx(1.0)
    assert window[5, 5] / window[5, 6] == pytest.approx(math.exp(1 / (2 * 1.5**2)))  # σ = 1.5
    mx, my = (window * x).sum(), (window * y).sum()
    vx, vy = (window * x * x).sum() - mx**2, (window * y * y).sum() - my**2
    cov = (window * x * y).sum() - mx * my
    expected = (2 * mx * my + C1) * (2 * cov + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    assert ssim(x, y) == pytest.approx(expected, abs=1e-12)


def test_pyiqa_ssim_clamps_a_negative_structure_term_at_zero():
    x = np.random.default_rng(5).uniform(0, 255, (11, 11))
    y = 255.0 - x  # anti-correlated: cov = −var, so the contrast-structure term is negative
    window = np.outer(gaussian_taps(), gaussian_taps())
    mx, var = (window * x).sum(), (window * x * x).sum() - (window * x).sum() ** 2
    my = 255.0 - mx
    wang = (2 * mx * my + C1) * (-2 * var + C2) / ((mx**2 + my**2 + C1) * (2 * var + C2))
    assert wang < 0 and ssim(x, y) == pytest.approx(wang, abs=1e-12)
    assert ssim(x, y, relu_cs=True) == 0.0


def test_pyiqa_default_ssim_uses_rounded_yiq_luma():
    gt, restored = solid(11, 11, (10, 200, 30)), solid(11, 11, (0, 0, 0))
    a, b = 124.0, 0.0  # round(0.299·10 + 0.587·200 + 0.114·30) = round(123.81); black stays 0
    assert get_protocol("pyiqa_default").ssim(restored, gt) == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1))


def test_ssim_equals_skimage_gaussian_wang_settings():
    for seed in range(3):
        a, b = photo(seed, 37, 53)[..., 0].astype(np.float64), photo(seed + 10, 37, 53)[..., 0].astype(np.float64)
        reference = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)
        assert ssim(a, b) == pytest.approx(reference, abs=1e-9)


def test_y_psnr_equals_skimage_on_the_same_luma():
    gt, restored = photo(1), photo(2)
    for name, luma in (("matlab_y_u8", luma_u8), ("matlab_y_double", luma_double), ("basicsr_y_float", luma_basicsr)):
        reference = peak_signal_noise_ratio(luma(gt), luma(restored), data_range=255)
        assert get_protocol(name).psnr(restored, gt) == pytest.approx(reference, abs=1e-9)


def test_rgb_protocol_equals_skimage_on_uint8():
    gt, restored = photo(4), photo(5)
    expected_psnr = peak_signal_noise_ratio(gt, restored)
    assert get_protocol("skimage_rgb").psnr(restored, gt) == pytest.approx(expected_psnr, abs=1e-9)
    expected = structural_similarity(gt, restored, channel_axis=-1, data_range=255, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False)
    assert get_protocol("skimage_rgb").ssim(restored, gt) == pytest.approx(expected, abs=1e-9)


def test_rounded_and_float_y_differ_on_a_near_perfect_restoration():
    gt = photo(7, 64, 64)
    rng = np.random.default_rng(8)
    restored = gt.astype(np.int16)
    restored[rng.random(gt.shape) < 0.05] += 1  # 5 % of the channel values off by one grey level
    restored = np.clip(restored, 0, 255).astype(np.uint8)
    u8, flt = get_protocol("matlab_y_u8").psnr(restored, gt), get_protocol("basicsr_y_float").psnr(restored, gt)
    print(f"\nnear-perfect restoration: matlab_y_u8 {u8:.3f} dB, basicsr_y_float {flt:.3f} dB")
    assert flt > 50 and u8 > 50
    assert abs(u8 - flt) > 0.5  # rounding Y to 8 bits alone moves PSNR by more than published gaps
    assert get_protocol("matlab_y_double").psnr(restored, gt) == pytest.approx(flt, abs=0.01)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown metric protocol 'matlab'.*matlab_y_u8"):
        get_protocol("matlab")
    with pytest.raises(ValueError, match="restored image is 5×4 but its ground truth is 4×4"):
        get_protocol("matlab_y_u8").psnr(solid(4, 5, (0, 0, 0)), solid(4, 4, (0, 0, 0)))
    with pytest.raises(ValueError, match=r"uint8 RGB or \(H, W\) uint8 grey"):
        get_protocol("skimage_rgb").psnr(np.zeros((4, 4, 3)), solid(4, 4, (0, 0, 0)))
    with pytest.raises(ValueError, match="at least 11×11"):
        get_protocol("matlab_y_u8").ssim(solid(8, 20, (0, 0, 0)), solid(8, 20, (0, 0, 0)))
    assert set(PROTOCOLS) == {"matlab_y_u8", "matlab_y_double", "basicsr_y_float", "skimage_uniform_rgb", "skimage_rgb",
                              "pyiqa_default"}


def test_skimage_uniform_is_promptirs_exact_call_and_differs_from_the_gaussian_one():
    """PromptIR / AirNet / MoCE-IR: structural_similarity(clean, restored, data_range=1, multichannel=True),
    i.e. skimage's defaults (7×7 uniform window, sample covariance), spelt for skimage >= 0.19."""
    gaps = []
    for seed in range(6):
        gt, restored = photo(seed, 64, 72), photo(seed + 20, 64, 72)
        upstream = structural_similarity(gt / 255.0, restored / 255.0, data_range=1, channel_axis=-1)
        assert get_protocol("skimage_uniform_rgb").ssim(restored, gt) == pytest.approx(upstream, abs=1e-12)
        assert get_protocol("skimage_uniform_rgb").psnr(restored, gt) == get_protocol("skimage_rgb").psnr(restored, gt)
        gaps.append(abs(upstream - get_protocol("skimage_rgb").ssim(restored, gt)))
    assert max(gaps) > 1e-3, gaps   # the window matters: the two are different protocols
    with pytest.raises(ValueError, match="at least 7×7"):
        get_protocol("skimage_uniform_rgb").ssim(solid(6, 20, (1, 2, 3)), solid(6, 20, (1, 2, 3)))


def test_grey_images_are_scored_on_their_grey_values():
    """BasicSR and the MATLAB scripts score a one-channel image as it is: replicated to RGB, its Y would be
    16 + 219/255·g, every error shrunk by 219/255, and PSNR 20·log10(255/219) = 1.32 dB higher."""
    gt, restored = photo(3)[..., 1], photo(4)[..., 1]            # (H, W) grey
    mse = np.mean((gt.astype(float) - restored.astype(float)) ** 2)
    replicate = lambda g: np.repeat(g[..., None], 3, axis=2)   # noqa: E731
    for name in ("matlab_y_u8", "matlab_y_double", "basicsr_y_float"):
        assert get_protocol(name).psnr(restored, gt) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
        assert get_protocol(name).ssim(restored, gt) == pytest.approx(ssim(gt.astype(float), restored.astype(float)),
                                                                      abs=1e-12)
    gap = get_protocol("matlab_y_double").psnr(restored, gt) - get_protocol("matlab_y_double").psnr(
        replicate(restored), replicate(gt))
    assert gap == pytest.approx(-20 * math.log10(255 / 219), abs=1e-9)
    for name in ("skimage_uniform_rgb", "skimage_rgb", "pyiqa_default"):   # grey = grey replicated to RGB
        protocol = get_protocol(name)
        assert protocol.psnr(restored, gt) == pytest.approx(protocol.psnr(replicate(restored), replicate(gt)), abs=1e-9)
        assert protocol.ssim(restored, gt) == pytest.approx(protocol.ssim(replicate(restored), replicate(gt)), abs=1e-9)
    # a grey ground truth with an RGB restoration: the grey one is replicated
    assert get_protocol("matlab_y_u8").psnr(replicate(restored), gt) == \
        get_protocol("matlab_y_u8").psnr(replicate(restored), replicate(gt))
