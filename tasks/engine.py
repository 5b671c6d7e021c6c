"""Which engine runs a stage's shards, and the errors an engine reports before any shard runs.

`local` is the flow's task runner in this process (tasks.runner: one Prefect task run per shard);
`ray` is a pool of actors on a Ray cluster (tasks.ray_engine: one Prefect task run per stage). Both run
the same `run_shard` and write the same parts and ledger records, so a run may change engines between
attempts. This module imports neither Prefect nor Ray.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from storage.stage import Stage

ENGINES = ("local", "ray")


class ClusterUnreachable(RuntimeError):
    """No Ray cluster at the address given."""


class NodeCannotSee(RuntimeError):
    """A node of the cluster does not see the store or the data root."""


class NoRoomForStage(RuntimeError):
    """No node of the cluster has the resources one worker of a stage needs."""


@dataclass(frozen=True)
class Engine:
    kind: str = "local"
    address: str = "auto"                  # the Ray cluster: auto, or host:port of its head
    data_root: Path | None = None          # what every Ray node must see, with the store
    gpus_per_worker: float | None = None   # overrides the GPUs of the stages that hold models (Ray only)

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ValueError(f"engine {self.kind!r}: expected one of {', '.join(ENGINES)}")

    def prepare(self, stage: Stage) -> Stage:
        """The stage with this engine's override of its GPUs per worker."""
        if self.gpus_per_worker is None or not stage.resources.holds_models:
            return stage
        return replace(stage, resources=replace(stage.resources, gpus=self.gpus_per_worker))


LOCAL = Engine()
