"""Changing one model id in a profile re-runs exactly the stages that depend on that model."""
from __future__ import annotations

import shutil

from models.pipeline.tiny import build_tiny_models
from storage.stage import plan, run_inline
from tests.distill.stages import build

STAGES = ("quality", "caption", "embed")


def pending(store, data, profile, shards) -> dict[str, int]:
    return {name: len(plan(store, build(name, store, data, profile, pool_threshold=0.0), shards)[0])
            for name in STAGES}


def run(store, data, profile, shards, *names) -> None:
    for name in names:
        run_inline(store, build(name, store, data, profile, pool_threshold=0.0), shards)


def renamed(profile, role, suffix="-b"):
    """The profile with `role` pointing at a copy of its model under a new id (same weights, new id)."""
    spec = profile.roles[role]
    shutil.copytree(profile.models_dir / spec.model_id, profile.models_dir / (spec.model_id + suffix))
    return profile.with_role(role, model_id=spec.model_id + suffix)


def test_one_model_id_reruns_exactly_its_stages(store_copy, tmp_path):
    data, store, shards = store_copy
    shards = [s for s in shards if s.startswith("Rain100L-")]   # a few samples: tiny models, real code
    profile = build_tiny_models(tmp_path / "models")
    run(store, data, profile, shards, "quality", "caption", "embed")
    assert pending(store, data, profile, shards) == {"quality": 0, "caption": 0, "embed": 0}

    captioner = renamed(profile, "captioner")
    assert pending(store, data, captioner, shards) == {"quality": 0, "caption": len(shards), "embed": 0}
    run(store, data, captioner, shards, "caption")
    # new captions are new input for embed, and for nothing else
    assert pending(store, data, captioner, shards) == {"quality": 0, "caption": 0, "embed": len(shards)}
    run(store, data, captioner, shards, "embed")

    image_encoder = renamed(captioner, "image_encoder")
    assert pending(store, data, image_encoder, shards) == {"quality": 0, "caption": 0, "embed": len(shards)}
    run(store, data, image_encoder, shards, "embed")

    scorer = renamed(image_encoder, "quality")
    assert pending(store, data, scorer, shards) == {"quality": len(shards), "caption": 0, "embed": 0}
    # batch size and device change speed, not results: nothing re-runs
    faster = scorer.with_role("captioner", batch_size=7, device="cpu")
    run(store, data, scorer, shards, "quality")
    assert pending(store, data, faster, shards) == {"quality": 0, "caption": 0, "embed": 0}
