"""One benchmark job: one restorer on one test set → saved PNGs → scores → its part of `results`.

    <store>/benchmark/testsets/<test set>/{input,gt}/<sample_id>.*      the set, laid out by stem
    <store>/benchmark/predictions/<restorer>/<test set>/<sample_id>.png the restored 8-bit PNGs
    <store>/benchmark/predictions/<restorer>/<test set>/scores.json     per-image values, every protocol
    <store>/results/shard=<restorer>+<test set>/part-<fingerprint>.parquet

A job is resumable at two grains. Its results part is recorded in the ledger under a fingerprint of
the checkpoint's bytes, the test set's pairs and files, the protocols and the inference settings: a
rerun whose fingerprint is done restores and scores nothing. Within a job, restored images are written
atomically one by one into a folder named by the checkpoint and inference settings, so a killed run
restores only the images it had not saved yet.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from evaluation.folders import FolderScore, images_by_stem, score_folders, write_scores_json
from evaluation.inference import Restorer, restore
from evaluation.lpips import Lpips
from evaluation.test_sets import TestSet, materialize
from storage.images import save_png
from storage.fingerprint import fingerprint
from storage.images import load_rgb8
from storage.ledger import LedgerRecord
from storage.schemas import RESULTS
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


def job_fingerprint(restorer: Restorer, test_set: TestSet, protocols: list[str], lpips: bool,
                    inference: Inference) -> str:
    return fingerprint({"version": VERSION, "restorer": restorer_key(restorer, inference),
                        "test_set": test_set.fingerprint(), "protocols": sorted(protocols), "lpips": lpips})


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


def done_results(store: Store, shard: str, job_fp: str) -> pa.Table | None:
    """The job's rows if the ledger records this exact job as done, else None."""
    if not store.ledger.is_done(STAGE, shard, job_fp):
        return None
    record = store.ledger.get(STAGE, shard, job_fp)
    path = store.root / record.outputs[TABLE]
    return pq.read_table(path) if path.exists() else None


def run_job(store: Store, restorer: Restorer, test_set: TestSet, protocols: list[str], inference: Inference,
            lpips: Lpips | None = None, on_image: Callable[[int, int], None] | None = None) -> tuple[pa.Table, bool]:
    """(results rows, whether they were computed now) of `restorer` on `test_set`; done jobs are read back."""
    shard = shard_key(restorer, test_set, inference)
    job_fp = job_fingerprint(restorer, test_set, protocols, lpips is not None, inference)
    done = done_results(store, shard, job_fp)
    if done is not None:
        return done, False
    started = time.time()
    inputs, gts = materialize(test_set, testset_folder(store, test_set))
    predictions = predictions_folder(store, restorer, test_set, inference)
    predict_folder(restorer, inputs, predictions, inference, on_image)
    scores = score_folders(predictions, gts, protocols, lpips)
    write_scores_json(predictions / "scores.json", scores)
    table = results_rows(restorer, test_set, scores, predictions)
    path = store.write_part(TABLE, shard, job_fp, table)
    store.ledger.write(LedgerRecord(stage=STAGE, shard=shard, fingerprint=job_fp, status="done", started=started,
                                    finished=time.time(), rows={TABLE: table.num_rows},
                                    outputs={TABLE: path.relative_to(store.root).as_posix()}))
    return table, True
