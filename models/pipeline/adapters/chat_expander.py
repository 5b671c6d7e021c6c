"""Expander: an instruction-tuned causal LM (Qwen2.5-Instruct in the paper) prompted through the
tokenizer's own chat template to turn a short BLIP caption into one fuller sentence.

The prompt is chosen by the required option `prompt` (a key of `PROMPTS`) so that the wording is part
of the role's fingerprint: a new wording is a new key, and every expansion made with the old one stays
attributable to it.
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.loading import parse_options, pick_device, pick_dtype, resolve_model_dir, run_batched
from models.pipeline.profiles import ModelSpec, Profile

# prompt version -> (system message, user message with a {caption} slot)
PROMPTS: dict[str, tuple[str, str]] = {
    "rain-scene-v1": (
        "You write precise, factual descriptions of photographs taken in rainy weather.",
        "Here is a short caption of a rainy photo: \"{caption}\"\n"
        "Expand it into one fuller sentence that describes the scene, the rain and the light. "
        "Do not invent objects the caption does not suggest. Answer with the sentence only.",
    ),
}


class ChatExpanderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Literal[tuple(PROMPTS)]        # required: the wording is fingerprinted through the profile
    max_new_tokens: int = Field(96, ge=1)  # one long sentence is ~40 tokens; the rest is headroom


class ChatExpander:
    def __init__(self, spec: ModelSpec, profile: Profile):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.options = parse_options(spec, ChatExpanderOptions)
        self.batch_size = spec.batch_size
        self.device = pick_device(spec)
        path = resolve_model_dir(spec, profile)
        # Left padding: generation appends after the last prompt token of every row.
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left", local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(spec, self.device),
                                                          local_files_only=True)
        self.model.to(self.device).eval()

    def expand(self, captions: Sequence[str]) -> list[str]:
        return run_batched(self._expand_batch, captions, self.batch_size)

    def prompt_text(self, caption: str) -> str:
        system, user = PROMPTS[self.options.prompt]
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user.format(caption=caption)}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    @torch.inference_mode()
    def _expand_batch(self, captions: list[str]) -> list[str]:
        inputs = self.tokenizer([self.prompt_text(c) for c in captions], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(self.device)
        # Greedy, with the checkpoint's sampling defaults (Qwen ships temperature/top_p) switched off.
        tokens = self.model.generate(**inputs, max_new_tokens=self.options.max_new_tokens, do_sample=False,
                                     temperature=None, top_p=None, top_k=None,
                                     pad_token_id=self.tokenizer.pad_token_id)
        new = tokens[:, inputs["input_ids"].shape[1]:]   # (B, generated), the prompt cut off
        texts = [" ".join(t.split()) for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
        # A generation that ends at once must not erase the caption that later stages embed.
        return [text or caption for text, caption in zip(texts, captions)]
