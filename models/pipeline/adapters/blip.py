"""Captioner: BLIP (`BlipForConditionalGeneration`), unconditional captions, greedy or beam search.

The paper captions every image with BLIP-large; captions are short ("a city street in the rain") and
are expanded by the `expander` role before they are embedded.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.loading import parse_options, pick_device, pick_dtype, resolve_model_dir, run_batched
from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.roles import ImageContext


class BlipOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(40, ge=1)   # BLIP-large captions rarely pass 20 tokens
    num_beams: int = Field(1, ge=1)         # 1 = greedy; beams stay deterministic (no sampling)


class BlipCaptioner:
    def __init__(self, spec: ModelSpec, profile: Profile):
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.options = parse_options(spec, BlipOptions)
        self.batch_size = spec.batch_size
        self.device = pick_device(spec)
        self.dtype = pick_dtype(spec, self.device)
        path = resolve_model_dir(spec, profile)
        self.processor = BlipProcessor.from_pretrained(path, local_files_only=True)
        self.model = BlipForConditionalGeneration.from_pretrained(path, dtype=self.dtype, local_files_only=True)
        self.model.to(self.device).eval()

    def caption(self, images: Sequence[np.ndarray], contexts: Sequence[ImageContext]) -> list[str]:
        """One caption per image; `contexts` are not used: BLIP sees only the pixels."""
        return run_batched(self._caption_batch, images, self.batch_size)

    @torch.inference_mode()
    def _caption_batch(self, images: list[np.ndarray]) -> list[str]:
        pil = [Image.fromarray(image) for image in images]
        inputs = self.processor(images=pil, return_tensors="pt").to(self.device, self.dtype)
        tokens = self.model.generate(**inputs, max_new_tokens=self.options.max_new_tokens,
                                     num_beams=self.options.num_beams, do_sample=False)
        return [text.strip() for text in self.processor.batch_decode(tokens, skip_special_tokens=True)]
