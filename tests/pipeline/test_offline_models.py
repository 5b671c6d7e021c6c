"""The `offline` profile's own models: NIQE quality, measured captions and their expansion, descriptors.

The quality model is prepared exactly as `make models PROFILE=offline` prepares it (fitted on the
sample corpus of seed 0) and judged on the corpus of another seed: other crops, other rain.
"""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmarks.offline_quality import rank_pairs
from corpus import generate_corpus
from models.pipeline.loading import MissingModel
from models.pipeline.offline.niqe import SETTINGS_FILE, NiqeModel
from models.pipeline.offline.niqe_fitting import corpus_pairs
from models.pipeline.offline.niqe_fitting import main as niqe_main
from models.pipeline.profiles import Profile, load_profile
from models.pipeline.registry import load_role
from models.pipeline.registry import preparer

HELD_OUT_SEED = 1


def context(**labels) -> dict:
    return {"dataset": "Rain200H", "time_of_day": None, "rain_type": None, "is_real": None, **labels}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list[tuple[str, np.ndarray, list[np.ndarray]]]:
    """(dataset, clean photo, its rainy versions) of the sample corpus of a seed the model never saw."""
    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(root, seed=HELD_OUT_SEED, defects=False)
    return corpus_pairs(root)


@pytest.fixture(scope="module")
def offline(tmp_path_factory) -> Profile:
    profile = load_profile("offline", models_dir=tmp_path_factory.mktemp("models"))
    spec = profile.roles["quality"]
    preparer(spec.kind)(spec, profile)
    return profile


def of(pairs, dataset: str) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    return [(clean, rainy) for name, clean, rainy in pairs if name == dataset]


def test_make_models_fits_niqe_and_the_profile_loads_it(offline, pairs):
    folder = offline.models_dir / offline.roles["quality"].model_id
    fitted = json.loads((folder / SETTINGS_FILE).read_text())
    assert fitted["images"] > 100 and fitted["patches"] > 1000 and "sample corpus" in fitted["fitted_on"]
    scorer = load_role(offline, "quality")
    assert isinstance(scorer, NiqeModel)
    scores = scorer.score([clean for _, clean, _ in pairs[:3]])
    assert scores.shape == (3,) and scores.dtype == np.float32 and np.isfinite(scores).all()
    assert np.isnan(scorer.score([np.zeros((1, 5, 3), np.uint8)])[0])   # too small for any patch


def test_make_models_keeps_a_model_fitted_with_the_same_settings(offline, capsys):
    spec = offline.roles["quality"]
    folder = offline.models_dir / spec.model_id
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    preparer(spec.kind)(spec, offline)
    assert "kept the NIQE model" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_clean_photos_outrank_their_rainy_and_blurred_versions(offline, pairs):
    result = rank_pairs(load_role(offline, "quality"), pairs)
    assert result["totals"]["rainy"][1] > 100 and result["totals"]["blurred"][1] == len(pairs)
    assert result["percent"]["overall"] >= 90.0, result["totals"]
    assert result["percent"]["rainy"] >= 85.0 and result["percent"]["blurred"] >= 95.0, result["totals"]


def test_noise_lowers_the_score_by_day_and_by_night(offline, pairs):
    scorer = load_role(offline, "quality")
    rng = np.random.default_rng(0)
    for dataset in ("Rain200H", "GTAV-NightRain"):
        for clean, _ in of(pairs, dataset):
            noisy = np.clip(clean + rng.normal(0.0, 6.0, clean.shape), 0, 255).astype(np.uint8)
            assert scorer.score([clean])[0] > scorer.score([noisy])[0], dataset


def test_a_missing_fitted_model_is_a_clear_error(tmp_path):
    profile = load_profile("offline", models_dir=tmp_path)
    with pytest.raises(MissingModel, match="niqe-sample-corpus.*make models PROFILE=offline"):
        load_role(profile, "quality")
    (tmp_path / "niqe-sample-corpus").mkdir()
    with pytest.raises(MissingModel, match="no fitted NIQE model.*make models PROFILE=offline"):
        load_role(profile, "quality")


def test_a_half_replaced_model_and_mismatched_options_are_refused(offline, tmp_path):
    copy = shutil.copytree(offline.models_dir / offline.roles["quality"].model_id, tmp_path / "niqe")
    described = json.loads((copy / SETTINGS_FILE).read_text())
    described["settings"]["patch_size"] = 64
    (copy / SETTINGS_FILE).write_text(json.dumps(described))
    with pytest.raises(MissingModel, match="disagree"):
        NiqeModel.load(copy)
    with pytest.raises(MissingModel, match="other settings.*patch_size"):
        load_role(offline.with_role("quality", options={"patch_size": 64}), "quality")
    with pytest.raises(ValueError, match="unknown niqe options"):
        load_role(offline.with_role("quality", options={"patch": 64}), "quality")


def test_the_command_line_fits_on_a_folder_of_clean_images(pairs, tmp_path):
    (tmp_path / "gt" / "nested").mkdir(parents=True)
    for i, (_, clean, _) in enumerate(pairs[:6]):
        Image.fromarray(clean).save(tmp_path / "gt" / ("nested" if i % 2 else "") / f"{i}.png")
    args = ["fit", "--images", str(tmp_path / "gt"), "--out", str(tmp_path / "model"),
            "--patch-size", "16", "--patch-stride", "8"]
    assert niqe_main(args) == 0
    model = NiqeModel.load(tmp_path / "model")
    assert model.settings.patch_size == 16
    assert json.loads((tmp_path / "model" / SETTINGS_FILE).read_text())["images"] == 6
    assert np.isfinite(model.score([pairs[0][1]])).all()


def test_captions_say_what_was_measured_and_what_was_labelled(offline, pairs):
    captioner = load_role(offline, "captioner")
    night = [clean for clean, _ in of(pairs, "GTAV-NightRain")]
    day = [clean for clean, _ in of(pairs, "Rain200H")]
    captions = captioner.caption(night + day, [context()] * (len(night) + len(day)))
    assert all(c.startswith("Measured description: ") for c in captions)
    assert all("time: night (measured" in c for c in captions[:len(night)])
    assert all("time: day (measured" in c for c in captions[len(night):])
    labelled = captioner.caption(day[:1], [context(time_of_day="night", rain_type="streak+drop", is_real=True)])[0]
    assert "time: night (dataset label)" in labelled and "rain: streaks and drops (dataset label)" in labelled
    assert "source: real rain, dataset Rain200H" in labelled and re.search(r"colours: [a-z ]+ \d+%", labelled)


def test_the_rain_kind_is_measured_when_no_label_gives_it(offline, pairs):
    captioner = load_role(offline, "captioner")
    heavy = [r for _, rainy in of(pairs, "Rain200H") for r in rainy]
    drops = [r for _, rainy in of(pairs, "RainDrop") for r in rainy]
    said = [c.split("rain: ")[1] for c in captioner.caption(heavy + drops, [context()] * (len(heavy) + len(drops)))]
    assert np.mean([s.startswith("streaks") for s in said[:len(heavy)]]) >= 0.8
    assert np.mean([s.startswith("streaks") for s in said[len(heavy):]]) <= 0.2
    assert all("(measured: " in s for s in said)


def test_the_expansion_is_deterministic_rule_based_and_keeps_the_measured_facts(offline, pairs):
    captioner, expander = load_role(offline, "captioner"), load_role(offline, "expander")
    night = of(pairs, "GTAV-NightRain")[0][1][0]
    caption = captioner.caption([night], [context(dataset="GTAV-NightRain", rain_type="streak", is_real=False)])[0]
    expanded = expander.expand([caption, "a street in the rain"])
    assert expanded == expander.expand([caption, "a street in the rain"])
    text = expanded[0]
    assert "Rule-based expansion" in text and "Apparently a night scene." in text
    first_colour = caption.split("colours: ")[1].split(" ")[0]
    assert "Rain streaks fall" in text and "Synthetic rain" in text and first_colour in text
    assert not re.search(r"\d", text) and "GTAV" not in text
    assert expanded[1].startswith("a street in the rain") and "Rule-based expansion" in expanded[1]


def test_descriptors_are_unit_vectors_that_find_the_same_scene_under_rain(offline, pairs):
    encoder = load_role(offline, "image_encoder")
    clean = encoder.encode_images([clean for _, clean, _ in pairs])
    assert clean.shape == (len(pairs), encoder.dim) and clean.dtype == np.float32
    assert np.allclose(np.linalg.norm(clean, axis=1), 1.0, atol=1e-5)
    nearest_is_own = closer = comparisons = n_rainy = 0
    for i, (_, _, rainy) in enumerate(pairs):
        similarity = encoder.encode_images(rainy) @ clean.T          # (rainy versions, clean photos)
        nearest_is_own += int((similarity.argmax(1) == i).sum())
        others = np.delete(similarity, i, axis=1)
        closer += int((others < similarity[:, i:i + 1]).sum())
        comparisons, n_rainy = comparisons + others.size, n_rainy + len(rainy)
    assert nearest_is_own / n_rainy >= 0.85 and closer / comparisons >= 0.98


def test_descriptor_options_set_the_dimension(offline, pairs):
    profile = offline.with_role("image_encoder", options={"grid": 2, "orientations": 6, "hue_bins": 4})
    encoder = load_role(profile, "image_encoder")
    assert encoder.dim == 4 * 3 * 3 + 3 * 4 + 6 * 4 + 5
    assert encoder.encode_images([pairs[0][1]]).shape == (1, encoder.dim)
    assert encoder.encode_images([]).shape == (0, encoder.dim)
    with pytest.raises(ValueError, match="bad options"):
        load_role(offline.with_role("image_encoder", options={"bins": 4}), "image_encoder")
