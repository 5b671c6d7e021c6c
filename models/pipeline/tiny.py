"""Tiny random models of the `paper` architectures, written where the `tiny` profile looks for them.

    profile = build_tiny_models(tmp_dir)        # a few seconds on one CPU core
    captioner = load_role(profile, "captioner")  # the real BLIP adapter, tiny random weights

Every model is saved with its library's own `save_pretrained` (or open_clip's folder format) and
reloaded by the adapters exactly like a downloaded one, so the tests exercise the real loading and
inference code. Tokenizers are trained on the spot on a few sentences: no vocabulary is downloaded.
The weights are random, so the outputs are well-formed nonsense; only their shapes, types and
determinism mean anything.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from models.pipeline.profiles import Profile, load_profile

TINY_PREFIX = "tiny/"   # model ids under this prefix are built here, never downloaded

# What the tokenizers learn their vocabularies from: the words of captions and of the expander prompt.
TEXT = [
    "a city street at night in heavy rain with car lights reflected on the wet road",
    "a man with an umbrella walks past shops while rain streaks fall in the light",
    "raindrops on a window in front of green trees on a grey cloudy day",
    "expand the short caption of a rainy photo into one fuller sentence about the scene",
    "describe the rain, the light and what the photograph shows in one sentence",
    "a cat sits by the door, a cup of coffee on a table, a rocket under a dark sky",
]
QWEN_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# LLaVA-NeXT's chat template (Mistral's [INST] turns), with an <image> placeholder per image item.
LLAVA_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}[INST] {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    " [/INST]{% else %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "</s>{% endif %}{% endfor %}"
)
LLAVA_SIDE, LLAVA_PATCH = 32, 8   # the vision tower's input side and patch size, in px
# InternVL-hf's chat template (Qwen2 turns): one <IMG_CONTEXT> per image item, which the processor
# expands to <img> + image_seq_length context tokens per tile + </img>.
INTERNVL_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<IMG_CONTEXT>\n{% elif c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CLIP_CONFIG_NAME = "rainrag-tiny-clip"
CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def build_tiny_models(models_dir: Path, seed: int = 0, only: Sequence[str] | None = None) -> Profile:
    """Write every model of the `tiny` profile (or the `only` ones, by folder name) under
    `models_dir/tiny/` and return the profile."""
    models_dir = Path(models_dir)
    root = models_dir / TINY_PREFIX
    builders = {"blip": _build_blip, "qwen2": _build_qwen2, "minilm": _build_minilm, "open_clip": _build_open_clip,
                "llava_next": _build_llava_next, "internvl": _build_internvl,
                "niqe": lambda out: _build_niqe(out, seed)}
    unknown = sorted(set(only or ()) - set(builders))
    if unknown:
        raise ValueError(f"no tiny models named {unknown}; the tiny models are {sorted(builders)}")
    for name, build in builders.items():
        if only is None or name in only:
            torch.manual_seed(seed)   # per model, so each one is the same whatever the build order
            build(root / name)
    return load_profile("tiny", models_dir=models_dir)


def _wordpiece_vocab(special: list[str]) -> dict[str, int]:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(TEXT, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    return tokenizer.get_vocab()


def _build_blip(out: Path) -> None:
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    # BLIP's text decoder starts from "[DEC]" and stops at "[SEP]", as in the released checkpoints.
    vocab = _wordpiece_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"])
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]")
    config = BlipConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, encoder_hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64,
                         bos_token_id=vocab["[DEC]"], pad_token_id=vocab["[PAD]"], sep_token_id=vocab["[SEP]"],
                         eos_token_id=vocab["[SEP]"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8, initializer_range=0.02),
        projection_dim=16, image_text_hidden_size=16)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipForConditionalGeneration(config).save_pretrained(out)
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def _build_qwen2(out: Path) -> None:
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        chat_template=QWEN_CHAT_TEMPLATE)
    eos, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         tie_word_embeddings=False, eos_token_id=eos, pad_token_id=pad)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _byte_level_bpe(special: list[str], vocab_size: int) -> Tokenizer:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return bpe


def _build_llava_next(out: Path) -> None:
    """LLaVA-NeXT as llava-hf ships it (CLIP tower, Mistral decoder, anyres tiling), a few kB big."""
    from transformers import (CLIPVisionConfig, GenerationConfig, LlavaNextConfig, LlavaNextForConditionalGeneration,
                              LlavaNextImageProcessor, LlavaNextProcessor, MistralConfig, PreTrainedTokenizerFast)

    bpe = _byte_level_bpe(["<unk>", "<s>", "</s>", "<pad>", "<image>"], 400)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    bos, eos, pad, image = tokenizer.convert_tokens_to_ids(["<s>", "</s>", "<pad>", "<image>"])
    # Tiles of one or two base squares: a wide or tall image gets two, as a large one does in the paper model.
    pinpoints = [[LLAVA_SIDE, LLAVA_SIDE], [LLAVA_SIDE, 2 * LLAVA_SIDE], [2 * LLAVA_SIDE, LLAVA_SIDE]]
    config = LlavaNextConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       image_size=LLAVA_SIDE, patch_size=LLAVA_PATCH, projection_dim=16),
        text_config=MistralConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                                  bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False),
        image_token_index=image, image_grid_pinpoints=pinpoints, vision_feature_layer=-2,
        vision_feature_select_strategy="default")
    model = LlavaNextForConditionalGeneration(config)
    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(out)
    image_processor = LlavaNextImageProcessor(size={"shortest_edge": LLAVA_SIDE}, image_grid_pinpoints=pinpoints,
                                              crop_size={"height": LLAVA_SIDE, "width": LLAVA_SIDE})
    # One extra (CLS) token per tile, which the "default" strategy drops: as in llava-hf's processors.
    LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=LLAVA_PATCH,
                       vision_feature_select_strategy="default", num_additional_image_tokens=1,
                       chat_template=LLAVA_CHAT_TEMPLATE).save_pretrained(out)


def _build_internvl(out: Path) -> None:
    """InternVL as its transformers-native (-hf) conversions ship it: InternViT tiles, pixel-shuffle
    projector, Qwen2 decoder; 32 px tiles, one or two per image."""
    from transformers import (GenerationConfig, GotOcr2ImageProcessor, InternVLConfig, InternVLForConditionalGeneration,
                              InternVLProcessor, InternVLVideoProcessor, PreTrainedTokenizerFast, Qwen2Config)

    image_tokens = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
                    "video_token": "<video>"}
    bpe = _byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *image_tokens.values()], 400)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        extra_special_tokens=image_tokens)
    eos, pad, context = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>", "<IMG_CONTEXT>"])
    # (32 / 8)^2 patches per tile, pixel-shuffled by 0.5 on each side: 4 tokens per tile.
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=[LLAVA_SIDE, LLAVA_SIDE], patch_size=[LLAVA_PATCH, LLAVA_PATCH]),
        text_config=Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                                eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False),
        image_token_id=context, image_seq_length=4, downsample_ratio=0.5, vision_feature_layer=-1,
        tie_word_embeddings=False)
    model = InternVLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(out)
    size = {"height": LLAVA_SIDE, "width": LLAVA_SIDE}
    image_processor = GotOcr2ImageProcessor(size=size, crop_to_patches=True, min_patches=1, max_patches=2)
    InternVLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                      video_processor=InternVLVideoProcessor(size=size), image_seq_length=4,
                      chat_template=INTERNVL_CHAT_TEMPLATE).save_pretrained(out)


def _build_minilm(out: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    # Saved first as a plain BERT folder, then wrapped the way all-MiniLM-L6-v2 is: mean pooling + L2 norm.
    vocab = _wordpiece_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with tempfile.TemporaryDirectory() as bert_dir:
        BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, max_position_embeddings=128)).save_pretrained(bert_dir)
        BertTokenizer(vocab=vocab).save_pretrained(bert_dir)
        transformer = Transformer(bert_dir, max_seq_length=128)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu").save(str(out))


def _build_open_clip(out: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    # open_clip builds architectures by registered config name; the registration only has to outlive
    # `create_model`, after which the folder's own `open_clip_config.json` describes the model.
    with tempfile.TemporaryDirectory() as scratch:
        config_file = Path(scratch) / f"{CLIP_CONFIG_NAME}.json"
        config_file.write_text(json.dumps(CLIP_CONFIG))
        open_clip.add_model_config(config_file)
        model = open_clip.create_model(CLIP_CONFIG_NAME, pretrained=None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": CLIP_CONFIG, "preprocess_cfg": model.visual.preprocess_cfg}, indent=2))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))


def _build_niqe(out: Path, seed: int) -> None:
    from models.pipeline.offline.niqe import fit_niqe

    # Real, sharp photographs, large enough for a few dozen patches: the 36-d covariance needs more.
    fit_niqe(sample_photos(6, seed=seed, size=(192, 256)), out)


def sample_photos(n: int, seed: int = 0, size: tuple[int, int] = (96, 128)) -> list[np.ndarray]:
    """`n` real photographs (RGB uint8, `size` = (H, W)), random crops of those bundled with scikit-image."""
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[0] // 2, photo.shape[1] // 2
        top, left = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
        crop = Image.fromarray(photo[top:top + h, left:left + w])
        out.append(np.asarray(crop.resize(size[::-1], Image.BICUBIC)))
    return out
