"""The one generic Prefect runner: a stage over its shards, one task run per shard, never per image.

Shards whose fingerprint the ledger records as done are not even submitted, so a rerun after a crash
or after adding a dataset only creates task runs for the missing work.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from storage.catalog import query_cached
from storage.ledger import LedgerRecord
from storage.stage import ShardPlan, Stage, plan, run_shard
from storage.store import Store
from tasks.engine import LOCAL, Engine


# A stage's progress bar moves at most this often (and at its end): each move is an API call, and on a
# small machine the server's share of the CPU comes out of the shards' compute.
PROGRESS_EVERY_S = 2.0


@task(name="run-shard", task_run_name="{stage.name}/{item.shard}", cache_policy=NO_CACHE, retries=1,
      retry_delay_seconds=2)
def run_shard_task(store: Store, stage: Stage, item: ShardPlan) -> LedgerRecord:
    """Compute one shard of one stage and record it in the ledger."""
    return run_shard(store, stage, item)


@dataclass
class StageReport:
    stage: str
    skipped: int = 0
    done: list[LedgerRecord] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # shard -> error

    def rows(self, table: str) -> int:
        return sum(r.rows.get(table, 0) for r in self.done)


class Progress:
    """A stage's report, its log lines and its progress bar, moved as shards finish on any engine."""

    def __init__(self, report: StageReport, total: int):
        self.report, self.total, self.finished, self.shown = report, total, 0, None
        self.logger = get_run_logger()
        self.bar = attach(create_progress_artifact, progress=0.0, description=f"{report.stage}: shards done")

    def done(self, record: LedgerRecord) -> None:
        self.report.done.append(record)
        self._moved()

    def failed(self, shard: str, error: str) -> None:
        self.report.failed[shard] = error
        self.logger.error("%s/%s failed: %s", self.report.stage, shard, error.strip().splitlines()[-1])
        self._moved()

    def _moved(self) -> None:
        self.finished += 1
        # the first finished shard moves the bar at once, later ones at most every PROGRESS_EVERY_S
        if self.finished < self.total and (self.shown is None or time.monotonic() - self.shown >= PROGRESS_EVERY_S):
            attach(_update_progress, artifact=self.bar, progress=100.0 * self.finished / self.total)
            self.shown = time.monotonic()

    def close(self) -> None:
        """Also when the stage ends in an exception or is cancelled: the bar shows what was done."""
        report = self.report
        failed = f", {len(report.failed)} failed" if report.failed else ""
        stopped = "" if self.finished == self.total else f", stopped after {self.finished} of {self.total}"
        attach(_update_progress, artifact=self.bar, progress=100.0 * self.finished / self.total,
               description=f"{report.stage}: {len(report.done)} of {self.total} shards done{failed}{stopped}")
        self.logger.info("%s: %d shards computed, %d failed", report.stage, len(report.done), len(report.failed))


def run_stage(store: Store, stage: Stage, shards: list[str], repair: bool = False,
              engine: Engine = LOCAL) -> StageReport:
    """Run `stage` over `shards` on `engine`, skipping what the ledger has done.

    With `repair`, the stage's repair mode instead (storage.stage.Repair): only the done shards whose
    outputs hold something to redo run, e.g. the judge calls that failed."""
    logger = get_run_logger()
    stage = engine.prepare(stage)
    pending, done = plan(store, stage, shards, repair)
    name = f"{stage.name} (repair)" if repair else stage.name
    report = StageReport(stage=name, skipped=len(done))
    if repair:
        logger.info("%s: %d of %d shards have something to repair", name, len(pending), len(shards))
    else:
        logger.info("%s: %d shards, %d already done, %d to run", name, len(shards), len(done), len(pending))
    if not pending:
        return report
    progress = Progress(report, len(pending))
    try:
        if engine.kind == "ray":
            run_stage_on_ray(store, stage, pending, engine, progress)
        else:
            _run_local(store, stage, pending, progress)
    finally:
        progress.close()
    return report


def _run_local(store: Store, stage: Stage, pending: list[ShardPlan], progress: Progress) -> None:
    """One task run per shard on the flow's task runner."""
    futures = {run_shard_task.submit(store, stage, item): item for item in pending}
    for future in as_completed(list(futures)):
        item = futures[future]
        future.wait()
        if future.state.is_completed():
            progress.done(future.result())
        else:
            record = store.ledger.get(stage.name, item.shard, item.fingerprint)
            progress.failed(item.shard, record.error if record and record.error else str(future.state.message))


@task(name="run-stage-on-ray", task_run_name="{stage.name} on ray", cache_policy=NO_CACHE)
def run_stage_on_ray(store: Store, stage: Stage, pending: list[ShardPlan], engine: Engine,
                     progress: Progress) -> None:
    """Every pending shard of the stage on the Ray cluster, in one task run (models load once per actor)."""
    from tasks.ray_engine import connect, run_on_ray   # Ray is imported only by runs that use it

    connect(engine.address)

    def record(outcome) -> None:
        if outcome.error is None:
            progress.done(outcome.record)
        else:
            progress.failed(outcome.item.shard, outcome.error)

    def lost(item: ShardPlan, why: str) -> None:
        get_run_logger().warning("%s/%s: its Ray worker died (%s); retried on another worker", stage.name,
                                 item.shard, why)

    run_on_ray(store, stage, pending, engine.data_root, record, lost)


def query_artifact(store: Store, key: str, sql: str, description: str) -> list[dict]:
    """Rows of `sql` on the store's catalog (cached while the parts it reads are unchanged), also attached
    to the flow run as a table (when there are any)."""
    rows = query_cached(store, sql)
    if rows:
        attach(create_table_artifact, key=key, table=rows, description=description)
    return rows


_PENDING: ContextVar[list[Future] | None] = ContextVar("rainrag_pending_artifacts", default=None)
_SENDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rainrag-artifacts")


def attach(create: Callable[..., Any], **kwargs: Any) -> Any:
    """Attach an artifact to the current run (`create(**kwargs)`): at once, returning what `create`
    returns, or inside `artifacts_in_background` from the sender thread, returning a Future of it."""
    pending = _PENDING.get()
    if pending is None:
        return create(**kwargs)
    future = _SENDER.submit(copy_context().run, create, **kwargs)
    pending.append(future)
    return future


def _update_progress(artifact: Any, progress: float, description: str | None = None) -> None:
    """`update_progress_artifact` for an artifact id, or for the Future of one that `attach` returned
    (already resolved: the sender is one thread, first in first out)."""
    update_progress_artifact(artifact.result() if isinstance(artifact, Future) else artifact, progress=progress,
                             description=description)


@contextmanager
def artifacts_in_background() -> Iterator[None]:
    """Send the enclosed code's artifacts from a thread of their own, in order, and wait for all of them.

    Each artifact is an API round trip (20-60 ms to a local server): a first run sends about forty
    (progress bars included) and a rerun with nothing new seven, and would otherwise wait for each. One
    that fails is logged as a warning: artifacts describe a run, they never decide its outcome.
    """
    pending: list[Future] = []
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
        for future in pending:
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 — see the docstring
                get_run_logger().warning("an artifact could not be attached: %s", exc)
