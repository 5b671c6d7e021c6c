"""A stage: a plain function over one shard, plus what the ledger needs to skip it.

`run_shard` is the whole contract between a stage and the store; it is engine-agnostic, so the same
call runs in-process, inside a Prefect task (tasks.runner) or in a Ray actor.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa

from storage.fingerprint import fingerprint, stage_fingerprint
from storage.ledger import LedgerRecord
from storage.store import Store

ReadInput = Callable[[Store, str], Any]
InputFingerprint = Callable[[Store, str], str]
Compute = Callable[[Any], Mapping[str, pa.Table]]


@dataclass(frozen=True)
class Stage:
    """One stage of the DAG.

    `config` is everything that changes the output (thresholds, model ids and revisions) and is
    part of every shard's fingerprint; `version` is bumped by hand when the stage's code changes its
    output. `compute` takes what `read_input` returned for a shard and returns one table per output.
    """

    name: str
    version: str
    outputs: tuple[str, ...]
    config: Mapping[str, Any]
    read_input: ReadInput
    input_fingerprint: InputFingerprint
    compute: Compute = field(repr=False)

    def shard_fingerprint(self, store: Store, shard: str) -> str:
        return stage_fingerprint(self.name, self.version, dict(self.config), self.input_fingerprint(store, shard))


@dataclass(frozen=True)
class ShardPlan:
    shard: str
    fingerprint: str


def plan(store: Store, stage: Stage, shards: Sequence[str]) -> tuple[list[ShardPlan], list[ShardPlan]]:
    """Split shards into (pending, done) by asking the ledger about each current fingerprint."""
    pending, done = [], []
    for shard in shards:
        item = ShardPlan(shard, stage.shard_fingerprint(store, shard))
        (done if store.ledger.is_done(stage.name, shard, item.fingerprint) else pending).append(item)
    return pending, done


def run_shard(store: Store, stage: Stage, item: ShardPlan) -> LedgerRecord:
    """Compute one shard, write its parts atomically and record it in the ledger.

    A failure is recorded (with the traceback) and re-raised so the engine can retry or report it.
    """
    started = time.time()
    try:
        tables = stage.compute(stage.read_input(store, item.shard))
        missing = set(stage.outputs) - set(tables)
        if missing:
            raise RuntimeError(f"stage {stage.name} returned no table for {sorted(missing)}")
        outputs, rows = {}, {}
        for table in stage.outputs:
            path = store.write_part(table, item.shard, item.fingerprint, tables[table])
            outputs[table] = path.relative_to(store.root).as_posix()
            rows[table] = tables[table].num_rows
    except Exception as exc:
        store.ledger.write(LedgerRecord(
            stage=stage.name, shard=item.shard, fingerprint=item.fingerprint, status="failed",
            started=started, finished=time.time(), error="".join(traceback.format_exception(exc)),
        ))
        raise
    record = LedgerRecord(
        stage=stage.name, shard=item.shard, fingerprint=item.fingerprint, status="done",
        started=started, finished=time.time(), rows=rows, outputs=outputs,
    )
    store.ledger.write(record)
    return record


def table_inputs(tables: Sequence[str]) -> tuple[ReadInput, InputFingerprint]:
    """`read_input`/`input_fingerprint` for a stage that reads shards of tables already in the store.

    The input fingerprint is made of the names of the current parts, which are themselves
    fingerprints of everything that produced them: no byte of the input needs to be re-read.
    """

    def read_input(store: Store, shard: str) -> dict[str, pa.Table]:
        return {table: store.read_shard(table, shard) for table in tables}

    def input_fingerprint(store: Store, shard: str) -> str:
        parts = [store.current_part(table, shard) for table in tables]
        return fingerprint([p.name if p else None for p in parts])

    return read_input, input_fingerprint


def table_stage(name: str, version: str, inputs: Sequence[str], outputs: Sequence[str],
                config: Mapping[str, Any], fn: Callable[[dict[str, pa.Table], Mapping[str, Any]], Mapping[str, pa.Table]]) -> Stage:
    """A stage that maps `fn(input_tables, config) -> output_tables` over the shards of its inputs."""
    read_input, input_fp = table_inputs(inputs)
    return Stage(name=name, version=version, outputs=tuple(outputs), config=dict(config),
                 read_input=read_input, input_fingerprint=input_fp,
                 compute=lambda tables: fn(tables, config))


def run_inline(store: Store, stage: Stage, shards: Sequence[str]) -> list[LedgerRecord]:
    """Every pending shard of `stage`, one after the other in this thread: the engine without an engine.

    Benchmarks and tests use it to measure or check a stage apart from any orchestration.
    """
    pending, _ = plan(store, stage, shards)
    return [run_shard(store, stage, item) for item in pending]
