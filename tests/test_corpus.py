"""The sample corpus: real layouts, correct pairing, visible rain, determinism, and the CLI.

Pairing rules here are written from `shared/reference/datasets.md`, independently of the writers, so a
writer that drifts from the documented layout fails.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus import DATASETS, generate_corpus
from corpus.__main__ import main
from corpus.layouts import LAYOUTS
from corpus.photos import random_scene
from corpus.rain import add_drops, add_streaks, blur, to_night

REPO = Path(__file__).resolve().parents[1]
MAX_SIDE = 192

# dataset -> [(glob of rainy files, exact rainy file-name regex, rainy path -> clean path)]
PairRule = tuple[str, str, Callable[[Path], Path]]
PAIRED: dict[str, list[PairRule]] = {
    "Rain100L": [
        ("RainTrainL/rain-*.png", r"rain-[1-9]\d*\.png", lambda p: p.with_name("norain-" + p.name[5:])),
        ("Rain100L/rainy/*.png", r"rain-\d{3}\.png", lambda p: p.parents[1] / ("norain-" + p.name[5:])),
    ],
    "Rain200H": [
        ("rain_data_*_Heavy/rain/X2/*.png", r"norain-[1-9]\d*x2\.png",
         lambda p: p.parents[2] / "norain" / p.name.replace("x2.png", ".png")),
    ],
    "DDN-Data": [
        ("*/rainy_image/*.jpg", r"\d+_\d+\.jpg",
         lambda p: p.parents[1] / "ground_truth" / f"{p.stem.rsplit('_', 1)[0]}.jpg"),
    ],
    "SPA-Data": [
        ("Testing/real_test_1000/rain/*.png", r"\d{3}\.png", lambda p: p.parents[1] / "gt" / f"{p.stem}gt.png"),
    ],
    "RainDrop": [
        ("*/data/*.png", r"\d+_rain\.png", lambda p: p.parents[1] / "gt" / p.name.replace("_rain", "_clean")),
    ],
    "GTAV-NightRain": [
        ("set1/*/Rainy/*.png", r"\d{4}_\d{2}\.png", lambda p: p.parents[1] / "GT" / f"{p.stem[:4]}.png"),
    ],
    "RaindropClarity": [
        ("*RainDrop_Train/Drop/*/*.png", r"\d{5}\.png", lambda p: Path(str(p).replace("/Drop/", "/Clear/"))),
    ],
}
SPA_LINE = re.compile(r"^/real_world/(\d{3})/\1-(\d+)/\1-\2_(\d+)_(\d+)\.png /real_world_gt/\1/\1_\3_\4\.png$")


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def file_digests(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def pairs(root: Path, name: str) -> list[tuple[Path, Path]]:
    out = []
    for pattern, regex, to_clean in PAIRED[name]:
        for rainy in sorted((root / name).glob(pattern)):
            assert re.fullmatch(regex, rainy.name), rainy
            out.append((rainy, to_clean(rainy)))
    return out


def halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = load(path)
    assert img.shape[1] % 2 == 0, path
    return img[:, : img.shape[1] // 2], img[:, img.shape[1] // 2 :]


def spa_lines(root: Path) -> list[str]:
    return (root / "SPA-Data" / "Training" / "real_world.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The corpus without its planted defects: the layouts and the rain as the writers make them."""
    root = tmp_path_factory.mktemp("corpus")
    return root, generate_corpus(root, seed=0, scale=1, defects=False)


def test_all_ten_datasets_are_written(corpus: tuple[Path, dict[str, int]]) -> None:
    root, counts = corpus
    expected = {"Rain100L", "Rain200H", "DDN-Data", "DID-Data", "Rain800", "SPA-Data", "RainDrop",
                "GTAV-NightRain", "Real3000", "RaindropClarity"}
    assert set(DATASETS) == set(counts) == expected
    assert {p.name for p in root.iterdir()} == expected | {"defects.csv"}
    assert 150 <= sum(counts.values()) <= 250


def test_counts_are_the_rainy_files_on_disk(corpus: tuple[Path, dict[str, int]]) -> None:
    root, counts = corpus
    found = {name: len(pairs(root, name)) for name in PAIRED}
    found["SPA-Data"] += len(spa_lines(root))
    found["DID-Data"] = len(list((root / "DID-Data").rglob("*.jpg")))
    found["Rain800"] = len(list((root / "Rain800").rglob("*.jpg")))
    found["Real3000"] = len(list((root / "Real3000").rglob("*.png")))
    assert found == counts


@pytest.mark.parametrize("name", sorted(PAIRED))
def test_every_rainy_file_has_its_clean_file(corpus: tuple[Path, dict[str, int]], name: str) -> None:
    root, _ = corpus
    found = pairs(root, name)
    assert found
    for rainy, clean in found:
        assert clean.is_file(), f"{rainy} -> missing {clean}"
        assert Image.open(rainy).size == Image.open(clean).size
    per_clean = Counter(clean for _, clean in found)
    if name in ("DDN-Data", "GTAV-NightRain"):
        assert min(per_clean.values()) > 1, "documented as several rainy files per clean one"


def test_exact_folder_and_file_names(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus
    rel = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    for must in ["Rain100L/RainTrainL/rain-1.png", "Rain100L/Rain100L/norain-001.png",
                 "Rain200H/rain_data_test_Heavy/rain/X2/norain-1x2.png", "DDN-Data/testing/ground_truth/901.jpg",
                 "DDN-Data/training/rainy_image/1_3.jpg", "DID-Data/DID-MDN-test/0.jpg",
                 "SPA-Data/Testing/real_test_1000/gt/000gt.png", "RainDrop/test_a/data/0_rain.png",
                 "GTAV-NightRain/set1/Test/Rainy/0000_00.png",
                 "RaindropClarity/NightRainDrop_Train/Blur/00001/00001.png"]:
        assert must in rel, must
    for level in ("Heavy", "Medium", "Light"):
        folder = root / "DID-Data" / "DID-MDN-training" / f"Rain_{level}" / "train2018new"
        names = sorted(int(p.stem) for p in folder.glob("*.jpg"))
        assert names == list(range(len(names))) and names
    assert (root / "Rain800/training/1.jpg").is_file() and (root / "Rain800/test_syn/1.jpg").is_file()
    ddn_train = {int(p.stem) for p in (root / "DDN-Data/training/ground_truth").glob("*.jpg")}
    ddn_test = {int(p.stem) for p in (root / "DDN-Data/testing/ground_truth").glob("*.jpg")}
    assert max(ddn_train) <= 900 < min(ddn_test)


def test_every_image_is_small(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus
    sizes = [Image.open(p).size for p in root.rglob("*") if p.suffix in (".png", ".jpg")]
    assert max(max(s) for s in sizes) <= MAX_SIDE


def test_side_by_side_halves_are_in_the_documented_order(corpus: tuple[Path, dict[str, int]]) -> None:
    # Rain (screen-blended streaks plus veil) only brightens, so the rainy half is the brighter one.
    root, _ = corpus
    did = sorted((root / "DID-Data").rglob("*.jpg"))
    rain800 = sorted((root / "Rain800").rglob("*.jpg"))
    assert did and rain800
    for path in did:
        rainy, clean = halves(path)
        assert rainy.mean() > clean.mean() + 0.005, path
    for path in rain800:
        clean, rainy = halves(path)
        assert rainy.mean() > clean.mean() + 0.005, path


def test_rain_changes_images_but_keeps_the_scene(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus
    for name in PAIRED:
        diffs = []
        for rainy_path, clean_path in pairs(root, name):
            rainy, clean = load(rainy_path), load(clean_path)
            diffs.append(float(np.abs(rainy - clean).mean()))
            assert diffs[-1] > 0.005, rainy_path
            # A drop-focused camera sees the background as Blur/ shows it, not as the sharp Clear/.
            seen = load(Path(str(rainy_path).replace("/Drop/", "/Blur/"))) if name == "RaindropClarity" else clean
            assert np.corrcoef(rainy.ravel(), seen.ravel())[0, 1] > 0.6, rainy_path
        assert np.mean(diffs) > 0.01, name


def test_night_images_are_darker_than_day_ones(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus

    def mean_of(pattern: str) -> float:
        return float(np.mean([load(p).mean() for p in sorted(root.glob(pattern))]))

    day = mean_of("Rain100L/RainTrainL/norain-*.png")
    assert mean_of("GTAV-NightRain/set1/*/GT/*.png") < 0.6 * day
    assert mean_of("RaindropClarity/NightRainDrop_Train/Clear/*/*.png") < 0.6 * mean_of(
        "RaindropClarity/DayRainDrop_Train/Clear/*/*.png")


def test_spa_list_file_points_at_existing_many_to_one_pairs(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus
    training = root / "SPA-Data" / "Training"
    lines = spa_lines(root)
    assert lines and len(lines) == len(list((training / "real_world").rglob("*.png")))
    for line in lines:
        assert SPA_LINE.match(line), line
        rainy, gt = (training / part.lstrip("/") for part in line.split(" "))
        assert rainy.is_file() and gt.is_file() and Image.open(rainy).size == Image.open(gt).size
    assert max(Counter(line.split(" ")[1] for line in lines).values()) > 1


def test_non_sample_files_exist(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus
    train = root / "Rain100L" / "RainTrainL"
    for rainy in train.glob("rain-*.png"):
        n = rainy.stem.split("-")[1]
        region = np.asarray(Image.open(train / f"rainregion-{n}.png"))
        assert set(np.unique(region)) <= {0, 255} and region.any()
        assert np.asarray(Image.open(train / f"rainstreak-{n}.png")).any()
    kinds = Counter()
    for drop in (root / "RaindropClarity").glob("*/Drop/*/*.png"):
        clear = load(Path(str(drop).replace("/Drop/", "/Clear/")))
        blurred = load(Path(str(drop).replace("/Drop/", "/Blur/")))
        if np.array_equal(clear, blurred):
            kinds["background-focused"] += 1
        else:
            assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(clear, axis=1)).mean(), drop
            kinds["drop-focused"] += 1
    assert set(kinds) == {"background-focused", "drop-focused"}


def test_real3000_is_unpaired_and_straddles_the_test_range(corpus: tuple[Path, dict[str, int]]) -> None:
    root, _ = corpus
    files = list((root / "Real3000").rglob("*"))
    assert all(p.parent.name == "real3000" for p in files if p.is_file())
    ids = {int(p.stem) for p in files if p.is_file()}
    assert {i for i in ids if i < 1705} and {i for i in ids if i > 2004} and {1705, 2004} <= ids


def test_same_seed_same_bytes_via_cli(corpus: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    root, counts = corpus
    out = tmp_path / "again"
    done = subprocess.run([sys.executable, "-m", "corpus", "--out", str(out), "--seed", "0", "--no-defects"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    assert "no planted defects" in done.stdout
    assert re.search(rf"^total\s+{sum(counts.values())}$", done.stdout, re.MULTILINE)
    assert file_digests(out) == file_digests(root)


def test_other_seed_other_images(corpus: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    root, counts = corpus
    assert generate_corpus(tmp_path, seed=1, defects=False) == counts
    first, second = file_digests(root), file_digests(tmp_path)
    assert first.keys() == second.keys()
    assert sum(first[k] != second[k] for k in first) > 0.95 * len(first)


def test_scale_multiplies_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    assert LAYOUTS["RainDrop"](tmp_path / "a", rng, 2) == 2 * LAYOUTS["RainDrop"](tmp_path / "b", rng, 1)
    assert LAYOUTS["Real3000"](tmp_path / "c", rng, 3) > LAYOUTS["Real3000"](tmp_path / "d", rng, 1)


def test_cli_refuses_a_non_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("real data")
    assert main(["--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_rain_functions_keep_range_and_shape() -> None:
    rng = np.random.default_rng(3)
    img = random_scene(rng, (96, 128))
    outputs = {
        "streaks": add_streaks(img, rng, 10.0, 0.005, 20.0, 1.5, 0.8),
        "drops": add_drops(img, rng, 15, (3.0, 8.0)),
        "night": to_night(img, rng),
        "blur": blur(img, 2.0),
    }
    for name, out in outputs.items():
        assert out.shape == img.shape and out.dtype == np.float32, name
        assert 0.0 <= out.min() and out.max() <= 1.0, name
        assert np.abs(out - img).mean() > 0.01, name
    assert outputs["night"].mean() < 0.6 * img.mean()
    assert np.abs(np.diff(outputs["blur"], axis=0)).mean() < 0.7 * np.abs(np.diff(img, axis=0)).mean()
