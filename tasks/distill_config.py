"""The settings of the ingest and distill flows, their defaults and their documentation, in one place.

The flows' parameters (and so the Prefect UI's form and the deployments' `parameters:`), the command
line (`tasks.command_line`) and the manifest's provenance are all read from these models; a field added
here appears in each of them without being written anywhere else.

A field's kind (json_schema_extra "kind") says what it does to the result, like a stage config's
(storage.stage): "handle" fields say where things are and "speed" fields how fast it goes; neither is
provenance. Every other field can change RainRAG and is recorded in each manifest row's `config`.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage.images import DEFAULT_MAX_PIXELS
from storage.stage import HANDLE, OUTPUT, SPEED
from tasks.curation.duplicates import MAX_PHASH_DISTANCE, MIN_CORRELATION
from tasks.curation.split import TEST_PER_SUBSET
from tasks.judging.decision import MIN_YES, check_min_yes
from tasks.retrieval.pool import POOL_THRESHOLD

HANDLE_FIELD = {"kind": HANDLE}
SPEED_FIELD = {"kind": SPEED}


class IngestConfig(BaseModel):
    """Which datasets, from where, into which store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_root: str = Field(description="folder holding one folder per dataset", json_schema_extra=HANDLE_FIELD)
    store: str = Field(description="table store folder (created if missing)", json_schema_extra=HANDLE_FIELD)
    layouts: list[str] | None = Field(None, description="YAML files of extra or corrected dataset layouts",
                                      json_schema_extra={"cli": {"action": "append", "metavar": "FILE"}})
    datasets: list[str] | None = Field(None, description="only these datasets (default: all found)",
                                       json_schema_extra={"cli": {"nargs": "*"}})
    shard_size: int = Field(2048, ge=1, description="candidate pairs per shard (the unit of work and of retry)",
                            json_schema_extra=SPEED_FIELD)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1,
                            description="refuse to decode larger images (decompression-bomb guard)")
    engine: Literal["local", "ray"] = Field("local", description="where shards run: local (this process's "
                                                                  "threads) or ray (a Ray cluster's actors)",
                                            json_schema_extra=SPEED_FIELD)
    ray_address: str = Field("auto", description="the Ray cluster for engine=ray: auto (the one this machine "
                                                 "belongs to) or host:port of its head",
                             json_schema_extra=HANDLE_FIELD)
    ray_gpus_per_worker: float | None = Field(None, ge=0, description="GPUs per Ray worker of each stage that "
                                                                      "holds models (default: 1 where the "
                                                                      "profile's model wants a GPU, else 0)",
                                              json_schema_extra=SPEED_FIELD)


class DistillConfig(IngestConfig):
    """Everything one distill run is given: ingest's settings, the models and the selection rules."""

    profile: str = Field("offline", description="paper | offline | tiny, or a profile YAML file")
    models_dir: str | None = Field(None, description="local models folder (default: the profile's, or "
                                                     "$RAINRAG_MODELS)", json_schema_extra=HANDLE_FIELD)
    pool_threshold: float = Field(POOL_THRESHOLD, description="minimum quality of a real rainy image to enter "
                                                              "the reference pool")
    review: Literal["off", "use", "require"] = Field(
        "use", description="the review app's reference decisions: off (ignored), use (rejected references "
                           "leave the pool), require (only accepted references form it)")
    review_url: str = Field("http://127.0.0.1:8765/references", description="where reviewers decide (python -m "
                                                                           "review serve): the link a paused "
                                                                           "run shows", json_schema_extra=HANDLE_FIELD)
    review_wait_s: int = Field(3600, ge=0, description="with review=require and no accepted reference: how long "
                                                        "the run waits, paused, for reviewers (0: fail at once)",
                               json_schema_extra=HANDLE_FIELD)
    k1: int = Field(100, ge=1, description="text-level survivors per query [ours]")
    k2: int = Field(20, ge=1, description="image-level survivors per query [ours]")
    k3: int = Field(3, ge=1, description="references retrieved per query, by SSIM [ours]")
    ssim_size: int = Field(256, ge=8, description="side of the grayscale images SSIM compares [ours]")
    min_yes: int = Field(MIN_YES, description="yes votes (of the 3 judges) a pair needs to be kept [paper]")
    test_per_subset: int = Field(TEST_PER_SUBSET, ge=0, description="test pairs per subset of RainRAG's own "
                                                                     "split (at most a fifth of a subset) [paper]")
    judge_public_test: bool = Field(False, description="also judge the samples of public test splits (never kept: "
                                                       "for an audit of the judges; by default they are not "
                                                       "sent, saving those calls)")
    judge_duplicates: bool = Field(False, description="also judge the pairs that are copies of another pair "
                                                      "(never kept: for an audit of the judges)")
    dedup_min_correlation: float = Field(MIN_CORRELATION, ge=-1, le=1,
                                         description="rain-signature correlation from which two pairs are "
                                                     "near copies (with both hashes close) [ours]")
    dedup_max_phash_distance: int = Field(MAX_PHASH_DISTANCE, ge=0, le=64,
                                          description="perceptual-hash bits two near copies' rainy images, and "
                                                      "their clean images, may differ by [ours]")
    new_major: bool = Field(False, description="cut a new major RainRAG version with a fresh train/test split "
                                               "(needed when the data would move released pairs between "
                                               "splits); recorded as the version, not in the provenance",
                            json_schema_extra=HANDLE_FIELD)
    retry_judge_errors: bool = Field(False, description="re-ask the judge calls that failed in earlier runs "
                                                        "(every other vote is kept)")

    @field_validator("min_yes")
    @classmethod
    def _reachable(cls, value: int) -> int:
        return check_min_yes(value)

    def provenance(self) -> dict[str, Any]:
        """The fields that can change RainRAG (not paths, not speed): what each manifest row records."""
        return {name: value for name, value in self.model_dump(mode="json").items()
                if field_kind(type(self), name) == OUTPUT}


def field_kind(model: type[BaseModel], name: str) -> str:
    extra = model.model_fields[name].json_schema_extra
    return extra.get("kind", OUTPUT) if isinstance(extra, dict) else OUTPUT
