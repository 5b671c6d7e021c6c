"""The ledger: one record per (stage, shard, fingerprint) saying done or failed.

It is the truth for resume (never Prefect's result cache): a stage skips a shard whose current
fingerprint has a `done` record. Records are small JSON files written atomically, one per key, so
concurrent shard tasks never contend for a lock and a killed run leaves either a whole record or none.

    <store>/_ledger/<stage>/<shard>/<fingerprint>.json
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Literal

from storage.atomic import write_json

Status = Literal["done", "failed"]


@dataclass
class LedgerRecord:
    stage: str
    shard: str
    fingerprint: str
    status: Status
    started: float
    finished: float
    rows: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # table -> part file, relative to the store
    error: str | None = None
    worker: str | None = None   # where it ran: "<host>/<pid>" in-process, "ray:<node ip>/<node id>/<pid>" on Ray

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class Ledger:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, stage: str, shard: str, fingerprint: str) -> Path:
        return self.root / stage / shard / f"{fingerprint}.json"

    def get(self, stage: str, shard: str, fingerprint: str) -> LedgerRecord | None:
        path = self._path(stage, shard, fingerprint)
        if not path.exists():
            return None
        return LedgerRecord(**json.loads(path.read_text(encoding="utf-8")))

    def is_done(self, stage: str, shard: str, fingerprint: str) -> bool:
        record = self.get(stage, shard, fingerprint)
        return record is not None and record.status == "done"

    def write(self, record: LedgerRecord) -> None:
        write_json(self._path(record.stage, record.shard, record.fingerprint), asdict(record))

    def records(self, stage: str | None = None) -> Iterator[LedgerRecord]:
        pattern = f"{stage}/*/*.json" if stage else "*/*/*.json"
        for path in sorted(self.root.glob(pattern)):
            yield LedgerRecord(**json.loads(path.read_text(encoding="utf-8")))

    def find(self, shard: str, fingerprint: str) -> list[LedgerRecord]:
        """Records of any stage for this shard and fingerprint."""
        # one listing of the stage folders and a direct open per stage: a pathlib glob per call cost
        # more than the rest of an unchanged rerun's planning together
        try:
            stages = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        records = []
        for stage in stages:
            try:
                with open(os.path.join(self.root, stage, shard, f"{fingerprint}.json"), encoding="utf-8") as f:
                    records.append(LedgerRecord(**json.loads(f.read())))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return records

    def forget_shard(self, stage: str, shard: str) -> None:
        """Drop every record of a shard that no longer exists (its dataset shrank or was re-sharded)."""
        folder = self.root / stage / shard
        for path in folder.glob("*.json"):
            path.unlink()
        if folder.exists():
            folder.rmdir()
