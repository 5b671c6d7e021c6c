"""Every `paper` adapter, run for real on the `tiny` profile's random models.

The models are loaded from their folders by the same `from_pretrained` / `local-dir:` code that loads
the paper's weights; outputs are nonsense but their shapes, types, norms and determinism are not.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.pipeline.loading import resolve_model_dir
from models.pipeline.profiles import Profile
from models.pipeline.registry import adapter
from models.pipeline.registry import load_role

CAPTIONS = ["a city street at night in the rain", "a cat by a wet window", "raindrops on a car under grey sky"]
NEURAL_ROLES = ["captioner", "expander", "keywords", "text_encoder", "keyword_encoder", "image_encoder"]


def fresh_load(profile: Profile, role: str, seed: int):
    """A second instance of the role's adapter, past `load_role`'s cache, with torch reseeded: it computes
    what the first one does only if every weight is loaded and inference draws no random numbers."""
    torch.manual_seed(seed)
    spec = profile.roles[role]
    return adapter(spec.kind)(spec, profile)


@pytest.mark.parametrize("role", NEURAL_ROLES)
def test_tiny_roles_resolve_to_their_local_folders(tiny_profile, role):
    spec = tiny_profile.roles[role]
    assert spec.model_id.startswith("tiny/")
    assert resolve_model_dir(spec, tiny_profile) == tiny_profile.models_dir / spec.model_id


def test_blip_captions_three_photos_deterministically(tiny_profile, photos):
    captioner = load_role(tiny_profile, "captioner")
    assert captioner.model.name_or_path == str(tiny_profile.models_dir / "tiny/blip")
    captions = captioner.caption(photos, [{"dataset": "Rain100L"}] * 3)
    assert len(captions) == 3 and all(isinstance(c, str) and c for c in captions)
    assert fresh_load(tiny_profile, "captioner", seed=1).caption(photos, [{}] * 3) == captions


def test_blip_gives_each_image_the_same_caption_alone_or_batched(tiny_profile, photos):
    captioner = load_role(tiny_profile, "captioner")
    assert captioner.batch_size < len(photos)   # the batch of 3 really is split
    assert [captioner.caption([p], [{}])[0] for p in photos] == captioner.caption(photos, [{}] * 3)


def test_chat_expander_generates_from_the_chat_template(tiny_profile):
    expander = load_role(tiny_profile, "expander")
    assert expander.model.name_or_path == str(tiny_profile.models_dir / "tiny/qwen2")
    prompt = expander.prompt_text(CAPTIONS[0])
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert f'"{CAPTIONS[0]}"' in prompt
    expanded = expander.expand(CAPTIONS)
    assert len(expanded) == 3 and all(isinstance(e, str) and e for e in expanded)
    assert expanded != CAPTIONS   # the generated text, not the fallback to the caption
    assert fresh_load(tiny_profile, "expander", seed=2).expand(CAPTIONS) == expanded


def test_chat_expander_pads_on_the_left(tiny_profile):
    expander = load_role(tiny_profile, "expander")
    assert expander.tokenizer.padding_side == "left"
    assert expander.expand(CAPTIONS[:1]) == expander.expand(CAPTIONS[:2])[:1]


def test_an_unknown_prompt_version_fails_at_load(tiny_profile):
    profile = tiny_profile.with_role("expander", options={"prompt": "no-such-prompt"})
    with pytest.raises(ValueError, match="chat_expander.*no-such-prompt"):
        load_role(profile, "expander")


def test_keybert_picks_keyphrases_from_each_text(tiny_profile):
    extractor = load_role(tiny_profile, "keywords")
    texts = CAPTIONS + ["the and of it"]
    keywords = extractor.keywords(texts)
    assert len(keywords) == 4 and keywords[3] == []   # stop words only
    for text, found in zip(texts, keywords[:3]):
        assert 1 <= len(found) <= extractor.options.top_n
        # n-grams of the text's own words, counted once stop words are gone ("street night")
        assert all(set(k.split()) <= set(text.split()) for k in found)
        assert max(len(k.split()) for k in found) <= extractor.options.ngram_max
    assert fresh_load(tiny_profile, "keywords", seed=3).keywords(texts) == keywords


@pytest.mark.parametrize("role", ["text_encoder", "keyword_encoder"])
def test_sentence_transformer_encodes_unit_vectors(tiny_profile, role):
    encoder = load_role(tiny_profile, role)
    vectors = encoder.encode_texts(CAPTIONS)
    assert vectors.shape == (3, encoder.dim) and encoder.dim == 32 and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    np.testing.assert_array_equal(fresh_load(tiny_profile, role, seed=4).encode_texts(CAPTIONS), vectors)
    # A batch of one and a padded batch of three take different float32 kernels: torch's float32 defaults.
    np.testing.assert_allclose(encoder.encode_texts(CAPTIONS[:1])[0], vectors[0], rtol=1.3e-6, atol=1e-5)
    assert encoder.encode_texts([]).shape == (0, encoder.dim)


def test_open_clip_encodes_images_and_texts_into_one_space(tiny_profile, photos):
    encoder = load_role(tiny_profile, "image_encoder")
    images = encoder.encode_images(photos)
    texts = encoder.encode_texts(CAPTIONS[:2])
    assert encoder.dim == 16
    assert images.shape == (3, 16) and texts.shape == (2, 16)
    assert images.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert not np.allclose(images[0], images[1])
    again = fresh_load(tiny_profile, "image_encoder", seed=5)
    np.testing.assert_array_equal(again.encode_images(photos), images)
    np.testing.assert_array_equal(again.encode_texts(CAPTIONS[:2]), texts)
    assert encoder.encode_images([]).shape == (0, 16)
