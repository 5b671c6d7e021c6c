"""The `reviews` table: every decision a person made in the review app (review/), one atomic Parquet part each.

    <store>/reviews/part-<nanoseconds>-<review id>.parquet

Nothing is ever rewritten: an undo is a row of its own whose `decision` is what the item goes back to,
so "the last row per item wins" is the whole rule, in Python (`in_force`) and in SQL (the catalog's
`reviews` view: `arg_max(decision, decided_at)` per item, see the README). The distill flow reads the
reference decisions in force through `reference_decisions`; the pool they select is fingerprinted, so a
changed decision re-runs retrieval and what follows it.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from storage.atomic import write_parquet
from storage.schemas import REVIEWS
from storage.store import Store

REFERENCE, STUDY = "reference", "study"
ACCEPTED, REJECTED, PENDING = "accepted", "rejected", "pending"
KEEP, DISCARD = "keep", "discard"
CHOICES = {REFERENCE: (ACCEPTED, REJECTED), STUDY: (KEEP, DISCARD)}
MAX_NAME = 80
_WRITING = threading.Lock()   # one server process: decisions get strictly increasing times


class ReviewRefused(ValueError):
    """A decision that cannot be recorded; the message says why."""


@dataclass(frozen=True)
class Decision:
    kind: str
    item: str
    decision: str
    reviewer: str
    study: str | None = None
    action: str = "decide"


def reviews_dir(store: Store) -> Path:
    return store.root / "reviews"


def check_reviewer(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ReviewRefused("a reviewer name is required for every decision")
    if len(name) > MAX_NAME or any(not c.isprintable() for c in name):
        raise ReviewRefused(f"a reviewer name is at most {MAX_NAME} printable characters")
    return name


_last_ns = 0


def _now_ns() -> int:
    global _last_ns
    _last_ns = max(time.time_ns() // 1000 * 1000, _last_ns + 1000)   # microseconds, as the column keeps
    return _last_ns


def append(store: Store, decision: Decision) -> dict:
    """Record one decision (or undo) atomically; returns the row written."""
    if decision.kind not in CHOICES:
        raise ReviewRefused(f"unknown review kind {decision.kind!r}: {' or '.join(CHOICES)}")
    allowed = CHOICES[decision.kind] + ((PENDING,) if decision.action == "undo" else ())
    if decision.decision not in allowed:
        raise ReviewRefused(f"a {decision.kind} decision is {' or '.join(allowed)}, not {decision.decision!r}")
    if decision.kind == STUDY and not decision.study:
        raise ReviewRefused("a study answer names its study")
    reviewer = check_reviewer(decision.reviewer)
    with _WRITING:
        ns = _now_ns()
        review_id = uuid.uuid4().hex
        row = {"review_id": review_id, "kind": decision.kind, "study": decision.study, "item": decision.item,
               "decision": decision.decision, "action": decision.action, "reviewer": reviewer,
               "decided_at": datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)}
        write_parquet(reviews_dir(store) / f"part-{ns:020d}-{review_id}.parquet",
                      pa.Table.from_pylist([row], schema=REVIEWS))
    return row


def read_all(store: Store) -> list[dict]:
    """Every review row, oldest first (the parts' names sort by time)."""
    parts = sorted(reviews_dir(store).glob("part-*.parquet"))
    if not parts:
        return []
    files = ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in parts)
    with duckdb.connect() as con:
        cursor = con.execute(f"select * from read_parquet([{files}]) order by decided_at, review_id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def in_force(rows: list[dict], kind: str, study: str | None = None, reviewer: str | None = None) -> dict[str, dict]:
    """item -> its last row (of one reviewer, if named), for the rows of `kind` (and `study`)."""
    last: dict[str, dict] = {}
    for row in rows:
        if row["kind"] == kind and row["study"] == study and reviewer in (None, row["reviewer"]):
            last[row["item"]] = row
    return last


def reference_decisions(store: Store) -> dict[str, str]:
    """sample_id -> accepted | rejected for every reference with a decision in force (pending left out)."""
    return {item: row["decision"] for item, row in in_force(read_all(store), REFERENCE).items()
            if row["decision"] != PENDING}


def undo_last(store: Store, reviewer: str) -> dict | None:
    """Undo `reviewer`'s latest reference decision that is still in force; None when there is none.

    The item goes back to what it was before that decision (its previous row, else pending).
    """
    reviewer = check_reviewer(reviewer)
    rows = [r for r in read_all(store) if r["kind"] == REFERENCE]
    current = in_force(rows, REFERENCE)
    mine = [r for r in rows if r["reviewer"] == reviewer and r["action"] == "decide"
            and current.get(r["item"]) is r]
    if not mine:
        return None
    target = mine[-1]
    earlier = [r for r in rows if r["item"] == target["item"] and r is not target
               and (r["decided_at"], r["review_id"]) < (target["decided_at"], target["review_id"])]
    back_to = earlier[-1]["decision"] if earlier else PENDING
    return append(store, Decision(REFERENCE, target["item"], back_to, reviewer, action="undo"))

