"""The distill DAG as data: every stage in order, with its inputs, outputs, config and resources.

Every engine reads this list: the distill flow (flows/distill.py) loops over it with the local or the
Ray engine, benchmarks/distill_flow.py runs it on one thread without Prefect, and the README's DAG
table is checked against it (tests/distill/test_dag.py). A stage's config is built from the run (tasks.run_context) just before it
runs; its resources say what one worker of it needs, with GPUs only where the profile gives the stage a
model that wants one (models.pipeline.registry.wants_gpu).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from models.pipeline.profiles import Profile
from models.pipeline.registry import wants_gpu
from storage.images import DEFAULT_MAX_PIXELS
from storage.sources.registry import load_registry, locate
from storage.stage import GLOBAL_SHARD, AllShards, Compute, Inputs, Repair, Resources, ShardTables, Stage, run_inline
from storage.store import Store
from tasks import audit, caption, embed, ingest, judge, manifest, quality, retrieve
from tasks.curation import duplicates, evidence
from tasks.run_context import RunContext


@dataclass(frozen=True)
class StageSpec:
    """One entry of the DAG. `roles`: the profile roles whose models a worker of the stage loads."""
    name: str
    summary: str
    version: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: Any                          # the config class; `config.from_run(run)` builds its value
    compute: Compute
    resources: Resources
    roles: tuple[str, ...] = ()
    reader: Inputs = ShardTables()
    repair: Repair | None = None
    scope: str = "shard"                 # "shard": one run per sample shard; "global": the one shard "all"

    def stage(self, config: Any, profile: Profile | None = None) -> Stage:
        """The Stage with `config`. The declared GPUs and memory are for neural models: with a profile
        whose models for this stage want no GPU (the offline ones), it asks for no GPU and LIGHT_MEMORY_GB."""
        resources = self.resources
        if profile is not None and not any(wants_gpu(profile.roles[role]) for role in self.roles):
            resources = replace(resources, gpus=0, memory_gb=min(resources.memory_gb, LIGHT_MEMORY_GB))
        if self.roles and profile is not None:
            resources = replace(resources, batch_size=min(profile.roles[r].batch_size for r in self.roles))
        return Stage(self.name, self.version, self.inputs, self.outputs, config, self.compute,
                     self.reader, self.repair, resources)

    def build(self, run: RunContext) -> Stage:
        return self.stage(self.config.from_run(run), run.profile)

    def shards(self, run: RunContext) -> list[str]:
        return [GLOBAL_SHARD] if self.scope == "global" else run.shards()


LIGHT_MEMORY_GB = 2   # a worker of a stage without neural models

INGEST = StageSpec(
    "ingest", "read, hash and validate every candidate pair (discovery pairs the files first)", ingest.VERSION,
    ("candidates",), ("samples", "rejects"), ingest.IngestStageConfig, ingest.compute,
    Resources(cpus=1, memory_gb=2), reader=ingest.StagedCandidates())

DISTILL: tuple[StageSpec, ...] = (
    INGEST,
    StageSpec("quality", "NR-IQA of every rainy and clean image; real rainy ones above the threshold form the "
              "reference pool", quality.VERSION, ("samples",), ("quality",), quality.QualityConfig, quality.compute,
              Resources(cpus=1, gpus=1, memory_gb=2, holds_models=True), roles=("quality",)),
    StageSpec("caption", "caption, expanded caption and keywords of every rainy image", caption.VERSION,
              ("samples",), ("captions",), caption.CaptionConfig, caption.compute,
              Resources(cpus=1, gpus=1, memory_gb=24, holds_models=True), roles=caption.ROLES),
    StageSpec("embed", "description, keyword and image vectors", embed.VERSION, ("samples", "captions"),
              ("embeddings",), embed.EmbedConfig, embed.compute,
              Resources(cpus=1, gpus=1, memory_gb=4, holds_models=True), roles=embed.ROLES),
    StageSpec("inspect", "perceptual hashes, rain signature, pair alignment, day/night and streak/drop measurements",
              evidence.VERSION, ("samples",), ("inspections",), evidence.InspectConfig, evidence.compute,
              Resources(cpus=1, memory_gb=1)),
    StageSpec("dedup", "exact and near copies of pairs across all datasets; one member of each group stays",
              duplicates.VERSION, ("samples", "inspections"), ("duplicates",), duplicates.DedupConfig,
              duplicates.compute, Resources(cpus=1, memory_gb=4), reader=AllShards(), scope="global"),
    StageSpec("retrieve", "text L2 top-K1 → image cosine top-K2 → SSIM top-K3 references from the pool",
              retrieve.VERSION, ("samples", "embeddings"), ("retrievals",), retrieve.RetrievalConfig,
              retrieve.compute, Resources(cpus=1, memory_gb=4)),
    StageSpec("judge", "three judges vote yes/no on each pair with its references (copies and public test "
              "images are not asked)", judge.VERSION, ("samples", "retrievals", "duplicates"), ("votes",),
              judge.JudgeConfig, judge.compute, Resources(cpus=1, gpus=1, memory_gb=32, holds_models=True),
              roles=judge.JUDGE_ROLES, reader=duplicates.ShardTablesAndDuplicates(), repair=judge.REPAIR),
    StageSpec("manifest", "kept pairs (≥ min_yes yes votes), their subset and RainRAG's train/test split; the "
              "decision on every candidate", manifest.VERSION,
              ("samples", "rejects", "quality", "retrievals", "votes", "inspections", "duplicates"),
              ("manifest", "decisions"), manifest.ManifestConfig, manifest.compute, Resources(cpus=1, memory_gb=4),
              reader=AllShards(whole=("duplicates",)),
              scope="global"),
    StageSpec("audit", "funnel per dataset, near duplicates of public test images, misaligned pairs",
              audit.VERSION, ("samples", "quality", "votes", "inspections", "manifest"), ("audit",),
              audit.AuditConfig, audit.compute, Resources(cpus=1, memory_gb=4), reader=AllShards(whole=("manifest",)),
              scope="global"),
)
BY_NAME = {spec.name: spec for spec in DISTILL}


def describe() -> str:
    """The DAG, one stage a line: what `--help` and the README show."""
    return "\n".join(f"  {s.name:<9} {', '.join(s.inputs)} -> {', '.join(s.outputs)}: {s.summary}" for s in DISTILL)


def ingest_stage(config: ingest.IngestStageConfig) -> Stage:
    return INGEST.stage(config)


def ingest_into_store(data_root: Path, store: Store, shard_size: int = 2048) -> list[str]:
    """Discovery and the ingest stage in this process, without Prefect; returns the sample shards."""
    staging = store.staging("ingest")
    staging.mkdir(parents=True, exist_ok=True)
    located, _ = locate(Path(data_root), load_registry())
    shards = [key for item in located for key in ingest.plan_dataset(item, Path(data_root), staging, shard_size)[0]]
    run_inline(store, ingest_stage(ingest.IngestStageConfig(DEFAULT_MAX_PIXELS, Path(data_root), staging)), shards)
    return shards
