"""Text encoder: a sentence-transformers model (all-MiniLM-L6-v2 in the paper), L2-normalised vectors.

`load_sentence_transformer` is shared with the `keywords` adapter, which embeds with the same model.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from models.pipeline.loading import pick_device, pick_dtype, resolve_model_dir, run_batched
from models.pipeline.profiles import ModelSpec, Profile


def load_sentence_transformer(spec: ModelSpec, profile: Profile):
    from sentence_transformers import SentenceTransformer

    device = pick_device(spec)
    model = SentenceTransformer(str(resolve_model_dir(spec, profile)), device=str(device), local_files_only=True,
                                model_kwargs={"dtype": pick_dtype(spec, device)})
    return model.eval()


class SentenceTransformerEncoder:
    def __init__(self, spec: ModelSpec, profile: Profile):
        self.model = load_sentence_transformer(spec, profile)
        self.dim: int = self.model.get_embedding_dimension()
        self.batch_size = spec.batch_size

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, unit L2 norm: cosine similarity is a dot product, L2 distance its monotone twin."""
        rows = run_batched(self._encode_batch, texts, self.batch_size)
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=len(texts), convert_to_tensor=True, show_progress_bar=False)
        # Normalised after the cast: a bf16 unit vector is only unit to ~3 decimals.
        return torch.nn.functional.normalize(vectors.float(), dim=-1).cpu().numpy()
