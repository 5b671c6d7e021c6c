"""One benchmark job: one restorer on one test set → saved PNGs → scores → its part of `results`.

    <store>/benchmark/testsets/<test set>/{input,gt}/<sample_id>.*      the set, laid out by stem
    <store>/benchmark/predictions/<restorer>/<test set>/<sample_id>.png the restored 8-bit PNGs
    <store>/benchmark/predictions/<restorer>/<test set>/scores.json     per-image values, every protocol
    <store>/results/shard=<restorer>+<test set>/part-<fingerprint>.parquet

A job is one shard of the `benchmark` stage (storage.stage: the same run_shard contract and ledger as
every distill stage, so a failed job is a failed ledger record and the others go on). It is resumable
at two grains. Its results part is recorded in the ledger under a fingerprint of the checkpoint's bytes,
the test set's pairs and files, the protocols and the inference settings: a rerun whose fingerprint is
done restores and scores nothing. Within a job, restored images are written
atomically one by one into a folder named by the checkpoint and inference settings, so a killed run
restores only the images it had not saved yet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

from evaluation.folders import FolderScore, images_by_stem, score_folders, write_scores_json
from evaluation.inference import Restorer, restore
from evaluation.lpips import Lpips
from evaluation.test_sets import TestSet, materialize
from storage.fingerprint import fingerprint
from storage.images import load_rgb8, save_png
from storage.schemas import RESULTS
from storage.stage import Resources, Stage, handle_field, run_inline
from storage.store import Store

STAGE = "benchmark"
TABLE = "results"
VERSION = "2"  # bump when a change here changes the numbers (2: full-depth reads, grey as grey, finite means)


@dataclass(frozen=True)
class Inference:
    tile: int = 1024     # largest side restored in one pass; larger images go in tiles
    overlap: int = 64    # pixels shared by neighbouring tiles


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def restorer_key(restorer: Restorer, inference: Inference) -> str:
    """Folder name of a restorer's predictions: what it is and everything that changes its outputs."""
    if restorer.is_identity:
        return restorer.model
    return f"{_safe(restorer.model)}-{fingerprint([restorer.fingerprint, inference.tile, inference.overlap])}"


def shard_key(restorer: Restorer, test_set: TestSet, inference: Inference) -> str:
    return f"{restorer_key(restorer, inference)}+{_safe(test_set.key)}"


def testset_folder(store: Store, test_set: TestSet) -> Path:
    return store.root / "benchmark" / "testsets" / _safe(test_set.key)


def predictions_folder(store: Store, restorer: Restorer, test_set: TestSet, inference: Inference) -> Path:
    return store.root / "benchmark" / "predictions" / restorer_key(restorer, inference) / _safe(test_set.key)


def predict_folder(restorer: Restorer, inputs: Path, out: Path, inference: Inference,
                   on_image: Callable[[int, int], None] | None = None) -> int:
    """Restore every image of `inputs` not yet in `out` into `out/<stem>.png`; returns how many were restored.

    Saved images of stems no longer in `inputs` (a test set that lost a pair) are removed first.
    """
    out.mkdir(parents=True, exist_ok=True)
    wanted = images_by_stem(inputs)
    for stem, path in images_by_stem(out).items():
        if stem not in wanted:
            path.unlink()
    todo = [(stem, path) for stem, path in wanted.items() if not (out / f"{stem}.png").exists()]
    for index, (stem, path) in enumerate(todo, start=1):
        restored = restore(restorer, load_rgb8(path), inference.tile, inference.overlap)
        save_png(restored, out / f"{stem}.png")
        if on_image is not None:
            on_image(index, len(todo))
    return len(todo)


def results_rows(restorer: Restorer, test_set: TestSet, scores: dict[str, FolderScore], predictions: Path) -> pa.Table:
    """The job's `results` rows, one per protocol."""
    rows = [{"checkpoint": restorer.checkpoint, "model": restorer.model, "label": restorer.label,
             "step": restorer.step, "test_set": test_set.name, "subset": test_set.subset, "source": test_set.source,
             "protocol": name, "psnr": score.mean("psnr"), "ssim": score.mean("ssim"), "lpips": score.mean("lpips"),
             "n": score.n, "identical": score.identical, "predictions": str(predictions)}
            for name, score in scores.items()]
    return pa.Table.from_pylist(rows, schema=RESULTS)


@dataclass(frozen=True)
class BenchmarkConfig:
    """The benchmark stage's config. Its shards are (restorer, test set) jobs, found among the handles by
    shard key; what each job restores and scores is in its input fingerprint (BenchmarkJobs)."""
    protocols: tuple[str, ...]
    lpips: bool
    inference: Inference = Inference()
    restorers: tuple[Restorer, ...] = handle_field(default=())
    test_sets: tuple[TestSet, ...] = handle_field(default=())
    scorer: Lpips | None = handle_field(default=None)
    on_image: Callable[[str, int, int], None] | None = handle_field(default=None)   # (shard, done, total)

    def jobs(self) -> dict[str, tuple[Restorer, TestSet]]:
        """shard key -> (restorer, test set), restorers outer, in the order given."""
        return {shard_key(r, t, self.inference): (r, t) for r in self.restorers for t in self.test_sets}


@dataclass(frozen=True)
class Job:
    store: Store
    shard: str
    restorer: Restorer
    test_set: TestSet


class BenchmarkJobs:
    """A job's input: its restorer (identified by checkpoint bytes and inference settings) and its test
    set (identified by its pairs and their files)."""

    def read(self, store: Store, stage: Stage, shard: str) -> Job:
        return Job(store, shard, *stage.config.jobs()[shard])

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str:
        restorer, test_set = stage.config.jobs()[shard]
        return fingerprint({"restorer": restorer_key(restorer, stage.config.inference),
                            "test_set": test_set.fingerprint()})


def compute(job: Job, config: BenchmarkConfig) -> dict[str, pa.Table]:
    """Restore the job's test set (only the images not saved yet), score it under every protocol."""
    inputs, gts = materialize(job.test_set, testset_folder(job.store, job.test_set))
    predictions = predictions_folder(job.store, job.restorer, job.test_set, config.inference)
    on_image = (lambda done, total: config.on_image(job.shard, done, total)) if config.on_image else None
    predict_folder(job.restorer, inputs, predictions, config.inference, on_image)
    scores = score_folders(predictions, gts, list(config.protocols), config.scorer)
    write_scores_json(predictions / "scores.json", scores)
    return {TABLE: results_rows(job.restorer, job.test_set, scores, predictions)}


def benchmark_stage(config: BenchmarkConfig) -> Stage:
    return Stage(STAGE, VERSION, (), (TABLE,), config, compute, BenchmarkJobs(), resources=Resources(gpus=1))


def benchmark_config(protocols: list[str], inference: Inference, restorers: list[Restorer], test_sets: list[TestSet],
                     scorer: Lpips | None = None, on_image: Callable[[str, int, int], None] | None = None
                     ) -> BenchmarkConfig:
    return BenchmarkConfig(tuple(sorted(protocols)), scorer is not None, inference, tuple(restorers),
                           tuple(test_sets), scorer, on_image)


def run_job(store: Store, restorer: Restorer, test_set: TestSet, protocols: list[str], inference: Inference,
            lpips: Lpips | None = None) -> tuple[pa.Table, bool]:
    """(results rows, whether they were computed now) of `restorer` on `test_set`, in this thread; a job
    the ledger records as done is read back."""
    stage = benchmark_stage(benchmark_config(protocols, inference, [restorer], [test_set], lpips))
    shard = shard_key(restorer, test_set, inference)
    computed = run_inline(store, stage, [shard])
    return store.read_shard(TABLE, shard), bool(computed)
