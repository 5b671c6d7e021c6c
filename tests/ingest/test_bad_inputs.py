"""Bad inputs become `rejects` rows with a clear reason; unusual but valid files become samples."""
from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from storage.images import load_rgb8, to_rgb8
from storage.paths import absolute
from tests.ingest.helpers import ingest_in_process

LAYOUT = """
datasets:
  - name: Mine
    origin: real
    time_of_day: day
    rain_type: streak
    rules:
      - name: pairs.txt
        kind: list_file
        match: 'pairs\\.txt'
        pair_list: {fields: {rainy: 0, clean: 1}}
        split: test
      - name: rain-to-clean
        kind: one_to_one
        match: '(?P<pre>(?:.*/)?)rain/(?P<name>[^/]+)'
        clean: ['{pre}clean/{name}']
"""


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _noise(w: int = 24, h: int = 16, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    data, mine = root / "data", root / "data" / "Mine"
    (mine / "rain").mkdir(parents=True)
    (mine / "clean").mkdir()

    def pair(name: str, rainy: bytes, clean: bytes | None = None) -> None:
        (mine / "rain" / name).write_bytes(rainy)
        if clean is not None:
            (mine / "clean" / name).write_bytes(clean)

    good = _png(_noise())
    pair("good.png", good, good)
    pair("trunc.png", _png(_noise(seed=1))[:-200], good)
    pair("trunc.jpg", _png(_noise(64, 64, seed=2), "JPEG")[:-300], _png(_noise(64, 64), "JPEG"))
    pair("zero.png", b"", good)
    pair("lonely.png", good)
    pair("bigger.png", good, _png(_noise(32, 16)))
    pair("badclean.png", good, b"not an image at all")
    pair("bomb.png", _png(Image.new("L", (3000, 3000))), _png(Image.new("L", (3000, 3000))))
    gradient = (np.arange(24 * 16, dtype=np.uint32).reshape(16, 24) * 170).astype(np.uint16)
    pair("deep16.png", _png(Image.fromarray(gradient)), _png(Image.fromarray(gradient)))
    rgb48 = np.stack([gradient, gradient[::-1], 65535 - gradient], axis=-1)  # (16, 24, 3) uint16
    pair("rgb48.png", cv2.imencode(".png", rgb48)[1].tobytes(), good)
    pair("text.png", b"these bytes are no image format at all", good)
    pair("alpha.png", _png(_noise().convert("RGBA")), good)
    pair("gray.png", _png(_noise().convert("L")), good)
    pair("cmyk.jpg", _png(_noise().convert("CMYK"), "JPEG"), _png(_noise(), "JPEG"))
    for side in (b"rain", b"clean"):
        with open(os.fsencode(mine) + b"/" + side + b"/caf\xe9.png", "wb") as handle:
            handle.write(good)
    os.mkfifo(data / "outside.png")  # opening it would block: proof the entry is never opened
    (mine / "pairs.txt").write_text("../outside.png clean/good.png\n")
    layouts = root / "mine.yaml"
    layouts.write_text(LAYOUT)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(
        ingest_in_process(data, root / "staging", [layouts], max_pixels=1_000_000)), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "ingest blocked: it opened a list entry outside the dataset root"
    samples = {Path(r["rainy_path"]).name: r for r in result["samples"].to_pylist()}
    rejects = {Path(r["path"]).name if "outside" not in r["reason"] else "outside": r
               for r in result["rejects"].to_pylist()}
    return data, samples, rejects


@pytest.mark.parametrize("name,code,reason", [
    ("trunc.png", "corrupt_image", "rainy file: cannot decode image"),
    ("trunc.jpg", "corrupt_image", "rainy file: cannot decode image"),
    ("text.png", "not_an_image", "rainy file: cannot decode image: UnidentifiedImageError: cannot identify image file"),
    ("zero.png", "empty_file", "rainy file: empty file (0 bytes)"),
    ("lonely.png", "missing_partner", "missing clean partner"),
    ("bigger.png", "size_mismatch", "pair of different sizes: rainy 24x16, clean 32x16"),
    ("bomb.png", "too_many_pixels", "rainy file: 3000x3000 = 9000000 pixels is above the limit of 1000000"),
    ("outside", "outside_dataset", "points outside the dataset root"),
])
def test_bad_input_is_a_reject_with_its_code_and_reason(ingested, name, code, reason):
    _, samples, rejects = ingested
    assert name not in samples
    assert rejects[name]["code"] == code and reason in rejects[name]["reason"]


def test_reasons_hold_no_object_addresses_so_they_group(ingested):
    _, _, rejects = ingested
    assert not [r["reason"] for r in rejects.values() if re.search(r" at 0x[0-9a-f]+|object at", r["reason"])]
    assert rejects["text.png"]["reason"] == "rainy file: cannot decode image: UnidentifiedImageError: cannot identify image file"


def test_a_bad_clean_file_is_named_as_the_culprit(ingested):
    _, _, rejects = ingested
    row = rejects["badclean.png"]
    assert row["path"] == "Mine/clean/badclean.png" and row["partner_path"] == "Mine/rain/badclean.png"
    assert row["reason"].startswith("clean file Mine/clean/badclean.png: cannot decode image")
    assert row["code"] == "not_an_image"


def test_every_candidate_is_either_a_sample_or_a_reject(ingested):
    _, samples, rejects = ingested
    assert len(samples) + len(rejects) == 16
    assert set(samples) == {"good.png", "deep16.png", "rgb48.png", "alpha.png", "gray.png", "cmyk.jpg", "caf\\xe9.png"}


@pytest.mark.parametrize("name,mode,bits", [("deep16.png", "I;16", 16), ("rgb48.png", "RGB", 16),
                                            ("alpha.png", "RGBA", 8), ("gray.png", "L", 8), ("cmyk.jpg", "CMYK", 8),
                                            ("good.png", "RGB", 8)])
def test_unusual_files_are_accepted_with_their_original_mode_and_depth(ingested, name, mode, bits):
    data, samples, _ = ingested
    row = samples[name]
    assert row["rainy_mode"] == mode and (row["width"], row["height"]) == (24, 16)
    assert row["rainy_bits"] == bits and row["clean_bits"] == (16 if name == "deep16.png" else 8)
    rgb = load_rgb8(absolute(data, row["rainy_path"], row["rainy_path_raw"]))
    assert rgb.dtype == np.uint8 and rgb.shape == (16, 24, 3)


def test_sixteen_bit_data_is_scaled_not_clipped(ingested):
    data, samples, _ = ingested
    rgb = load_rgb8(data / samples["deep16.png"]["rainy_path"])
    expected = np.round((np.arange(24 * 16).reshape(16, 24) * 170) / 65535 * 255)
    assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1 and rgb.max() > 200


def test_non_utf8_names_are_stored_readably_and_reopened_exactly(ingested):
    data, samples, _ = ingested
    row = samples["caf\\xe9.png"]
    assert row["rainy_path"] == "Mine/rain/caf\\xe9.png" and row["rainy_path_raw"] == b"Mine/rain/caf\xe9.png"
    assert row["clean_path_raw"] == b"Mine/clean/caf\xe9.png"
    assert load_rgb8(absolute(data, row["rainy_path"], row["rainy_path_raw"])).shape == (16, 24, 3)


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (2, 1), (10, 20, 30, 0))
    assert to_rgb8(rgba).tolist() == [[[255, 255, 255], [255, 255, 255]]]
