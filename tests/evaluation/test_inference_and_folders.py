"""Restoring with checkpoints (padding, tiling, loading errors), LPIPS's clear error, and folder scoring."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from evaluation.folders import pair_by_stem, score_folders, write_scores_json
from evaluation.inference import Restorer, identity, load_checkpoint, restore
from evaluation.lpips import Lpips, LpipsUnavailable


class SizeCheckedPixelNet(nn.Module):
    """A per-pixel network (1×1 conv) that insists on inputs padded to a multiple of 8, recording their sizes."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Conv2d(3, 3, kernel_size=1)
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0
        self.seen.append(tuple(x.shape[-2:]))
        return torch.sigmoid(self.mix(x))


def pixel_restorer() -> Restorer:
    torch.manual_seed(0)
    return Restorer("pixel", "pixel", "none", 0, "none", SizeCheckedPixelNet().eval())


def test_tiles_cover_the_image_and_agree_with_one_pass():
    rgb = np.random.default_rng(0).integers(0, 256, (70, 93, 3), dtype=np.uint8)
    restorer = pixel_restorer()
    whole = restore(restorer, rgb, tile=128)
    assert restorer.net.seen == [(72, 96)]  # padded to the multiple, then cropped back
    assert whole.shape == rgb.shape and whole.dtype == np.uint8
    restorer.net.seen.clear()
    tiled = restore(restorer, rgb, tile=32, overlap=8)
    # rows start at 0, 24, 38 (flush with the end); columns at 0, 24, 48, 61
    assert len(restorer.net.seen) == 3 * 4 and set(restorer.net.seen) == {(32, 32)}
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1  # a per-pixel net: only float rounding
    assert restore(identity(), rgb) is rgb
    with pytest.raises(ValueError, match="multiple of 8"):
        restore(restorer, rgb, tile=30)


def test_checkpoint_rebuilds_the_trained_network(tiny_run):
    restorer = load_checkpoint(tiny_run, torch.device("cpu"))
    assert (restorer.label, restorer.model, restorer.step) == ("run@4", "unirain", 4)
    state = torch.load(tiny_run / "checkpoints" / "ckpt-00000004.pt", map_location="cpu", weights_only=False)
    for name, tensor in restorer.net.state_dict().items():
        assert torch.equal(tensor, state["model"][name]), name
    assert not restorer.net.training  # eval mode: no routing noise at inference
    rgb = np.random.default_rng(1).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    assert np.array_equal(restore(restorer, rgb), restore(restorer, rgb))  # deterministic


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        load_checkpoint(tmp_path, torch.device("cpu"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "ckpt.pt", torch.device("cpu"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt does not load"):
        load_checkpoint(tmp_path / "junk.pt", torch.device("cpu"))
    torch.save({"model": {}, "step": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a rainrag training checkpoint"):
        load_checkpoint(tmp_path / "other.pt", torch.device("cpu"))
    torch.save({"model": {"w": torch.zeros(1)}, "step": 1, "config": {"network": "prenet"}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt: its weights do not fit network 'prenet'"):
        load_checkpoint(tmp_path / "bad.pt", torch.device("cpu"))


def test_lpips_without_its_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # what an environment without the package looks like
    with pytest.raises(LpipsUnavailable, match="`lpips` package, which is not installed.*pip install lpips"):
        Lpips()


def save(folder, name, rgb):
    folder.mkdir(exist_ok=True)
    Image.fromarray(rgb).save(folder / name)


def test_folder_scoring_pairs_by_stem_and_writes_per_image_json(tmp_path):
    rng = np.random.default_rng(2)
    a, b = (rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(2))
    save(tmp_path / "gt", "a.jpg", a)  # a JPEG ground truth pairs with a PNG restoration of the same stem
    save(tmp_path / "gt", "b.png", b)
    decoded_a = np.asarray(Image.open(tmp_path / "gt" / "a.jpg").convert("RGB"))
    save(tmp_path / "pred", "a.png", decoded_a)
    save(tmp_path / "pred", "b.png", np.clip(b.astype(int) + 3, 0, 255).astype(np.uint8))
    assert [stem for stem, _, _ in pair_by_stem(tmp_path / "pred", tmp_path / "gt")] == ["a", "b"]
    scores = score_folders(tmp_path / "pred", tmp_path / "gt", ["matlab_y_double", "skimage_rgb", "pyiqa_default"])
    rgb = scores["skimage_rgb"]
    # one identical pair: counted, and left out of the PSNR mean, which stays that of the other pair
    assert rgb.n == 2 and rgb.images[0].psnr == float("inf") and rgb.identical == 1
    assert rgb.mean("psnr") == rgb.images[1].psnr and math.isfinite(rgb.mean("psnr"))
    assert rgb.mean("ssim") == pytest.approx((1.0 + rgb.images[1].ssim) / 2)
    capped = scores["pyiqa_default"]   # pyiqa's own cap: the identical pair scores 80 dB and is averaged
    assert capped.identical == 1 and capped.images[0].psnr == pytest.approx(80.0)
    assert capped.mean("psnr") == pytest.approx((80.0 + capped.images[1].psnr) / 2)
    assert rgb.mean("lpips") is None
    write_scores_json(tmp_path / "s.json", scores)
    written = json.loads((tmp_path / "s.json").read_text())["protocols"]
    assert written["matlab_y_double"]["mean"]["psnr"] == pytest.approx(scores["matlab_y_double"].images[1].psnr)
    assert written["matlab_y_double"]["identical"] == 1 and written["matlab_y_double"]["images"][0]["psnr"] == "inf"
    assert written["matlab_y_double"]["psnr_cap"] is None and written["pyiqa_default"]["psnr_cap"] == 80.0
    assert written["matlab_y_double"]["images"][1]["stem"] == "b"

    save(tmp_path / "pred", "b.jpg", b)
    with pytest.raises(ValueError, match="b.jpg and b.png share the stem 'b'"):
        pair_by_stem(tmp_path / "pred", tmp_path / "gt")
    (tmp_path / "pred" / "b.jpg").unlink()
    save(tmp_path / "pred", "b.png", b[:10])
    with pytest.raises(ValueError, match=r"b.png is 24×10 but its ground truth .*b.png is 24×20"):
        score_folders(tmp_path / "pred", tmp_path / "gt", ["skimage_rgb"])
    # an image too small for a protocol's SSIM window is an error naming both files
    save(tmp_path / "pred", "b.png", b[:8])
    save(tmp_path / "gt", "b.png", b[:8])
    with pytest.raises(ValueError, match=rf"{tmp_path / 'pred' / 'b.png'} against {tmp_path / 'gt' / 'b.png'}, "
                                         r"protocol matlab_y_u8: SSIM needs images of at least 11×11"):
        score_folders(tmp_path / "pred", tmp_path / "gt", ["matlab_y_u8"])
