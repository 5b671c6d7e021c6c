"""open_clip ViT-L-14 image embedding throughput (random weights, bf16 on CUDA), JPEG decode included.

    python -m benchmarks.clip_embed_gpu [--images 4096] [--batch 256] [--decode-workers 16]

The model is saved in open_clip's folder format and loaded through the embed stage's own adapter
(`models.pipeline.adapters.open_clip`), so the measured path is the production one. Three numbers,
in one run on one machine:
- model only: preprocessed tensors already on the GPU, the forward pass alone;
- stage path: files → `decoded_chunks` (one decode thread, as the embed stage runs) → `encode_images`
  (PIL preprocessing on the CPU, then the GPU);
- parallel decode: the same, with the files decoded by a pool of threads first.
Meant for a GPU; on a CPU use a small `--images`. Prints a table and writes JSON to benchmarks/out/.
"""
from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.pipeline.adapters.open_clip import OpenClipEncoder
from models.pipeline.profiles import ModelSpec, load_profile
from storage.images import load_rgb8
from tasks.image_batches import decoded_chunks


def write_jpegs(folder: Path, count: int, size: tuple[int, int] = (480, 640)) -> list[Path]:
    """`count` distinct photo-like JPEGs (crops of scikit-image photographs plus noise), quality 90."""
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        photo = Image.fromarray(photos[i % len(photos)]).resize((size[1], size[0]))
        pixels = np.clip(np.asarray(photo, np.int16) + rng.integers(-8, 8, (*size, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        paths.append(folder / f"{i:06d}.jpg")
        paths[-1].write_bytes(buffer.getvalue())
    return paths


def save_vit_l14(out: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    config = open_clip.get_model_config("ViT-L-14")
    model = open_clip.create_model("ViT-L-14", pretrained=None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": config,
                                                           "preprocess_cfg": model.visual.preprocess_cfg}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def model_only(encoder: OpenClipEncoder, batch: int, repeats: int) -> float:
    pixels = torch.randn(batch, 3, 224, 224, device=encoder.device)   # (B, 3, 224, 224)
    with torch.inference_mode(), encoder._autocast():
        encoder.model.encode_image(pixels)   # warm-up: kernels, autotuning
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            encoder.model.encode_image(pixels, normalize=True)
        sync()
    return batch * repeats / (time.perf_counter() - start)


def stage_path(encoder: OpenClipEncoder, paths: list[Path], batch: int) -> float:
    rows = [{"sample_id": p.name, "path": p} for p in paths]
    start = time.perf_counter()
    for chunk in decoded_chunks(rows, lambda row: load_rgb8(row["path"]), batch):
        encoder.encode_images(chunk.images)
    sync()
    return len(paths) / (time.perf_counter() - start)


def parallel_decode(encoder: OpenClipEncoder, paths: list[Path], batch: int, workers: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for first in range(0, len(paths), batch):
            encoder.encode_images(list(pool.map(load_rgb8, paths[first:first + batch])))
    sync()
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--decode-workers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rainrag-clip-") as tmp:
        paths = write_jpegs(Path(tmp) / "jpeg", args.images)
        save_vit_l14(Path(tmp) / "models" / "vit-l-14-random")
        profile = load_profile("paper", models_dir=Path(tmp) / "models")
        spec = ModelSpec(kind="open_clip", model_id="vit-l-14-random", batch_size=args.batch)
        encoder = OpenClipEncoder(spec, profile)
        encoder.encode_images([load_rgb8(p) for p in paths[:args.batch]])   # warm-up of the whole path
        result = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                  "dtype": str(encoder.dtype), "images": args.images, "batch": args.batch,
                  "model_only_images_per_s": model_only(encoder, args.batch, max(1, args.images // args.batch)),
                  "stage_path_images_per_s": stage_path(encoder, paths, args.batch),
                  "parallel_decode_images_per_s": parallel_decode(encoder, paths, args.batch, args.decode_workers),
                  "decode_workers": args.decode_workers}
    for key, value in result.items():
        print(f"{key:<32} {value:.1f}" if isinstance(value, float) else f"{key:<32} {value}")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "clip_embed_gpu.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
