"""The DAG's stages over a test's store, built the way the distill flow builds them (tasks.dag)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from models.pipeline.profiles import Profile
from storage.stage import Stage, run_inline
from storage.store import Store
from tasks.dag import BY_NAME, DISTILL, ingest_into_store
from tasks.manifest import Published, publish_manifest
from tasks.judge import Panel
from tasks.run_context import RunContext


def build(name: str, store: Store, data: Path, profile: Profile, panel: Panel | None = None, **settings) -> Stage:
    """Stage `name` with its config from a run of `profile` over `store` (DistillConfig fields as settings);
    `panel`: judges already loaded (the judge stage only), whose identity becomes the config's."""
    spec = BY_NAME[name]
    config = spec.config.from_run(RunContext.of(store, data, profile, **settings))
    if panel is not None:
        config = replace(config, judges=panel.identity(profile), panel=panel)
    return spec.stage(config, profile)


FAST_RETRIEVAL = {"k1": 12, "k2": 5, "k3": 2, "ssim_size": 64}   # the session fixtures' retrieval sizes


def distil(data: Path, store: Store, profile: Profile, **settings) -> Published:
    """The distill flow's work without Prefect: ingest, every stage of tasks.dag in order (only what is
    missing runs), then the release of the manifest. `settings`: DistillConfig fields."""
    ingest_into_store(data, store, shard_size=64)
    run = RunContext.of(store, data, profile, **{**FAST_RETRIEVAL, **settings})
    for spec in DISTILL[1:]:
        run_inline(store, spec.build(run), spec.shards(run))
    return publish_manifest(store, run.settings.new_major)
