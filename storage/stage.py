"""A stage: a plain function over one shard, plus what the ledger needs to skip it.

The contract is `compute(inputs, config) -> {output table: rows}`. `config` is one frozen object
(a dataclass, or a plain mapping in small tools and tests) and it is exactly what the shard's
fingerprint is made of, so what is computed and what is fingerprinted cannot drift apart. A config
field is one of three kinds:

- output (the default): it changes what the stage writes (a threshold, a model's identity);
- speed (`speed_field`): it changes only how fast (batch sizes) — not fingerprinted;
- handle (`handle_field`): where something is, or an object another field identifies (the data root,
  the profile whose models' identity is the field `models`, the pool whose fingerprint is `pool`) —
  not fingerprinted either, because what it points to is already in the fingerprint.

`run_shard` is the whole contract between a stage and the store; it is engine-agnostic, so the same
call runs in-process, inside a Prefect task (tasks.runner) or in a Ray actor.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import pyarrow as pa

from storage.fingerprint import fingerprint, stage_fingerprint
from storage.ledger import LedgerRecord
from storage.store import Store

Compute = Callable[[Any, Any], Mapping[str, pa.Table]]
GLOBAL_SHARD = "all"   # the one shard of a global step (manifest, audit)
OUTPUT, SPEED, HANDLE = "output", "speed", "handle"


def speed_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A config field that changes only how fast a stage runs: not part of the fingerprint."""
    return dataclasses.field(default=default, metadata={"kind": SPEED}, **kwargs)


def handle_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A config field that says where things are (or holds an object another field identifies)."""
    return dataclasses.field(default=default, metadata={"kind": HANDLE}, repr=False, compare=False, **kwargs)


def field_kinds(config: Any) -> dict[str, str]:
    """field name -> OUTPUT | SPEED | HANDLE of a config (every key of a plain mapping is OUTPUT)."""
    if dataclasses.is_dataclass(config):
        return {f.name: f.metadata.get("kind", OUTPUT) for f in dataclasses.fields(config)}
    return {key: OUTPUT for key in config}


def fingerprinted(config: Any) -> dict[str, Any]:
    """The output fields of a config, as JSON-able values: what a shard's fingerprint is made of."""
    values = config if isinstance(config, Mapping) else {f: getattr(config, f) for f in field_kinds(config)}
    return {name: _plain(values[name]) for name, kind in field_kinds(config).items() if kind == OUTPUT}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


class Inputs(Protocol):
    """How a stage's inputs are read for one shard, and fingerprinted without reading them."""

    def read(self, store: Store, stage: Stage, shard: str) -> Any: ...

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str: ...


@dataclass(frozen=True)
class ShardTables:
    """The shard's current part of each input table (the default). The fingerprint is made of the parts'
    names, themselves fingerprints of everything that produced them: no byte is re-read to plan."""

    def read(self, store: Store, stage: Stage, shard: str) -> dict[str, pa.Table]:
        return {table: store.read_shard(table, shard) for table in stage.inputs}

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str:
        parts = [store.current_part(table, shard) for table in stage.inputs]
        return fingerprint([p.name if p else None for p in parts])


@dataclass(frozen=True)
class Parts:
    """The input of a global step: the current part files of each input table, over every shard that
    holds a current part of the first input table (the DAG's `samples`)."""
    store: Store
    files: Mapping[str, list[Path]]


@dataclass(frozen=True)
class AllShards:
    """Inputs of a global step (the shard GLOBAL_SHARD): every current part of each input table over the
    shards of the first one; tables in `whole` are themselves written by a global step (their one part)."""
    whole: tuple[str, ...] = ()

    def _shards(self, store: Store, stage: Stage) -> dict[str, list[str]]:
        shards = store.current_shards(stage.inputs[0])
        return {table: [GLOBAL_SHARD] if table in self.whole else shards for table in stage.inputs}

    def read(self, store: Store, stage: Stage, shard: str) -> Parts:
        return Parts(store, {table: current_parts(store, table, keys) for table, keys in self._shards(store, stage).items()})

    def fingerprint(self, store: Store, stage: Stage, shard: str) -> str:
        return fingerprint({table: part_versions(store, table, keys)
                            for table, keys in self._shards(store, stage).items()})


def current_parts(store: Store, table: str, shards: Sequence[str]) -> list[Path]:
    return [p for p in (store.current_part(table, s) for s in shards) if p is not None]


def part_versions(store: Store, table: str, shards: Sequence[str]) -> list[tuple[str, float]]:
    """(part name, when its ledger record was written) of each current part. The name alone would miss
    a part rewritten under the same key, as a repair (the judge's retry of failed calls) does."""
    versions = []
    for path in current_parts(store, table, shards):
        shard, key = path.parent.name.removeprefix("shard="), path.stem.removeprefix("part-")
        versions.append((path.name, max(r.finished for r in store.ledger.find(shard, key) if r.status == "done")))
    return versions


@dataclass(frozen=True)
class Repair:
    """A second mode of a stage: a done shard whose outputs hold something to redo (`needed(outputs)`)
    is recomputed by `compute(inputs, outputs, config)` under the same fingerprint, its part replaced."""
    needed: Callable[[Mapping[str, pa.Table]], bool]
    compute: Callable[[Any, Mapping[str, pa.Table], Any], Mapping[str, pa.Table]]


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs; engines size their workers from it, the README lists it."""
    cpus: float = 1
    gpus: float = 0
    memory_gb: float = 1
    batch_size: int | None = None     # images (or cases) per model call, where the stage has models
    holds_models: bool = False        # loads models once per worker: keep workers alive between shards


@dataclass(frozen=True)
class Stage:
    """One stage of the DAG: `compute(read inputs, config)` -> one table per output.

    `version` is bumped by hand when the stage's code changes its output.
    """

    name: str
    version: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: Any
    compute: Compute = dataclasses.field(repr=False)
    reader: Inputs = dataclasses.field(default=ShardTables(), repr=False)
    repair: Repair | None = dataclasses.field(default=None, repr=False)
    resources: Resources = Resources()

    def read_input(self, store: Store, shard: str) -> Any:
        return self.reader.read(store, self, shard)

    def input_fingerprint(self, store: Store, shard: str) -> str:
        return self.reader.fingerprint(store, self, shard)

    def shard_fingerprint(self, store: Store, shard: str) -> str:
        return stage_fingerprint(self.name, self.version, fingerprinted(self.config),
                                 self.input_fingerprint(store, shard))


@dataclass(frozen=True)
class ShardPlan:
    shard: str
    fingerprint: str
    repair: bool = False


def plan(store: Store, stage: Stage, shards: Sequence[str], repair: bool = False
         ) -> tuple[list[ShardPlan], list[ShardPlan]]:
    """Split shards into (pending, done) by asking the ledger about each current fingerprint.

    With `repair`, pending are the done shards whose outputs the stage's Repair says need it."""
    pending, done = [], []
    for shard in shards:
        item = ShardPlan(shard, stage.shard_fingerprint(store, shard), repair)
        record = store.ledger.get(stage.name, shard, item.fingerprint)
        # a done record whose part was since replaced (a setting changed, then changed back) is redone
        is_done = record is not None and record.status == "done" and \
            all((store.root / rel).exists() for rel in record.outputs.values())
        if repair:
            is_done = not (is_done and stage.repair is not None and stage.repair.needed(_outputs(store, stage, shard)))
        (done if is_done else pending).append(item)
    return pending, done


def _outputs(store: Store, stage: Stage, shard: str) -> dict[str, pa.Table]:
    return {table: store.read_shard(table, shard) for table in stage.outputs}


def run_shard(store: Store, stage: Stage, item: ShardPlan, worker: str | None = None) -> LedgerRecord:
    """Compute (or repair) one shard, write its parts atomically and record it in the ledger (with the
    `worker` that ran it: by default this host and process).

    A failure is recorded (with the traceback) and re-raised so the engine can retry or report it.
    """
    worker = worker or f"{socket.gethostname()}/{os.getpid()}"
    started = time.time()
    try:
        inputs = stage.read_input(store, item.shard)
        if item.repair:
            tables = stage.repair.compute(inputs, _outputs(store, stage, item.shard), stage.config)
        else:
            tables = stage.compute(inputs, stage.config)
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
            started=started, finished=time.time(), error="".join(traceback.format_exception(exc)), worker=worker,
        ))
        raise
    record = LedgerRecord(
        stage=stage.name, shard=item.shard, fingerprint=item.fingerprint, status="done",
        started=started, finished=time.time(), rows=rows, outputs=outputs, worker=worker,
    )
    store.ledger.write(record)
    return record


def table_stage(name: str, version: str, inputs: Sequence[str], outputs: Sequence[str], config: Any,
                compute: Compute) -> Stage:
    """A stage that maps `compute(input_tables, config) -> output_tables` over the shards of its inputs."""
    return Stage(name=name, version=version, inputs=tuple(inputs), outputs=tuple(outputs), config=config,
                 compute=compute)


def run_inline(store: Store, stage: Stage, shards: Sequence[str], repair: bool = False) -> list[LedgerRecord]:
    """Every pending shard of `stage`, one after the other in this thread: the engine without an engine.

    Benchmarks and tests use it to measure or check a stage apart from any orchestration.
    """
    pending, _ = plan(store, stage, shards, repair)
    return [run_shard(store, stage, item) for item in pending]
