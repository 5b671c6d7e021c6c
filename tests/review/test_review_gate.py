"""review=require with no accepted reference: the distill flow pauses with a link to the review app and goes
on when resumed; nobody resuming it in time fails the run with the reason."""
from __future__ import annotations

import threading
import time

import pytest

from storage.reviews import ACCEPTED, REFERENCE, Decision, append
from tasks.retrieval.pool import load_pool
from tests.distill.stages import FAST_RETRIEVAL
from tests.prefect_reads import latest_runs, run_artifacts


def settings_of(data, store, profile, **extra) -> dict:
    return {"data_root": str(data), "store": str(store.root), "profile": "offline",
            "models_dir": str(profile.models_dir), "shard_size": 64, "review": "require", **FAST_RETRIEVAL, **extra}


def test_the_run_pauses_for_review_and_resumes_when_told(distilled_copy, offline_profile, prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    from flows.distill import distill

    data, store = distilled_copy
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(result=distill(**settings_of(
        data, store, offline_profile, review_wait_s=300))))
    worker.start()
    paused = None
    with get_client(sync_client=True) as client:
        for _ in range(240):
            runs = [r for r in latest_runs(client, "distill") if r.parameters.get("store") == str(store.root)]
            paused = next((r for r in runs if r.state and r.state.is_paused()), None)
            if paused or not worker.is_alive():
                break
            time.sleep(0.5)
        assert paused is not None, outcome
        gate = [a for a in run_artifacts(client, paused.id) if a.key == "review-gate"]
        assert gate and "http://127.0.0.1:8765/references" in gate[0].data
    for member in load_pool(store, store.current_shards("samples")).rows:   # the reviewers accept every reference
        append(store, Decision(REFERENCE, member["sample_id"], ACCEPTED, "ann"))
    resume_flow_run(paused.id)
    worker.join(timeout=300)
    assert not worker.is_alive() and outcome.get("result"), outcome
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(paused.id).state.is_completed()


def test_a_run_nobody_resumes_fails_naming_the_review(distilled_copy, offline_profile, prefect_harness):
    from flows.distill import EmptyResult, distill

    data, store = distilled_copy
    with pytest.raises(EmptyResult, match="review=require and none of the .* is accepted in review"):
        distill(**settings_of(data, store, offline_profile, review_wait_s=3))
