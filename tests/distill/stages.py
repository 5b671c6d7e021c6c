"""The DAG's stages over a test's store, built the way the distill flow builds them (tasks.dag)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from models.pipeline.profiles import Profile
from storage.stage import Stage
from storage.store import Store
from tasks.dag import BY_NAME
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
