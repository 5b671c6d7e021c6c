"""The `reviews` table and what the distill run does with it: the reference pool follows the review, and a
changed review re-runs retrieval and what follows, nothing before it."""
from __future__ import annotations

import pytest

from storage.catalog import query, refresh_catalog
from storage.reviews import (ACCEPTED, PENDING, REFERENCE, REJECTED, Decision, ReviewRefused, append,
                             reference_decisions, undo_last)
from storage.stage import plan, run_inline
from storage.store import Store
from tasks.dag import DISTILL
from tasks.retrieval.pool import load_pool
from tasks.run_context import RunContext
from tests.distill.stages import FAST_RETRIEVAL


def test_last_decision_wins_and_undo_restores_what_was_before(tmp_path):
    store = Store(tmp_path / "store")
    append(store, Decision(REFERENCE, "a", ACCEPTED, "ann"))
    append(store, Decision(REFERENCE, "b", REJECTED, "ann"))
    append(store, Decision(REFERENCE, "a", REJECTED, "bob"))
    assert reference_decisions(store) == {"a": REJECTED, "b": REJECTED}
    assert undo_last(store, "bob")["decision"] == ACCEPTED          # a goes back to ann's decision
    assert undo_last(store, "ann")["item"] == "b"                   # ann's latest in force is b (a was bob's)
    assert reference_decisions(store) == {"a": ACCEPTED}
    assert undo_last(store, "ann") is None     # a's row in force is bob's undo: ann has no decision in force
    assert undo_last(store, "bob") is None     # and an undo is not undone by undo
    assert len(list((store.root / "reviews").glob("part-*.parquet"))) == 5   # append-only: every row kept
    refresh_catalog(store)
    rows = query(store, "select action, count(*) as n from reviews group by 1 order by 1")
    assert rows == [{"action": "decide", "n": 3}, {"action": "undo", "n": 2}]


@pytest.mark.parametrize("decision, why", [(Decision(REFERENCE, "a", ACCEPTED, "  "), "reviewer name is required"),
                                           (Decision(REFERENCE, "a", "maybe", "ann"), "not 'maybe'"),
                                           (Decision("study", "a", "keep", "ann"), "names its study"),
                                           (Decision(REFERENCE, "a", PENDING, "ann"), "not 'pending'")])
def test_a_decision_without_a_name_or_with_a_wrong_value_is_refused(tmp_path, decision, why):
    store = Store(tmp_path / "store")
    with pytest.raises(ReviewRefused, match=why):
        append(store, decision)
    assert not (store.root / "reviews").exists()


def _pending(store: Store, run: RunContext) -> dict[str, int]:
    return {spec.name: len(plan(store, spec.build(run), spec.shards(run))[0]) for spec in DISTILL[1:]}


def test_a_rejected_reference_leaves_the_pool_and_reruns_retrieval_and_what_follows_only(distilled_copy,
                                                                                            offline_profile):
    data, store = distilled_copy
    run = RunContext.of(store, data, offline_profile, **FAST_RETRIEVAL)
    assert set(_pending(store, run).values()) == {0}
    retrieved = query_rows(store, "retrievals")
    counts: dict[str, int] = {}
    for row in retrieved:
        if row["selected"]:
            counts[row["reference_id"]] = counts.get(row["reference_id"], 0) + 1
    rejected = max(counts, key=counts.get)   # the reference retrieved most often
    append(store, Decision(REFERENCE, rejected, REJECTED, "ann"))
    assert rejected not in {r["sample_id"] for r in load_pool(store, run.shards(), "use",
                                                              reference_decisions(store)).rows}
    off = RunContext.of(store, data, offline_profile, review="off", **FAST_RETRIEVAL)
    assert _pending(store, off)["retrieve"] == 0    # review=off does not read the decisions

    rerun = RunContext.of(store, data, offline_profile, review="use", **FAST_RETRIEVAL)
    pending = _pending(store, rerun)
    shards = len(rerun.shards())
    assert {k: v for k, v in pending.items() if v} == {"retrieve": shards}   # judge waits for new retrievals
    ran: dict[str, int] = {}
    for spec in DISTILL[1:]:
        ran[spec.name] = len(run_inline(store, spec.build(rerun), spec.shards(rerun)))
    assert ran == {"quality": 0, "caption": 0, "embed": 0, "inspect": 0, "dedup": 0, "retrieve": shards,
                   "judge": shards, "manifest": 1, "audit": 1}
    assert rejected not in {r["reference_id"] for r in query_rows(store, "retrievals")}
    assert rejected in {r["reference_id"] for r in retrieved}


def query_rows(store: Store, table: str) -> list[dict]:
    return store.read_rows(table)


def test_require_keeps_only_accepted_references(distilled_copy, offline_profile):
    data, store = distilled_copy
    run = RunContext.of(store, data, offline_profile, review="require", **FAST_RETRIEVAL)
    assert len(run.pool()) == 0
    members = load_pool(store, run.shards()).rows
    for member in members[:3]:
        append(store, Decision(REFERENCE, member["sample_id"], ACCEPTED, "ann"))
    run.forget_pool()
    assert [r["sample_id"] for r in run.pool().rows] == [m["sample_id"] for m in members[:3]]
