"""The Ray engine: a stage's pending shards on a pool of Ray actors, each running `run_shard`.

Why Ray Core actors over Ray Data: a shard is the unit the ledger, the parts and resume are made of.
An actor pool maps exactly onto it — each actor loads the stage's models once (its process keeps them,
models.pipeline.registry), takes whole shards and writes the same parts and ledger records as the
local engine, so a run may switch engines between two attempts. Ray Data would cut the rows into
blocks of its own and write files itself (uuid names: duplicates on a rerun), and one failing row
aborts a dataset by default; here a failing shard is its own failed ledger record and the rest go on.

- Pool size: as many actors as the cluster has room for with the stage's declared resources
  (storage.stage.Resources: CPUs, GPUs, memory), never more than there are shards.
- Reuse: the pool outlives its stage. The next stage runs on the same actors when each of them holds at
  least what that stage declares and there is no room for more of them anyway; otherwise the pool is
  replaced by one sized for that stage. Starting an actor is a process start and the imports of its
  stage (seconds each); on the offline profile one pool serves all seven shard stages. A
  worker that moves on from a stage holding models drops them first (models.pipeline.registry), so two
  stages' models never share one GPU. `session` stops the pool when the flow ends.
- Backpressure: each actor holds at most IN_FLIGHT_PER_ACTOR shards at once; the others wait here.
- Faults: an actor or its worker process that dies (killed, out of memory, node lost) fails the calls
  it held with a Ray error; those shards go back to the queue and a fresh actor replaces the dead one,
  at most RETRIES times per shard. The parts of a shard are named by its fingerprint and replaced
  atomically, so a shard computed twice is still written once.
- Start-up: every actor first checks that its node sees the store and the data root (a shared
  filesystem); one that cannot fails the stage with the node and the path, before any shard runs.

Nothing here imports Prefect: tasks.runner drives this from one Prefect task per stage.
"""
from __future__ import annotations

import os
import socket
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, ObjectLostError, RayActorError, WorkerCrashedError

from models.pipeline.registry import release_models
from storage.ledger import LedgerRecord
from storage.stage import ShardPlan, Stage, run_shard
from storage.store import Store
from tasks.engine import ClusterUnreachable, NodeCannotSee, NoRoomForStage

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT_PER_ACTOR = 2
RETRIES = 3   # times a shard is given to a new actor after the one holding it died
WORKER_LOST = (RayActorError, ActorDiedError, ActorUnavailableError, WorkerCrashedError, ObjectLostError)


_connected: list[str] = []   # the address this process joined


def connect(address: str) -> None:
    """Join the cluster at `address` ("auto" or host:port), once per process; a clear error when none."""
    if ray.is_initialized() and _connected == [address]:
        return
    if address != "auto":
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as exc:
            raise ClusterUnreachable(f"no Ray cluster at {address} ({exc}); start one with `ray start --head "
                                     f"--port {port or 6379}` or pass its head's host:port") from exc
    if ray.is_initialized():   # another cluster than the one asked for
        ray.shutdown()
    try:  # the project's code must be importable by every worker: the same checkout path on every node
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}, logging_level="WARNING",
                 log_to_driver=False)
    except ConnectionError as exc:
        raise ClusterUnreachable(f"no Ray cluster at {address}: {exc}") from exc
    _connected[:] = [address]


@ray.remote(max_restarts=0, max_task_retries=0)
class ShardWorker:
    """One worker of a pool: checks what its node sees, then runs shards of whichever stage it is given."""

    def __init__(self, store_root: str, data_root: str | None):
        context = ray.get_runtime_context()
        self.where = f"ray:{ray.util.get_node_ip_address()}/{context.get_node_id()[:12]}/{os.getpid()}"
        self.problem = None
        for name, path in (("store", store_root), ("data root", data_root)):
            if path is not None and not Path(path).is_dir():
                self.problem = (f"node {self.where} cannot see the {name} {path}: every node needs the store "
                                "and the data root at the same path (a shared filesystem)")
        if self.problem is None and not os.access(store_root, os.W_OK):
            self.problem = f"node {self.where} cannot write to the store {store_root}"
        self.store = Store(store_root)
        self.stage: Stage | None = None
        self.stage_ref: str | None = None

    def ready(self) -> str | None:
        """What keeps this worker from running shards, or None."""
        return self.problem

    def run(self, stage_box: list[ray.ObjectRef], item: ShardPlan) -> tuple[LedgerRecord, bool]:
        """(ledger record, ok). An exception in the shard is its failed record, never the actor's death.

        The stage comes boxed in a list so that Ray hands over its reference, not a copy per call: it is
        fetched once, when this worker moves on to it."""
        [ref] = stage_box
        if ref.hex() != self.stage_ref:
            if self.stage is not None and self.stage.resources.holds_models:
                release_models()
            self.stage, self.stage_ref = ray.get(ref), ref.hex()
        try:
            return run_shard(self.store, self.stage, item, worker=self.where), True
        except Exception:  # noqa: BLE001 — run_shard recorded it; the engine reports it like the local one
            record = self.store.ledger.get(self.stage.name, item.shard, item.fingerprint)
            return record, False


@dataclass
class Outcome:
    item: ShardPlan
    record: LedgerRecord | None
    error: str | None     # None when done


def worker_options(stage: Stage) -> dict[str, float]:
    """The Ray resources of one worker of `stage`."""
    return {"num_cpus": stage.resources.cpus, "num_gpus": stage.resources.gpus,
            "memory": int(stage.resources.memory_gb * 2**30)}


def pool_size(stage: Stage, shards: int) -> int:
    """Actors the cluster's nodes have room for with the stage's resources, at most one per shard."""
    options = worker_options(stage)
    need = {"CPU": options["num_cpus"], "GPU": options["num_gpus"], "memory": options["memory"]}
    room = 0
    for node in ray.nodes():
        if node["Alive"]:
            have = node["Resources"]
            room += int(min(have.get(k, 0) // v for k, v in need.items() if v > 0))
    if room < 1:
        total = ray.cluster_resources()
        raise NoRoomForStage(f"stage {stage.name}: one worker needs {need['CPU']} CPUs, {need['GPU']} GPUs and "
                             f"{stage.resources.memory_gb} GiB; no node has that (the cluster: "
                             f"{total.get('CPU', 0)} CPUs, {total.get('GPU', 0)} GPUs); "
                             "ray_gpus_per_worker=0 runs the models on CPUs")
    return min(room, shards)


class ActorPool:
    """Workers with the same resources, for one store and data root, reused from stage to stage."""

    def __init__(self, store: Store, data_root: Path | None, options: dict[str, float], size: int):
        self.roots = (str(store.root), str(data_root) if data_root else None)
        self.options = options
        self.actors = [self._start() for _ in range(size)]
        try:
            self.check(self.actors)
        except BaseException:
            self.close()   # a pool that cannot serve leaves no worker behind
            raise

    def _start(self):
        return ShardWorker.options(**self.options).remote(*self.roots)

    def serves(self, store: Store, data_root: Path | None, options: dict[str, float], size: int) -> bool:
        """Whether the next stage can run on these workers: the same roots, at least its resources each,
        and at least as many workers as it would get in a pool of its own."""
        return (self.roots == (str(store.root), str(data_root) if data_root else None)
                and all(self.options[k] >= v for k, v in options.items()) and len(self.actors) >= size)

    @staticmethod
    def check(actors: list) -> None:
        """Every actor's node sees the store and the data root, or NodeCannotSee for the first that does not."""
        problems = [p for p in ray.get([actor.ready.remote() for actor in actors]) if p]
        if problems:
            raise NodeCannotSee(problems[0])

    def replace(self, dead) -> object:
        self.actors.remove(dead)
        fresh = self._start()
        self.actors.append(fresh)   # in the pool before its check: a failing check is closed with the pool
        self.check([fresh])
        return fresh

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


_pool: list[ActorPool] = []    # the pool of the running flow, at most one
_sessions: list[str] = []      # the sessions open in this process (a flow inside a flow opens a second)


@contextmanager
def session(address: str) -> Iterator[None]:
    """Join the cluster for a flow; its pool of workers is stopped when the outermost session ends."""
    connect(address)
    _sessions.append(address)
    try:
        yield
    finally:
        _sessions.pop()
        if not _sessions:
            stop_pool()


def stop_pool() -> None:
    while _pool:
        _pool.pop().close()


def pool_for(store: Store, stage: Stage, data_root: Path | None, shards: int) -> ActorPool:
    """The running pool when it serves `stage`, else a new one sized for it (the old one stopped first:
    its resources are what the new one is made of)."""
    options, size = worker_options(stage), pool_size(stage, shards)
    if _pool and _pool[0].serves(store, data_root, options, size):
        return _pool[0]
    stop_pool()
    _pool.append(ActorPool(store, data_root, options, size))
    return _pool[0]


def run_on_ray(store: Store, stage: Stage, pending: Sequence[ShardPlan], data_root: Path | None,
               on_outcome: Callable[[Outcome], None],
               on_lost: Callable[[ShardPlan, str], None] = lambda item, why: None) -> None:
    """Run `pending` shards of `stage` on the connected cluster, calling `on_outcome` as each finishes
    and `on_lost` when the worker holding a shard died (the shard is then retried on a fresh one)."""
    if not pending:
        return
    pool = pool_for(store, stage, data_root, len(pending))
    stage_box = [ray.put(stage)]
    queue, attempts = deque(pending), {item.shard: 0 for item in pending}
    in_flight: dict[ray.ObjectRef, tuple[object, ShardPlan]] = {}
    try:
        while queue or in_flight:
            for actor in list(pool.actors):
                held = sum(1 for a, _ in in_flight.values() if a is actor)
                while queue and held < IN_FLIGHT_PER_ACTOR:
                    item = queue.popleft()
                    in_flight[actor.run.remote(stage_box, item)] = (actor, item)
                    held += 1
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            actor, item = in_flight.pop(ref)
            try:
                record, ok = ray.get(ref)
            except WORKER_LOST as exc:
                attempts[item.shard] += 1
                if actor in pool.actors:   # the first of its calls to report it: replace it once
                    pool.replace(actor)
                if attempts[item.shard] <= RETRIES:
                    queue.append(item)
                    on_lost(item, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
                else:
                    on_outcome(Outcome(item, None, f"its Ray worker died {attempts[item.shard]} times: {exc}"))
                continue
            on_outcome(Outcome(item, record, None if ok else (record.error if record else "failed")))
    except BaseException:
        stop_pool()   # a stage that ends in an exception (or is cancelled) leaves no worker behind
        raise
    if not _sessions:   # run outside a flow's session: nothing would stop the pool later
        stop_pool()
