"""Known answers: each query photograph has one true reference — a cropped, brightened, noisy copy of
itself described in other words — among other scenes; the true reference ranks first at every level
(real MiniLM text vectors through FAISS, weight-free image descriptors, batched SSIM)."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from models.pipeline.profiles import load_profile
from models.pipeline.registry import load_role
from tasks.retrieval.cascade import text_level, visual_level
from tasks.retrieval.index import IndexConfig, build_index
from tasks.retrieval.ssim import ssim_one_to_many, to_gray_square

SCENES = {  # photograph -> (how a query describes it, how its true reference is described)
    "astronaut": ("portrait of an astronaut in a white suit in front of a flag",
                  "a woman astronaut in a spacesuit posing beside the american flag"),
    "coffee": ("a cup of coffee on a saucer on a table", "close-up of a coffee mug and saucer on a wooden table"),
    "chelsea": ("a ginger cat looking to the side", "an orange tabby cat with whiskers"),
    "rocket": ("a rocket on the launch pad under a clear sky", "a space rocket standing at its launch tower"),
    "hubble_deep_field": ("galaxies scattered across a dark night sky", "deep space photograph full of distant galaxies"),
    "immunohistochemistry": ("a microscope slide of stained tissue cells", "histology image of cells stained brown and blue"),
}


def photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    return np.asarray(Image.fromarray(image).convert("RGB").resize((192, 144)))


def transformed(image: np.ndarray, seed: int) -> np.ndarray:
    """A 94 % centre crop resized back, 12 % brighter, with Gaussian noise: the same scene, other pixels."""
    h, w = image.shape[:2]
    dy, dx = int(h * 0.03), int(w * 0.03)
    crop = Image.fromarray(image[dy:h - dy, dx:w - dx]).resize((w, h), Image.BILINEAR)
    noise = np.random.default_rng(seed).normal(0, 6, image.shape)
    return np.clip(np.asarray(crop, np.float32) * 1.12 + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    profile = load_profile("offline", models_dir=tmp_path_factory.mktemp("models"))
    return load_role(profile, "text_encoder"), load_role(profile, "image_encoder")


def test_the_true_reference_ranks_first_at_every_level(encoders):
    text_encoder, image_encoder = encoders
    names = list(SCENES)
    queries = [photo(n) for n in names]
    references = [transformed(q, seed) for seed, q in enumerate(queries)]   # reference i is query i's truth
    index = build_index(text_encoder.encode_texts([SCENES[n][1] for n in names]), IndexConfig())
    k = len(names)

    dist, txt_idx = text_level(index, text_encoder.encode_texts([SCENES[n][0] for n in names]), k)
    assert txt_idx[:, 0].tolist() == list(range(k)) and np.all(np.diff(dist, axis=1) >= 0)

    cos, vis_idx = visual_level(image_encoder.encode_images(queries), image_encoder.encode_images(references),
                                txt_idx, k)
    assert vis_idx[:, 0].tolist() == list(range(k)) and np.all(np.diff(cos, axis=1) <= 0)

    refs = torch.stack([torch.from_numpy(to_gray_square(r, 128)) for r in references])   # (k, 128, 128)
    for q, image in enumerate(queries):
        ssim = ssim_one_to_many(torch.from_numpy(to_gray_square(image, 128)), refs[vis_idx[q]])   # (k,)
        assert vis_idx[q][int(ssim.argmax())] == q, (names[q], ssim.tolist())


def test_an_excluded_reference_is_never_returned_and_the_next_one_moves_up(encoders):
    text_encoder, _ = encoders
    names = list(SCENES)
    index = build_index(text_encoder.encode_texts([SCENES[n][1] for n in names]), IndexConfig())
    queries = text_encoder.encode_texts([SCENES[n][0] for n in names])
    _, plain = text_level(index, queries, 3)
    _, without_own = text_level(index, queries, 3, exclude=[{i} for i in range(len(names))])
    assert all(i not in row for i, row in enumerate(without_own))
    assert without_own[:, 0].tolist() == plain[:, 1].tolist()
