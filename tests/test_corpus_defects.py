"""The sample corpus's known answers: labelled defects among its training pairs, and nothing else changed."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus import generate_corpus
from corpus.defects import CLEAN_SIDE, COPIES, GENUINE, KINDS, PLANTED_SHARE, RAINY_SIDE, read_labels

REPO = Path(__file__).resolve().parents[1]
SHARED_CLEAN = {"DDN-Data", "SPA-Data", "GTAV-NightRain"}    # several rainy images per clean one
SIDE_BY_SIDE = {"DID-Data", "Rain800"}


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> tuple[Path, Path]:
    """(the corpus with its defects, the same seed without them)."""
    root = tmp_path_factory.mktemp("defects")
    generate_corpus(root / "spoilt", seed=0)
    generate_corpus(root / "clean", seed=0, defects=False)
    return root / "spoilt", root / "clean"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_labels_list_every_pair_and_a_third_of_the_training_pairs_are_spoilt(both):
    spoilt, _ = both
    labels = read_labels(spoilt)
    assert len({label["rainy_path"] for label in labels}) == len(labels) == 170 - 12   # Real3000 is unpaired
    train = [label for label in labels if label["split"] == "train"]
    assert len(train) == 114
    assert all(label["defect"] == GENUINE for label in labels if label["split"] == "test")
    per_dataset = Counter(label["dataset"] for label in train)
    bad = Counter(label["dataset"] for label in train if label["defect"] != GENUINE)
    assert bad == {d: round(n * PLANTED_SHARE) for d, n in per_dataset.items()}
    assert set(label["defect"] for label in train) == {GENUINE, *KINDS}
    for label in train:
        if label["dataset"] in SHARED_CLEAN:   # one label never spoils a sibling's clean image
            assert label["defect"] in (GENUINE, *RAINY_SIDE), label
        assert bool(label["source"]) == (label["defect"] in COPIES)
    assert read_labels(both[1]) and all(label["defect"] == GENUINE for label in read_labels(both[1]))


def test_only_the_labelled_pairs_differ_from_the_corpus_without_defects(both):
    spoilt, clean = both
    files = sorted(p.relative_to(clean) for p in clean.rglob("*") if p.is_file() and p.name != "defects.csv")
    changed = {p.as_posix() for p in files if digest(spoilt / p) != digest(clean / p)}
    touched = set()
    for label in read_labels(spoilt):
        rainy, clean_file = label["rainy_path"], label["clean_path"]
        if label["defect"] in (*RAINY_SIDE, *COPIES):
            touched.add(rainy)
        if label["defect"] in (*CLEAN_SIDE, *COPIES):
            touched.add(clean_file)
    assert changed == touched


def test_each_defect_is_what_its_label_says(both):
    spoilt, clean = both

    def image(root: Path, path: str, half: str | None = None) -> np.ndarray:
        pixels = np.asarray(Image.open(root / path).convert("L"), dtype=np.float32) / 255
        if half is None:
            return pixels
        left, right = np.split(pixels, 2, axis=1)
        return left if half == "left" else right

    for label in read_labels(spoilt):
        kind, dataset = label["defect"], label["dataset"]
        if kind == GENUINE:
            continue
        source = label["source"]
        if kind == "copy_exact":
            assert digest(spoilt / label["rainy_path"]) == digest(spoilt / source)
        elif kind in ("copy_resized", "copy_of_public_test"):
            copy, original = Image.open(spoilt / label["rainy_path"]), Image.open(spoilt / source)
            assert copy.size != original.size and abs(copy.width / original.width - 0.8) < 0.05
            of_source = next(s for s in read_labels(spoilt) if s["rainy_path"] == source)
            assert of_source["split"] == ("test" if kind == "copy_of_public_test" else "train")
        elif kind in CLEAN_SIDE and dataset not in SIDE_BY_SIDE:
            before, after = image(clean, label["clean_path"]), image(spoilt, label["clean_path"])
            if kind in ("blurred", "noisy", "still_rainy"):   # the same scene, spoilt
                assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.8, label
            if kind == "other_scene":
                assert np.corrcoef(before.ravel(), after.ravel())[0, 1] < 0.8, label
            if kind == "blurred":
                assert np.abs(np.diff(after, axis=1)).mean() < 0.7 * np.abs(np.diff(before, axis=1)).mean()


def test_the_command_line_says_what_it_planted(tmp_path):
    done = subprocess.run([sys.executable, "-m", "corpus", "--out", str(tmp_path / "c")], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert "planted defects: 37" in done.stdout and "defects.csv" in done.stdout, done.stdout
