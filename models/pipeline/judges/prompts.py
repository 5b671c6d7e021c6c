"""The question a prompted judge asks, as versioned files: `prompts/<version>.txt`.

    template = load_prompt("rain-pair-v1")
    template.version, template.sha256      # stored with every vote
    template.render(n_references=3)        # the text that follows the images

A template is plain text with one field, `{n_references}`. Its version is its file name and its hash
the sha256 of its bytes, so a vote can always be traced to the exact wording that produced it; a new
wording is a new file (the old votes keep pointing at the old one), never an edit in place.
"""
from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

PROMPTS_DIR = Path(__file__).with_name("prompts")
FIELDS = {"n_references"}


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    text: str
    sha256: str

    def render(self, n_references: int) -> str:
        return self.text.format(n_references=n_references).strip()


def prompt_versions() -> list[str]:
    return sorted(path.stem for path in PROMPTS_DIR.glob("*.txt"))


def load_prompt(version: str, prompts_dir: Path = PROMPTS_DIR) -> PromptTemplate:
    """The template `version` of `prompts_dir`; an unknown version or a template with fields other
    than `{n_references}` is an error naming the file."""
    path = Path(prompts_dir) / f"{version}.txt"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in Path(prompts_dir).glob("*.txt"))) or "none"
        raise ValueError(f"prompt template {path} does not exist; known versions: {known}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"prompt template {path} is not UTF-8 text: {error}") from None
    fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    if fields - FIELDS:
        raise ValueError(f"prompt template {path} uses unknown fields {sorted(fields - FIELDS)}; "
                         f"the only field is {{n_references}}")
    return PromptTemplate(version=version, text=text, sha256=hashlib.sha256(data).hexdigest())
