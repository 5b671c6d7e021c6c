"""The table store: one folder per table, one folder per shard, one Parquet part per shard.

    <store>/<table>/shard=<shard>/part-<fingerprint>.parquet
    <store>/_ledger/...            see storage.ledger
    <store>/_staging/...           scratch space of a running stage, safe to delete between runs
    <store>/rainrag.duckdb         see storage.catalog (also _catalog.* and _catalog_cache/)
    <store>/reports/               dataset card, contact sheets, plots

A shard's part is replaced, never appended to: the new part is written atomically, then the parts of
older fingerprints are removed, then the ledger records the shard as done. A killed run can leave an
extra part behind for a moment, but the catalog only exposes parts the ledger records as done, and the
next run of that shard removes it: no duplicate row is ever visible.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import process_alive, sweep_temporaries, write_parquet
from storage.ledger import Ledger

SHARD_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_shard_key(shard: str) -> str:
    if not SHARD_KEY.match(shard):
        raise ValueError(f"invalid shard key {shard!r}: use letters, digits and . _ + - only")
    return shard


class StoreBusy(RuntimeError):
    """Another live run holds the store's lock for this stage."""


class StoreUnusable(ValueError):
    """A store path that cannot hold a store; the message names the path and the reason."""


def check_store_root(root: str | Path) -> Path:
    """The resolved store folder, or StoreUnusable when it (or a folder above it) is a file or is not writable."""
    path = Path(root).expanduser().resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        where = "is" if existing == path else f"lies under {existing}, which is"
        raise StoreUnusable(f"store {path} {where} a file, not a folder; pass a folder (it is created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StoreUnusable(f"store {path}: {existing} is not writable by this user")
    return path


class Store:
    def __init__(self, root: str | Path):
        self.root = check_store_root(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.root / "_ledger")

    @property
    def catalog_path(self) -> Path:
        return self.root / "rainrag.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def staging(self, *parts: str) -> Path:
        return self.root.joinpath("_staging", *parts)

    def shard_dir(self, table: str, shard: str) -> Path:
        return self.root / table / f"shard={check_shard_key(shard)}"

    def part_path(self, table: str, shard: str, fingerprint: str) -> Path:
        return self.shard_dir(table, shard) / f"part-{fingerprint}.parquet"

    def write_part(self, table: str, shard: str, fingerprint: str, data: pa.Table) -> Path:
        """Write a shard's part atomically and remove the parts of other fingerprints."""
        path = write_parquet(self.part_path(table, shard, fingerprint), data)
        for stale in path.parent.glob("part-*.parquet"):
            if stale != path:
                stale.unlink()
        return path

    def shards(self, table: str) -> list[str]:
        folder = self.root / table
        return sorted(p.name.removeprefix("shard=") for p in folder.glob("shard=*") if p.is_dir())

    def current_shards(self, table: str) -> list[str]:
        """The shards of `table` that hold a part the ledger records as done."""
        return [s for s in self.shards(table) if self.current_part(table, s) is not None]

    def current_part(self, table: str, shard: str) -> Path | None:
        """The part of a shard that the ledger records as done, if any."""
        for path in sorted(self.shard_dir(table, shard).glob("part-*.parquet")):
            fingerprint = path.stem.removeprefix("part-")
            if any(r.status == "done" for r in self.ledger.find(shard, fingerprint)):
                return path
        return None

    def read_rows(self, table: str) -> list[dict]:
        """Every row of a table's completed parts (shards without one are left out), as dicts."""
        return [row for shard in self.current_shards(table) for row in self.read_shard(table, shard).to_pylist()]

    def read_shard(self, table: str, shard: str) -> pa.Table:
        part = self.current_part(table, shard)
        if part is None:
            raise FileNotFoundError(f"table {table!r} has no completed part for shard {shard!r} in {self.root}")
        return pq.read_table(part)

    def sweep_temporaries(self) -> list[Path]:
        """Remove the half-written files of killed runs (see storage.atomic); returns what was removed."""
        return sweep_temporaries(self.root)

    def drop_shard(self, table: str, shard: str) -> None:
        shutil.rmtree(self.shard_dir(table, shard), ignore_errors=True)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold `<store>/_locks/<name>.lock` so two runs of one stage never share its staging area.

        The lock names its process; a lock left by a killed run (its process is gone) is taken over.
        """
        path = self.root / "_locks" / f"{name}.lock"
        path.parent.mkdir(exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                try:
                    holder = json.loads(path.read_text() or "{}")
                except (OSError, ValueError):
                    holder = {}
                pid = holder.get("pid")
                if holder.get("host") != me["host"] or not isinstance(pid, int) or process_alive(pid):
                    raise StoreBusy(f"{self.root} is in use by another {name} run ({holder or 'unknown'}); "
                                    f"wait for it, or delete {path} if that run is gone") from None
                path.unlink(missing_ok=True)  # its process is dead: a killed run's lock
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
