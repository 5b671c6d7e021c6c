"""The `offline` judges on real pairs of the sample corpus: genuine pairs pass, and each broken pair is
turned down by the judges that measure what is broken (two of the three, so that the majority does)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from corpus.defects import GENUINE, read_labels
from models.pipeline.profiles import load_profile
from models.pipeline.registry import load_role
from models.pipeline.roles import JudgeCase
from storage.images import clean_loader, rainy_loader
from storage.store import Store

RAIN_LAYER, BACKGROUND, CLEAN_IMAGE = "judge_1", "judge_2", "judge_3"


@pytest.fixture(scope="module")
def corpus_cases(corpus_store) -> dict:
    """Every genuine pair of the corpus (its planted defects left out) with 3 real rainy references, and the
    unpaired real images."""
    data, store_root, _ = corpus_store
    store = Store(store_root)
    spoilt = {label["rainy_path"] for label in read_labels(data) if label["defect"] != GENUINE}
    rows = [row for shard in store.shards("samples") for row in store.read_shard("samples", shard).to_pylist()
            if row["rainy_path"] not in spoilt]
    rainy, clean = rainy_loader(data), clean_loader(data)
    real = [rainy(row) for row in rows if row["is_real"]]
    rng = np.random.default_rng(0)
    pairs = [(rainy(row), clean(row)) for row in rows if row["clean_path"] is not None]
    cases = [JudgeCase(r, c, [real[i] for i in rng.choice(len(real), 3, replace=False)]) for r, c in pairs]
    unpaired = [JudgeCase(rainy(row), None, real[:3]) for row in rows if row["clean_path"] is None]
    return {"genuine": cases, "unpaired": unpaired}


@pytest.fixture(scope="module")
def judges() -> dict:
    profile = load_profile("offline")
    return {role: load_role(profile, role) for role in (RAIN_LAYER, BACKGROUND, CLEAN_IMAGE)}


def answers(judge, cases) -> list[str]:
    return [verdict.answer for verdict in judge.judge(cases)]


def broken(case: JudgeCase, how: str, other: np.ndarray, rng: np.random.Generator) -> JudgeCase:
    clean = case.clean
    if how == "no rain":
        clean = case.rainy
    elif how == "another scene":
        clean = np.asarray(Image.fromarray(other).resize(clean.shape[1::-1]))
    elif how == "shifted":
        clean = np.roll(clean, (clean.shape[0] // 16, clean.shape[1] // 16), axis=(0, 1))
    elif how == "blurred":
        clean = np.clip(ndimage.gaussian_filter(clean.astype(np.float32), (2, 2, 0)), 0, 255).astype(np.uint8)
    elif how == "noisy":
        clean = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    return JudgeCase(case.rainy, clean, case.references)


def test_the_offline_judges_are_unprompted_and_load_through_the_profile(judges):
    for judge in judges.values():
        assert judge.prompt_version == "" and judge.prompt_hash == ""


def test_genuine_pairs_get_yes_from_most_judges(judges, corpus_cases):
    cases = corpus_cases["genuine"]
    votes = np.array([answers(judge, cases) for judge in judges.values()])   # (3 judges, N cases)
    assert len(cases) > 100
    yes = votes == "yes"
    assert (yes.sum(0) >= 2).mean() >= 0.9          # the majority keeps the genuine corpus ...
    assert yes.mean(1).min() >= 0.75                 # ... each judge says yes to most of it ...
    assert (~yes).any(1).all()                       # ... and every judge turns down some: votes mean something


@pytest.mark.parametrize("how, roles, least", [
    ("no rain", (RAIN_LAYER, CLEAN_IMAGE), 1.0),          # both check the rain layer
    ("another scene", (RAIN_LAYER, BACKGROUND), 0.9),     # both check the backgrounds
    ("shifted", (RAIN_LAYER, BACKGROUND), 1.0),
    ("blurred", (BACKGROUND, CLEAN_IMAGE), 0.95),         # both check the clean image
    ("noisy", (BACKGROUND, CLEAN_IMAGE), 0.9),            # noise clipped at 0 and 255 is partly lost
])
def test_a_broken_pair_is_turned_down_by_the_two_judges_that_measure_it(judges, corpus_cases, how, roles, least):
    genuine = corpus_cases["genuine"][::3]
    rng = np.random.default_rng(1)
    cases = [broken(case, how, genuine[(i + 5) % len(genuine)].clean, rng) for i, case in enumerate(genuine)]
    for role in roles:
        assert np.mean(np.array(answers(judges[role], cases)) == "no") >= least, role
        assert np.mean(np.array(answers(judges[role], genuine)) == "no") < 0.25   # the same judge, intact pairs
    votes = np.array([answers(judge, cases) for judge in judges.values()])     # (3 judges, N cases)
    assert ((votes == "yes").sum(0) < 2).mean() >= least                        # so the majority rejects them


def test_without_a_clean_image_every_offline_judge_abstains(judges, corpus_cases):
    cases = corpus_cases["unpaired"]
    assert cases
    for judge in judges.values():
        verdicts = judge.judge(cases)
        assert {v.answer for v in verdicts} == {"abstain"}
        assert all("no clean image" in json.loads(v.raw)["reason"] for v in verdicts)


def test_raw_holds_the_reason_the_measurements_and_the_thresholds(judges, corpus_cases):
    case = corpus_cases["genuine"][0]
    text = judges[BACKGROUND].judge([case])[0].raw
    assert text.startswith('{"reason": ')   # what a truncated view of the vote (the decisions table) shows first
    raw = json.loads(text)
    assert set(raw) == {"reason", "measured", "thresholds"}
    assert raw["reason"] == "same scene, aligned; the clean image is sharp, noise-free and dry"
    # its two checks' measures and thresholds: the backgrounds', then the clean image's
    assert set(raw["measured"]) == {"correlation", "offset_px", "tile_offset_px", "blur_gain", "noise", "clean_rain"}
    assert raw["thresholds"] == {"blur_sigma": 3.0, "min_correlation": 0.65, "max_offset_px": 2,
                                 "max_tile_offset_px": 2, "min_tile_contrast": 0.03, "max_blur_gain": 0.13,
                                 "max_noise": 6.0, "max_clean_rain": 1.5,
                                 "max_clean_rain_streaks": 0.2}
    clean_raw = json.loads(judges[CLEAN_IMAGE].judge([case])[0].raw)
    assert {"blur_gain", "noise", "clean_rain", "strength", "thin", "added_noise"} <= set(clean_raw["measured"])


def test_thresholds_are_options_of_the_role(corpus_cases):
    profile = load_profile("offline").with_role(CLEAN_IMAGE, options={"max_noise": 0.01})
    strict = load_role(profile, CLEAN_IMAGE)
    verdicts = strict.judge(corpus_cases["genuine"][:5])
    assert [v.answer for v in verdicts] == ["no"] * 5
    assert all(json.loads(v.raw)["reason"] == "the clean image is noisy" for v in verdicts)


def test_an_unknown_option_fails_at_load():
    profile = load_profile("offline").with_role(RAIN_LAYER, options={"min_rainn": 0.1})
    with pytest.raises(ValueError, match="rain_layer_judge.*bad options"):
        load_role(profile, RAIN_LAYER)


def test_a_case_that_cannot_be_measured_is_an_error_and_the_others_still_vote(judges, corpus_cases):
    good = corpus_cases["genuine"][0]
    unreadable = JudgeCase(good.rainy, np.zeros((0, 0, 3), np.uint8), good.references)   # an empty clean image
    for judge in judges.values():
        verdicts = judge.judge([good, unreadable, good])
        assert verdicts[1].answer == "error" and verdicts[1].error
        assert verdicts[0].answer in ("yes", "no") and verdicts[0].raw == verdicts[2].raw
