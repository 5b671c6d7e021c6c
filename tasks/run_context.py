"""What one distill run's stage configs are built from: its settings, its store, its data and its models.

Stage configs are built from a RunContext one stage at a time, just before the stage runs, because
some are made of what earlier stages wrote: the reference pool (quality + embeddings) is read once,
when retrieval's config needs its fingerprint, and the judges reuse it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from models.pipeline.profiles import Profile, load_profile
from storage.stage import handle_field, speed_field
from storage.store import Store
from tasks.curation.releases import major_for
from tasks.distill_config import DistillConfig
from storage.reviews import reference_decisions
from tasks.retrieval.pool import Pool, load_pool


@dataclass
class RunContext:
    settings: DistillConfig
    store: Store
    data_root: Path
    profile: Profile
    notes: list[str] = field(default_factory=list)   # what building a config found out, for the run's log
    _pool: Pool | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: DistillConfig) -> RunContext:
        return cls(settings, Store(settings.store), Path(settings.data_root).expanduser().resolve(),
                   load_profile(settings.profile, settings.models_dir))

    @classmethod
    def of(cls, store: Store, data_root: Path, profile: Profile, **settings) -> RunContext:
        """A run over an existing store with a profile already loaded (tests, benchmarks, tools)."""
        config = DistillConfig(data_root=str(data_root), store=str(store.root), profile=profile.name,
                               models_dir=str(profile.models_dir), **settings)
        return cls(config, store, Path(data_root), profile)

    def shards(self) -> list[str]:
        """The sample shards of the store: the shards every per-shard stage runs over."""
        return self.store.current_shards("samples")

    def release_major(self) -> int:
        """The RainRAG major version this run's release belongs to (tasks.curation.releases)."""
        return major_for(self.store, self.settings.new_major)

    def review_decisions(self) -> dict[str, str]:
        """The reference decisions in force (storage.reviews), or none with review=off."""
        return {} if self.settings.review == "off" else reference_decisions(self.store)

    def pool(self) -> Pool:
        """The reference pool as quality, embeddings and the review now are (read once per run; `forget_pool`
        reads it again)."""
        if self._pool is None:
            decisions = self.review_decisions()
            self._pool = load_pool(self.store, self.shards(), self.settings.review, decisions)
            self.notes.append(f"reference pool: {len(self._pool)} real rainy images (review={self.settings.review}, "
                              f"{sum(d == 'accepted' for d in decisions.values())} accepted, "
                              f"{sum(d == 'rejected' for d in decisions.values())} rejected in review)")
        return self._pool

    def forget_pool(self) -> None:
        self._pool = None


@dataclass(frozen=True)
class ModelsConfig:
    """The config of a stage whose output is decided by its models alone (caption, embed): their identity
    is fingerprinted; the batch size, the loaded profile and the data root are not."""
    ROLES: ClassVar[tuple[str, ...]] = ()
    BATCH_ROLE: ClassVar[str] = ""     # the role whose batch size sets the image chunks

    models: dict
    batch_size: int = speed_field()
    profile: Profile = handle_field()
    data_root: Path = handle_field()

    @classmethod
    def from_run(cls, run: RunContext) -> ModelsConfig:
        return cls(run.profile.identity(*cls.ROLES), run.profile.roles[cls.BATCH_ROLE].batch_size, run.profile,
                   run.data_root)
