"""Scoring reads 16-bit files at full depth and rounds them to 8 bits; grey files stay grey."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from evaluation.reading import read_for_scoring, to_8bit


def _levels() -> np.ndarray:
    """(256, 256, 3) uint16: every 16-bit value once per channel (the channels in different orders)."""
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    return np.stack([values, values[::-1], values.T], axis=-1)


def test_a_48_bit_png_is_read_at_full_depth_and_rounded(tmp_path):
    rgb16 = _levels()
    cv2.imwrite(str(tmp_path / "deep.png"), rgb16[..., ::-1])   # OpenCV writes BGR
    got = read_for_scoring(tmp_path / "deep.png")
    expected = np.round(rgb16 / 65535 * 255).astype(np.uint8)
    assert got.dtype == np.uint8 and got.shape == (256, 256, 3) and np.array_equal(got, expected)
    high_byte = np.asarray(Image.open(tmp_path / "deep.png").convert("RGB"))   # what Pillow gives: v >> 8
    assert np.array_equal(high_byte, (rgb16 >> 8).astype(np.uint8))
    # a level off wherever the dropped low byte passes the rounding point: 16256 of the 65536 values (24.8 %),
    # half of them one level low, half one level high
    off = expected.astype(int) - high_byte
    assert np.abs(off).max() == 1 and np.sum(off == 1) == np.sum(off == -1) == 3 * 8128


def test_16_bit_grey_and_8_bit_files(tmp_path):
    grey16 = _levels()[..., 0]
    cv2.imwrite(str(tmp_path / "grey16.png"), grey16)
    assert np.array_equal(read_for_scoring(tmp_path / "grey16.png"), np.round(grey16 / 65535 * 255).astype(np.uint8))
    rgb8 = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb8).save(tmp_path / "rgb.png")
    Image.fromarray(rgb8[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(rgb8).convert("RGBA").save(tmp_path / "alpha.png")
    assert np.array_equal(read_for_scoring(tmp_path / "rgb.png"), rgb8)
    assert np.array_equal(read_for_scoring(tmp_path / "grey.png"), rgb8[..., 0])   # (H, W): grey stays grey
    assert np.array_equal(read_for_scoring(tmp_path / "alpha.png"), rgb8)
    assert np.array_equal(to_8bit(np.array([0, 128, 32767, 32768, 65535], dtype=np.uint16)), [0, 0, 127, 128, 255])
