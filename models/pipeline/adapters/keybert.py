"""Keyword extractor: KeyBERT over a sentence-transformers model (MiniLM in the paper).

KeyBERT ranks a text's own n-grams by cosine similarity to the whole text; the keywords are then
embedded by the `keyword_encoder` role for the keyword half of retrieval.
"""
from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.adapters.sentence_transformer import load_sentence_transformer
from models.pipeline.loading import parse_options, run_batched
from models.pipeline.profiles import ModelSpec, Profile


class KeyBertOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    top_n: int = Field(8, ge=1)       # keywords per text, best first
    ngram_max: int = Field(2, ge=1)   # longest keyphrase, in words ("heavy rain", "wet road")


class KeyBertExtractor:
    def __init__(self, spec: ModelSpec, profile: Profile):
        from keybert import KeyBERT

        self.options = parse_options(spec, KeyBertOptions)
        self.batch_size = spec.batch_size
        self.model = KeyBERT(model=load_sentence_transformer(spec, profile))

    def keywords(self, texts: Sequence[str]) -> list[list[str]]:
        """Up to `top_n` keyphrases per text, most relevant first; [] for a text of stop words only."""
        return run_batched(self._keywords_batch, texts, self.batch_size)

    def _keywords_batch(self, texts: list[str]) -> list[list[str]]:
        found = self.model.extract_keywords(texts, keyphrase_ngram_range=(1, self.options.ngram_max),
                                            stop_words="english", top_n=self.options.top_n)
        # KeyBERT returns [] when no text of the batch has a word left, and unwraps a batch of one.
        if not found:
            return [[] for _ in texts]
        if len(texts) == 1:
            found = [found]
        return [[phrase for phrase, _score in pairs] for pairs in found]
