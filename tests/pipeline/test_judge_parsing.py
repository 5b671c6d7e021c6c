"""Strict answer parsing and the versioned prompt templates of the judges."""
from __future__ import annotations

import hashlib

import pytest

from models.pipeline.judges.answers import parse_answer
from models.pipeline.judges.prompts import PROMPTS_DIR, load_prompt, prompt_versions


@pytest.mark.parametrize("text, answer", [
    # committed answers, however dressed
    ("Yes", "yes"),
    ("Yes.", "yes"),
    ("no", "no"),
    ("**No**", "no"),
    ("`yes`", "yes"),
    ("\"No.\"", "no"),
    ("YES!", "yes"),
    ("  yes\n", "yes"),
    ("Answer: yes", "yes"),
    ("Final answer - No", "no"),
    ("Yes, the rain looks real.", "yes"),
    ("No. The streaks are painted on.", "no"),
    ("No. The rain is not consistent with the references.", "no"),
    # nothing to read
    ("", "abstain"),
    (None, "abstain"),
    ("   \n", "abstain"),
    ("...", "abstain"),
    # hedged, withdrawn or contradicted
    ("yes, but…", "abstain"),
    ("Yes, but the rain is too dense.", "abstain"),
    ("Yes or no?", "abstain"),
    ("No, yes", "abstain"),
    ("Yes\n\nNo", "abstain"),
    ("yes?", "abstain"),
    ("Maybe", "abstain"),
    ("Yes, probably.", "abstain"),
    ("No, although it is hard to tell.", "abstain"),
    # other languages, refusals, answers buried in a sentence, near-words
    ("Oui.", "abstain"),
    ("Ja", "abstain"),
    ("是", "abstain"),
    ("Нет", "abstain"),
    ("I'm sorry, I cannot help with that.", "abstain"),
    ("As an AI, I cannot judge images.", "abstain"),
    ("The answer is yes.", "abstain"),
    ("Yeah", "abstain"),
    ("Nope", "abstain"),
    ("yesterday it rained", "abstain"),
    ("nothing", "abstain"),
    ("1", "abstain"),
])
def test_answers_are_read_strictly(text, answer):
    assert parse_answer(text) == answer


def test_the_prompt_carries_its_version_and_the_hash_of_its_bytes():
    assert "rain-pair-v1" in prompt_versions()
    template = load_prompt("rain-pair-v1")
    assert template.version == "rain-pair-v1"
    assert template.sha256 == hashlib.sha256((PROMPTS_DIR / "rain-pair-v1.txt").read_bytes()).hexdigest()
    text = template.render(n_references=3)
    assert "3 image(s)" in text and "yes or no" in text and "{" not in text


def test_an_unknown_prompt_version_names_the_file_and_the_known_versions(tmp_path):
    (tmp_path / "mine-v1.txt").write_text("Is it rain? {n_references}")
    with pytest.raises(ValueError, match=r"mine-v2\.txt does not exist; known versions: mine-v1"):
        load_prompt("mine-v2", prompts_dir=tmp_path)


def test_a_template_with_an_unknown_field_is_refused(tmp_path):
    (tmp_path / "bad-v1.txt").write_text("Judge {query_name} against {n_references} references.")
    with pytest.raises(ValueError, match=r"bad-v1\.txt uses unknown fields \['query_name'\]"):
        load_prompt("bad-v1", prompts_dir=tmp_path)


def test_a_new_wording_is_a_new_hash(tmp_path):
    (tmp_path / "a-v1.txt").write_text("Is this rain real? {n_references}")
    (tmp_path / "a-v2.txt").write_text("Is this rain real?  {n_references}")
    assert load_prompt("a-v1", tmp_path).sha256 != load_prompt("a-v2", tmp_path).sha256
