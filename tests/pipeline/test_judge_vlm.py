"""The transformers VLM judge, run for real on the tiny random LLaVA-NeXT of the `tiny` profile, loaded
by the same `from_pretrained` path as the paper's LLaVA-NeXT; and the remote-code allow-list."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from models.pipeline.judges.answers import parse_answer
from models.pipeline.judges.prompts import load_prompt
from models.pipeline.judges.vlm import REMOTE_CODE_ENV, RemoteCodeRefused, judge_chat
from models.pipeline.loading import MissingModel
from models.pipeline.profiles import Profile, load_profile
from models.pipeline.registry import adapter
from models.pipeline.registry import load_role
from models.pipeline.roles import JudgeCase
from models.pipeline.tiny import build_tiny_models

VLM_ROLES = ["judge_1", "judge_2"]   # tiny LLaVA-NeXT and tiny InternVL (-hf)


@pytest.fixture(scope="module")
def cases(photos) -> list[JudgeCase]:
    """A pair with two references, an unpaired query, and a pair with no references at all."""
    return [JudgeCase(photos[0], photos[1], [photos[1], photos[2]]),
            JudgeCase(photos[1], None, [photos[0]]),
            JudgeCase(photos[2], photos[2], [])]


def fresh(profile: Profile, role: str = "judge_1", seed: int = 0, **changes):
    """A new adapter instance past load_role's cache, with torch reseeded."""
    torch.manual_seed(seed)
    spec = profile.roles[role].model_copy(update=changes)
    return adapter(spec.kind)(spec, profile)


@pytest.mark.parametrize("role, architecture", [("judge_1", "LlavaNextForConditionalGeneration"),
                                                ("judge_2", "InternVLForConditionalGeneration")])
def test_the_tiny_judges_are_the_paper_architectures_with_the_versioned_prompt(tiny_profile, role, architecture):
    judge = load_role(tiny_profile, role)
    template = load_prompt("rain-pair-v1")
    assert type(judge.generator.model).__name__ == architecture
    assert (judge.prompt_version, judge.prompt_hash) == (template.version, template.sha256)


@pytest.mark.parametrize("role", VLM_ROLES)
def test_every_case_gets_a_parsed_verdict_with_its_raw_text_and_latency(tiny_profile, cases, role):
    verdicts = load_role(tiny_profile, role).judge(cases)
    assert len(verdicts) == len(cases)
    for verdict in verdicts:
        assert verdict.error is None and verdict.answer in ("yes", "no", "abstain")
        assert isinstance(verdict.raw, str) and verdict.answer == parse_answer(verdict.raw)
        assert verdict.latency_s > 0


@pytest.mark.parametrize("role", VLM_ROLES)
def test_greedy_answers_survive_a_reload_and_a_rebuild_with_the_same_seed(tiny_profile, cases, tmp_path, role):
    model_id = tiny_profile.roles[role].model_id
    first = [v.raw for v in load_role(tiny_profile, role).judge(cases)]
    assert [v.raw for v in fresh(tiny_profile, role, seed=123).judge(cases)] == first        # no sampling
    copied = tmp_path / "copied"
    shutil.copytree(tiny_profile.models_dir / model_id, copied / model_id)
    assert [v.raw for v in fresh(load_profile("tiny", models_dir=copied), role).judge(cases)] == first
    rebuilt = build_tiny_models(tmp_path / "rebuilt", seed=0, only=[model_id.removeprefix("tiny/")])
    assert [v.raw for v in fresh(rebuilt, role).judge(cases)] == first


@pytest.mark.parametrize("role", VLM_ROLES)
def test_batching_does_not_change_the_answers(tiny_profile, cases, role):
    one_by_one = [v.raw for v in fresh(tiny_profile, role, batch_size=1).judge(cases)]
    batched = [v.raw for v in fresh(tiny_profile, role, batch_size=3).judge(cases)]
    assert batched == one_by_one


def test_the_query_comes_first_then_at_most_k_references_then_the_question(photos):
    template = load_prompt("rain-pair-v1")
    case = JudgeCase(photos[0], photos[1], [photos[1], photos[2], photos[0], photos[2]])
    chat, images = judge_chat(template, case, max_references=3, max_image_side=40)
    content = chat[0]["content"]
    assert [item["type"] for item in content] == ["image"] * 4 + ["text"]
    assert content[-1]["text"] == template.render(n_references=3)
    assert all(max(image.size) <= 40 for image in images)
    assert np.asarray(images[0].resize(photos[0].shape[1::-1])).shape == photos[0].shape   # the query first


def test_a_case_that_fails_is_an_error_verdict_and_the_others_still_vote(tiny_profile, cases):
    broken = JudgeCase(np.zeros((0, 0, 3), np.uint8), None, [])
    verdicts = fresh(tiny_profile, batch_size=4).judge([cases[0], broken, cases[2]])
    assert verdicts[1].answer == "error" and verdicts[1].error
    assert [verdicts[0].raw, verdicts[2].raw] == [v.raw for v in load_role(tiny_profile, "judge_1").judge(
        [cases[0], cases[2]])]


def test_an_unknown_prompt_version_fails_at_load(tiny_profile):
    with pytest.raises(ValueError, match="unknown prompt 'rain-pair-v0'; known versions: rain-pair-v1"):
        fresh(tiny_profile, options={"prompt": "rain-pair-v0"})


def test_remote_code_needs_a_pinned_revision(tiny_profile):
    with pytest.raises(RemoteCodeRefused, match="only at a pinned revision"):
        fresh(tiny_profile, options={"prompt": "rain-pair-v1", "remote_code": True})


def test_remote_code_is_refused_unless_that_exact_revision_is_allowed(tiny_profile, monkeypatch):
    monkeypatch.setenv(REMOTE_CODE_ENV, "tiny/llava_next@" + "b" * 40 + ", other/model@" + "a" * 40)
    with pytest.raises(RemoteCodeRefused, match=f"set {REMOTE_CODE_ENV}=tiny/llava_next@{'a' * 40}"):
        fresh(tiny_profile, revision="a" * 40, options={"prompt": "rain-pair-v1", "remote_code": True})


def test_the_refusal_comes_before_any_file_of_the_model_is_read(tiny_profile):
    with pytest.raises(RemoteCodeRefused):
        fresh(tiny_profile, model_id="tiny/not_built", revision="a" * 40,
              options={"prompt": "rain-pair-v1", "remote_code": True})
    with pytest.raises(MissingModel):   # the same role without remote code gets as far as the files
        fresh(tiny_profile, model_id="tiny/not_built")


def test_allowed_remote_code_still_has_to_ship_with_the_checkpoint(tiny_profile, monkeypatch):
    monkeypatch.setenv(REMOTE_CODE_ENV, "tiny/llava_next@" + "a" * 40)
    with pytest.raises(ValueError, match="ships no code for transformers .* endpoint_judge"):
        fresh(tiny_profile, revision="a" * 40, options={"prompt": "rain-pair-v1", "remote_code": True})


def test_the_paper_mobilevlm_judge_is_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(REMOTE_CODE_ENV, raising=False)
    profile = load_profile("paper", models_dir=tmp_path)
    assert profile.roles["judge_3"].options["remote_code"] is True
    with pytest.raises(RemoteCodeRefused, match="mtgv/MobileVLM-3B@28487fa"):
        load_role(profile, "judge_3")
