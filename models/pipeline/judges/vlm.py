"""Judge with a transformers vision-language model: the query image, then its references, then the
versioned question, through the processor's own chat template; greedy decoding; strict parsing.

Transformers-native checkpoints (LLaVA-NeXT, InternVL `-hf`, and any other `AutoModelForImageTextToText`
model whose processor has a chat template) load with no remote code. A checkpoint that needs its own
code (MobileVLM) loads only when the role sets `remote_code: true` AND `model_id@revision` is on the
remote-code allow-list: the environment variable RAINRAG_REMOTE_CODE_ALLOW, comma-separated, empty
by default. Running a repository's Python is running its author's code: it has to be a conscious,
pinned choice of whoever runs rainrag, never a default of a profile.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.judges.answers import parse_answer
from models.pipeline.judges.prompts import PromptTemplate, load_prompt, prompt_versions
from models.pipeline.loading import parse_options, pick_device, pick_dtype, resolve_model_dir
from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.roles import JudgeCase, Verdict

REMOTE_CODE_ENV = "RAINRAG_REMOTE_CODE_ALLOW"


class RemoteCodeRefused(PermissionError):
    """A role asks for a model's own code without the user's explicit, pinned permission."""


class VlmJudgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str                                 # a version under judges/prompts/, e.g. rain-pair-v1
    max_new_tokens: int = Field(8, ge=1)        # one word and its punctuation; more only invites hedging
    max_references: int = Field(3, ge=0)        # the K3 references shown after the query, best first
    max_image_side: int = Field(672, ge=16)     # images are shrunk to this first: bounds the image tokens
    remote_code: bool = False                   # the model needs its own code (see the module docstring)


def remote_code_allow_list() -> set[str]:
    return {item.strip() for item in os.environ.get(REMOTE_CODE_ENV, "").split(",") if item.strip()}


def check_remote_code(spec: ModelSpec) -> None:
    """Raise unless `spec.model_id@spec.revision` is on the allow-list (which needs a revision)."""
    if spec.revision is None:
        raise RemoteCodeRefused(f"model {spec.model_id!r} needs remote code, which runs only at a pinned revision: "
                                "set `revision:` to a commit in the profile, then allow it (see below)")
    pinned = f"{spec.model_id}@{spec.revision}"
    if pinned not in remote_code_allow_list():
        raise RemoteCodeRefused(f"model {spec.model_id!r} runs its own Python code, which rainrag does not run "
                                f"by default; to allow this exact revision, set {REMOTE_CODE_ENV}={pinned} "
                                "(comma-separate several)")


def check_code_is_shipped(path: Path, spec: ModelSpec) -> None:
    """Allowed remote code still has to be there: transformers runs only the classes a checkpoint's
    config names in `auto_map`. Some checkpoints (MobileVLM's) expect their project's own package."""
    config_file = path / "config.json"
    try:
        auto_map = json.loads(config_file.read_text()).get("auto_map")
    except (OSError, ValueError) as error:
        raise ValueError(f"{config_file}: cannot read the model config: {error}") from None
    if not auto_map:
        raise ValueError(f"{config_file}: model {spec.model_id!r} ships no code for transformers (no auto_map), "
                         "so remote code cannot load it; serve it with its own project's code behind an "
                         "OpenAI-compatible endpoint and use `kind: endpoint_judge` for this role")


def shrunk(image: np.ndarray | Image.Image, side: int) -> Image.Image:
    """RGB PIL image whose long side is at most `side` (never enlarged)."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.ascontiguousarray(np.asarray(image, np.uint8)))
    pil = image.convert("RGB")
    scale = min(1.0, side / max(pil.size))
    if scale < 1.0:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))),
                         Image.Resampling.BICUBIC)
    return pil


class VlmGenerator:
    """A local vision-language model answering chats: what the judge and the OpenAI-compatible server
    (`models.pipeline.judges.serve`) share. Messages use the processor's format: `content` is a list of
    {"type": "image"} and {"type": "text", "text": ...} items; images come separately, in order."""

    def __init__(self, path, device: torch.device, dtype: torch.dtype, trust_remote_code: bool = False):
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

        self.device = device
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
        # Generation appends after the last prompt token of every row: pad on the left.
        getattr(self.processor, "tokenizer", self.processor).padding_side = "left"
        model_class = AutoModelForCausalLM if trust_remote_code else AutoModelForImageTextToText
        self.model = model_class.from_pretrained(path, dtype=dtype, local_files_only=True,
                                                 trust_remote_code=trust_remote_code)
        self.model.to(device).eval()

    @torch.inference_mode()
    def chat(self, chats: Sequence[list[dict]], images: Sequence[list[Image.Image]], max_new_tokens: int) -> list[str]:
        """Greedy answers, one per chat; `images[i]` fills the image items of `chats[i]` in order."""
        texts = [self.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) for chat in chats]
        flat = [image for chat_images in images for image in chat_images]   # in text order, as the processor wants
        inputs = self.processor(images=flat or None, text=texts, padding=True, return_tensors="pt").to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        # Greedy, with any sampling defaults of the checkpoint's generation config switched off.
        tokens = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                     temperature=None, top_p=None, top_k=None)
        new = tokens[:, inputs["input_ids"].shape[1]:]   # (B, generated), the prompt cut off
        return [text.strip() for text in self.processor.batch_decode(new, skip_special_tokens=True)]


def judge_chat(template: PromptTemplate, case: JudgeCase, max_references: int,
               max_image_side: int) -> tuple[list[dict], list[Image.Image]]:
    """The judge's one user turn: the query image, its references (best first), then the question."""
    references = list(case.references)[:max_references]
    images = [shrunk(image, max_image_side) for image in [case.rainy, *references]]
    content: list[dict] = [{"type": "image"} for _ in images]
    content.append({"type": "text", "text": template.render(n_references=len(references))})
    return [{"role": "user", "content": content}], images


def judge_in_batches(cases: Sequence[JudgeCase], batch_size: int,
                     answer: Callable[[list[JudgeCase]], list[str]]) -> list[Verdict]:
    """`answer` over batches of cases, parsed strictly. A batch that fails is retried case by case,
    so only a case that fails on its own gets an "error" verdict (with the reason). Latency is the
    wall time of the call that answered the case."""
    verdicts: list[Verdict] = []
    cases = list(cases)
    for start in range(0, len(cases), batch_size):
        verdicts.extend(_answer_batch(cases[start:start + batch_size], answer))
    return verdicts


def _answer_batch(cases: list[JudgeCase], answer: Callable[[list[JudgeCase]], list[str]]) -> list[Verdict]:
    started = time.perf_counter()
    try:
        texts = answer(cases)
    except Exception as error:  # noqa: BLE001  (one bad case must not lose the votes of the others)
        if isinstance(error, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()
        if len(cases) > 1:
            return [verdict for case in cases for verdict in _answer_batch([case], answer)]
        return [Verdict("error", "", time.perf_counter() - started, f"{type(error).__name__}: {error}")]
    latency = time.perf_counter() - started
    return [Verdict(parse_answer(text), text, latency) for text in texts]


class VlmJudge:
    def __init__(self, spec: ModelSpec, profile: Profile):
        self.options = parse_options(spec, VlmJudgeOptions)
        self.template = load_template(spec, self.options.prompt)
        self.prompt_version, self.prompt_hash = self.template.version, self.template.sha256
        if self.options.remote_code:
            check_remote_code(spec)   # before anything of the model is read
        self.batch_size = spec.batch_size
        device = pick_device(spec)
        path = resolve_model_dir(spec, profile)
        if self.options.remote_code:
            check_code_is_shipped(path, spec)
        self.generator = VlmGenerator(path, device, pick_dtype(spec, device),
                                      trust_remote_code=self.options.remote_code)

    def judge(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        return judge_in_batches(cases, self.batch_size, self._answer)

    def _answer(self, cases: list[JudgeCase]) -> list[str]:
        chats = [judge_chat(self.template, case, self.options.max_references, self.options.max_image_side)
                 for case in cases]
        return self.generator.chat([chat for chat, _ in chats], [images for _, images in chats],
                                   self.options.max_new_tokens)


def load_template(spec: ModelSpec, version: str) -> PromptTemplate:
    if version not in prompt_versions():
        raise ValueError(f"adapter {spec.kind!r} (model {spec.model_id!r}): unknown prompt {version!r}; "
                         f"known versions: {', '.join(prompt_versions())}")
    return load_prompt(version)


def vlm_judge(spec: ModelSpec, profile: Profile) -> VlmJudge:
    return VlmJudge(spec, profile)
