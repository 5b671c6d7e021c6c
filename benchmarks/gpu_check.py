"""Every GPU path of rainrag, checked and measured in one short run on one GPU.

    python -m benchmarks.gpu_check [--json OUT] [--only clip,ssim,...]    # on a GPU machine
    python -m benchmarks.gpu_check --smoke                                # anywhere, tiny sizes, seconds

Sections (each a part of one JSON and of the printed table; one that fails is recorded with its error
and the others still run):
- clip: CLIP ViT-L/14 (open_clip architecture, random weights, bf16 on CUDA): images/s at batch 256 for
  the model alone and through the embed stage's own path (JPEG decode, PIL preprocessing, model);
- ssim: the retrieval re-ranker's batched CUDA path against its CPU path on the same pairs: largest
  |difference| and pairs/s of each;
- restoration: UniRain and Restormer training steps (128², batch 8, bf16): images/s and peak memory,
  and UniRain inference at 256² (the paper's FLOPs setting);
- judge: the LLaVA-NeXT-7B architecture with random weights through the project's transformers judge
  (`vlm_judge`): a query, its clean image and 3 references, one answer token; requests/s per batch size,
  the best one, and the GPU-hours it implies for 2.4 M queries;
- caption: BLIP-large (random weights) through the project's captioner adapter: images/s.

Random weights measure speed only; every model goes through the same `from_pretrained` folders and
adapters as a downloaded one. The script needs torch, torchvision, transformers, pillow, numpy,
pyarrow, scikit-image and safetensors, plus open_clip (for `clip`) and pydantic (the model profiles):
no Prefect, DuckDB or FAISS. `--smoke` runs every section on the CPU with the `tiny` models, so the
script is tested where there is no GPU (tests/test_gpu_check.py).

On a machine with PyTorch but no package registry, carry the missing wheels (Python 3.12 there):

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        open_clip_torch==3.3.0 ftfy wcwidth pydantic pydantic-core annotated-types typing-inspection
    # there: python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    #        PYTHONPATH=/tmp/site python3 -m benchmarks.gpu_check

The whole run (the 7.6 B judge built, saved and loaded once, then BLIP-large, CLIP, SSIM and the
restoration networks) is sized for a few minutes on one H100/H200.
"""
from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

QUERIES_TO_JUDGE = 2_400_000   # the 36 datasets' images, each a query of the judge stage
OUT = Path("benchmarks/out/gpu_check.json")


class Context:
    """What every section needs: the device, the size regime and a scratch folder."""

    def __init__(self, smoke: bool, scratch: Path, judge_batches: list[int]):
        self.smoke, self.scratch, self.judge_batches = smoke, scratch, judge_batches
        self.device = torch.device("cuda" if torch.cuda.is_available() and not smoke else "cpu")

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def timed(ctx: Context, run: Callable[[], object], repeats: int) -> float:
    """Seconds per call of `run`, after one untimed warm-up call."""
    run()
    ctx.sync()
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    ctx.sync()
    return (time.perf_counter() - start) / repeats


def clip_section(ctx: Context) -> dict:
    from benchmarks.clip_embed_gpu import save_vit_l14, stage_path, write_jpegs
    from models.pipeline.adapters.open_clip import OpenClipEncoder
    from models.pipeline.profiles import ModelSpec, load_profile
    from models.pipeline.registry import load_role
    from models.pipeline.tiny import build_tiny_models

    batch, images = (8, 16) if ctx.smoke else (256, 2048)
    if ctx.smoke:
        encoder = load_role(build_tiny_models(ctx.scratch / "models", only=["open_clip"]), "image_encoder")
    else:
        save_vit_l14(ctx.scratch / "models" / "vit-l-14-random")
        spec = ModelSpec(kind="open_clip", model_id="vit-l-14-random", batch_size=batch)
        encoder = OpenClipEncoder(spec, load_profile("paper", models_dir=ctx.scratch / "models"))
    side = encoder.model.visual.image_size
    side = side[0] if isinstance(side, (tuple, list)) else side
    pixels = torch.randn(batch, 3, side, side, device=encoder.device)   # (B, 3, S, S), preprocessed
    with torch.inference_mode(), encoder._autocast():
        seconds = timed(ctx, lambda: encoder.model.encode_image(pixels, normalize=True), 3 if ctx.smoke else 10)
    paths = write_jpegs(ctx.scratch / "jpeg", images)
    encoder.encode_images([np.zeros((64, 64, 3), np.uint8)] * 2)   # warm-up of the stage path
    return {"model": "ViT-L-14" if not ctx.smoke else "tiny open_clip", "dtype": str(encoder.dtype), "batch": batch,
            "model_only_images_per_s": batch / seconds,
            "stage_path_images_per_s": stage_path(encoder, paths, batch), "stage_path_images": images}


def ssim_section(ctx: Context) -> dict:
    from tasks.retrieval.ssim import _blur_valid, _scores_batched, reference_terms, ssim_one_to_many

    size, queries, k = (64, 4, 20) if ctx.smoke else (256, 200, 20)
    rng = np.random.default_rng(0)
    base = rng.random((queries, size, size), dtype=np.float32)
    refs = np.clip(base[:, None] * 0.7 + rng.random((queries, k, size, size), dtype=np.float32) * 0.3, 0, 1)
    q_cpu, r_cpu = torch.from_numpy(base), torch.from_numpy(refs)   # (Q, S, S), (Q, K, S, S)

    def cpu_scores() -> torch.Tensor:
        return torch.stack([ssim_one_to_many(q, r) for q, r in zip(q_cpu, r_cpu)])

    if ctx.device.type == "cuda":
        q_dev, r_dev = q_cpu.to(ctx.device), r_cpu.to(ctx.device)

        def device_scores() -> torch.Tensor:
            return torch.stack([ssim_one_to_many(q, r) for q, r in zip(q_dev, r_dev)])
    else:   # no GPU: the batched path (the one CUDA takes) run on the CPU
        def device_scores() -> torch.Tensor:
            out = []
            for q, r in zip(q_cpu, r_cpu):
                ux, uxx = _blur_valid(torch.stack([q, q * q]))
                out.append(_scores_batched(q, (ux, ux * ux, uxx - ux * ux), r, reference_terms(r)))
            return torch.stack(out)

    cpu_s, device_s = timed(ctx, cpu_scores, 1), timed(ctx, device_scores, 3)
    difference = (cpu_scores() - device_scores().cpu()).abs().max().item()
    return {"size": size, "pairs": queries * k, "batched_path_device": ctx.device.type,
            "max_abs_difference": difference, "cpu_pairs_per_s": queries * k / cpu_s,
            "batched_pairs_per_s": queries * k / device_s}


def restoration_section(ctx: Context) -> dict:
    from benchmarks.train_throughput import TINY, measure
    from models.restoration.registry import build

    steps = argparse.Namespace(batch_size=2 if ctx.smoke else 8, crop=32 if ctx.smoke else 128,
                               steps=2 if ctx.smoke else 30, warmup=1 if ctx.smoke else 5)
    trained = [measure(name, ctx.device, steps) for name in ("unirain", "restormer")]
    net = build("unirain", **(TINY["unirain"] if ctx.device.type == "cpu" else {})).to(ctx.device).eval()
    batch, side = (2, 64) if ctx.smoke else (8, 256)
    x = torch.rand(batch, 3, side, side, device=ctx.device)   # (B, 3, 256, 256): the paper's FLOPs setting
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=ctx.device.type == "cuda"):
        seconds = timed(ctx, lambda: net(x), 2 if ctx.smoke else 10)
    return {"train": {"batch": steps.batch_size, "crop": steps.crop, "networks": trained},
            "unirain_inference": {"batch": batch, "side": side, "images_per_s": batch / seconds}}


LLAVA_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]   # llava-v1.6's anyres grid


def llava_next_7b_config():
    """(config, tokenizer) of llava-hf/llava-v1.6-mistral-7b-hf's architecture: CLIP-L/336 tower, Mistral-7B
    decoder, anyres tiling. The tokenizer is a small one trained here: random weights answer nonsense
    whatever the vocabulary, and speed does not depend on it."""
    from transformers import CLIPVisionConfig, LlavaNextConfig, MistralConfig, PreTrainedTokenizerFast

    from models.pipeline.tiny import _byte_level_bpe

    bpe = _byte_level_bpe(["<unk>", "<s>", "</s>", "<pad>", "<image>"], 400)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    bos, eos, pad, image = tokenizer.convert_tokens_to_ids(["<s>", "</s>", "<pad>", "<image>"])
    config = LlavaNextConfig(
        vision_config=CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                       num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768),
        text_config=MistralConfig(vocab_size=32064, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                                  bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False),
        image_token_index=image, image_grid_pinpoints=LLAVA_PINPOINTS, vision_feature_layer=-2,
        vision_feature_select_strategy="default")
    return config, tokenizer


def _write_llava_next_7b(out: Path) -> None:
    """`llava_next_7b_config` with random bf16 weights built on the GPU, saved like a downloaded checkpoint."""
    from transformers import GenerationConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessor, LlavaNextProcessor

    from models.pipeline.tiny import LLAVA_CHAT_TEMPLATE

    config, tokenizer = llava_next_7b_config()
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)   # 7.6 B parameters straight in bf16, on the GPU
    try:
        with torch.device("cuda"):
            model = LlavaNextForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    text = config.text_config
    model.generation_config = GenerationConfig(bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id,
                                               pad_token_id=text.pad_token_id)
    model.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    processor = LlavaNextImageProcessor(size={"shortest_edge": 336}, image_grid_pinpoints=LLAVA_PINPOINTS,
                                        crop_size={"height": 336, "width": 336})
    LlavaNextProcessor(image_processor=processor, tokenizer=tokenizer, patch_size=14,
                       vision_feature_select_strategy="default", num_additional_image_tokens=1,
                       chat_template=LLAVA_CHAT_TEMPLATE).save_pretrained(out)


def judge_section(ctx: Context) -> dict:
    from models.pipeline.profiles import ModelSpec, Profile, load_profile
    from models.pipeline.registry import load_role
    from models.pipeline.roles import JudgeCase
    from models.pipeline.tiny import build_tiny_models, sample_photos

    if ctx.smoke:
        tiny = build_tiny_models(ctx.scratch / "models", only=["llava_next"])
        profile = tiny.with_role("judge_1", options={**tiny.roles["judge_1"].options, "max_new_tokens": 1})
    else:
        _write_llava_next_7b(ctx.scratch / "models" / "llava-next-7b-random")
        spec = ModelSpec(kind="vlm_judge", model_id="llava-next-7b-random", batch_size=1,
                         options={"prompt": "rain-pair-v1", "max_new_tokens": 1})
        paper = load_profile("paper", models_dir=ctx.scratch / "models")
        profile = Profile(name="gpu-check", models_dir=paper.models_dir, roles={**paper.roles, "judge_1": spec})
    judge = load_role(profile, "judge_1")
    photos = sample_photos(5 * max(ctx.judge_batches), size=(96, 128) if ctx.smoke else (480, 640))
    cases = [JudgeCase(photos[i], photos[i + 1], photos[i + 2:i + 5]) for i in range(0, len(photos) - 4, 5)]
    per_batch = {}
    for batch in ctx.judge_batches:
        judge.batch_size = batch
        chosen = cases[:batch]
        seconds = timed(ctx, lambda: judge.judge(chosen), 1 if ctx.smoke else 3)
        per_batch[batch] = len(chosen) / seconds
    best = max(per_batch, key=per_batch.get)
    return {"model": "tiny llava_next" if ctx.smoke else "LLaVA-NeXT-7B architecture (Mistral-7B, CLIP-L/336)",
            "references": 3, "new_tokens": 1, "requests_per_s_by_batch": per_batch, "best_batch": best,
            "best_requests_per_s": per_batch[best],
            "gpu_hours_for_2_4m_queries": QUERIES_TO_JUDGE / per_batch[best] / 3600}


def _write_blip_large(out: Path) -> None:
    """Salesforce/blip-image-captioning-large's architecture (ViT-L/16 at 384², BERT-base decoder) with random
    weights and a small tokenizer (see `_write_llava_next_7b`)."""
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    from models.pipeline.tiny import _wordpiece_vocab

    vocab = _wordpiece_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"])
    config = BlipConfig(
        text_config=dict(vocab_size=30524, hidden_size=768, encoder_hidden_size=1024, intermediate_size=3072,
                         num_hidden_layers=12, num_attention_heads=12, bos_token_id=vocab["[DEC]"],
                         pad_token_id=vocab["[PAD]"], sep_token_id=vocab["[SEP]"], eos_token_id=vocab["[SEP]"]),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           image_size=384, patch_size=16),
        projection_dim=512, image_text_hidden_size=256)
    BlipForConditionalGeneration(config).save_pretrained(out)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 384, "width": 384}),
                  tokenizer=BertTokenizer(vocab=vocab, bos_token="[DEC]")).save_pretrained(out)


def caption_section(ctx: Context) -> dict:
    from models.pipeline.profiles import load_profile
    from models.pipeline.registry import load_role
    from models.pipeline.tiny import build_tiny_models, sample_photos

    batch = 2 if ctx.smoke else 64
    if ctx.smoke:
        profile = build_tiny_models(ctx.scratch / "models", only=["blip"])
    else:
        _write_blip_large(ctx.scratch / "models" / "blip-large-random")
        paper = load_profile("paper", models_dir=ctx.scratch / "models")
        spec = paper.roles["captioner"].model_copy(update={"model_id": "blip-large-random", "revision": None,
                                                           "batch_size": batch})
        profile = paper.with_role("captioner", **spec.model_dump())
    captioner = load_role(profile, "captioner")
    images = sample_photos(batch, size=(96, 128) if ctx.smoke else (480, 640))
    seconds = timed(ctx, lambda: captioner.caption(images, [{}] * len(images)), 1 if ctx.smoke else 3)
    return {"model": "tiny blip" if ctx.smoke else "BLIP-large architecture", "batch": batch,
            "images_per_s": len(images) / seconds}


SECTIONS: dict[str, Callable[[Context], dict]] = {
    "clip": clip_section, "ssim": ssim_section, "restoration": restoration_section, "judge": judge_section,
    "caption": caption_section}


def _flat(prefix: str, value) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for key, inner in value.items() for row in _flat(f"{prefix}.{key}" if prefix else str(key), inner)]
    if isinstance(value, list):
        return [row for i, inner in enumerate(value) for row in _flat(f"{prefix}[{i}]", inner)]
    return [(prefix, f"{value:.4g}" if isinstance(value, float) else str(value))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU: checks the script, measures nothing")
    parser.add_argument("--only", help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    parser.add_argument("--judge-batches", default="1,4,16,32", help="judge batch sizes to try (default 1,4,16,32)")
    parser.add_argument("--json", type=Path, default=OUT, help=f"where the results go (default {OUT})")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.exit(2, f"error: unknown sections {unknown}; the sections are {list(SECTIONS)}\n")
    if not args.smoke and not torch.cuda.is_available():
        parser.exit(2, "error: no CUDA device here; run with --smoke to check the script on the CPU\n")
    batches = [1, 2] if args.smoke else [int(b) for b in args.judge_batches.split(",")]
    results: dict = {"date": datetime.date.today().isoformat(), "smoke": args.smoke,
                     "device": torch.cuda.get_device_name() if torch.cuda.is_available() and not args.smoke else "cpu",
                     "torch": torch.__version__, "sections": {}}
    with tempfile.TemporaryDirectory(prefix="rainrag-gpu-check-") as tmp:
        ctx = Context(args.smoke, Path(tmp), batches)
        for name in chosen:
            started = time.perf_counter()
            try:
                results["sections"][name] = SECTIONS[name](ctx)
            except Exception as exc:   # noqa: BLE001 — one section's failure must not cost the others' figures
                results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            results["sections"][name]["seconds"] = time.perf_counter() - started
            if ctx.device.type == "cuda":
                torch.cuda.empty_cache()
            print(f"[{name}] done in {results['sections'][name]['seconds']:.1f} s", flush=True)
    for key, value in _flat("", results):
        print(f"{key:<60} {value}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str))
    failed = [n for n, r in results["sections"].items() if "error" in r]
    if failed:
        parser.exit(1, f"error: sections failed: {', '.join(failed)} (their errors are in {args.json})\n")
    return results


if __name__ == "__main__":
    main()
