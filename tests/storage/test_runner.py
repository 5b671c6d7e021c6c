"""The generic runner and the catalog: skip what is done, re-run what changed, never show duplicates."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from storage.catalog import refresh_catalog
from storage.stage import ShardPlan, plan, run_shard, table_stage
from storage.store import Store
from tests.prefect_reads import run_artifacts


def _seed(store: Store, shards: dict[str, list[int]]) -> None:
    """A `numbers` table written through a real stage, so its parts are ledger-backed."""
    for shard, values in shards.items():
        stage = table_stage("seed", "1", [], ["numbers"], {}, lambda _t, _c, v=values: {"numbers": pa.table({"x": v})})
        run_shard(store, stage, ShardPlan(shard, f"seed{len(values)}{shard[-1]}"))


def _double(tables, config):
    x = tables["numbers"].column("x").to_pylist()
    if config.get("fail_on") in x:
        raise ValueError(f"cannot double {config['fail_on']}")
    return {"doubled": pa.table({"y": [v * config["factor"] for v in x]})}


def test_plan_skips_done_shards_and_config_changes_rerun_them(tmp_path):
    store = Store(tmp_path)
    _seed(store, {"a-00000": [1, 2], "a-00001": [3]})
    stage = table_stage("double", "1", ["numbers"], ["doubled"], {"factor": 2}, _double)
    pending, done = plan(store, stage, store.shards("numbers"))
    assert [p.shard for p in pending] == ["a-00000", "a-00001"] and done == []
    for item in pending:
        run_shard(store, stage, item)
    assert plan(store, stage, store.shards("numbers"))[0] == []
    changed = table_stage("double", "1", ["numbers"], ["doubled"], {"factor": 3}, _double)
    assert len(plan(store, changed, store.shards("numbers"))[0]) == 2
    bumped = table_stage("double", "2", ["numbers"], ["doubled"], {"factor": 2}, _double)
    assert len(plan(store, bumped, store.shards("numbers"))[0]) == 2


def test_new_input_reruns_only_its_shard(tmp_path):
    store = Store(tmp_path)
    _seed(store, {"a-00000": [1, 2], "a-00001": [3]})
    stage = table_stage("double", "1", ["numbers"], ["doubled"], {"factor": 2}, _double)
    for item in plan(store, stage, store.shards("numbers"))[0]:
        run_shard(store, stage, item)
    _seed(store, {"a-00001": [3, 4]})
    assert [p.shard for p in plan(store, stage, store.shards("numbers"))[0]] == ["a-00001"]


def test_a_failing_shard_is_recorded_and_the_others_complete(tmp_path):
    store = Store(tmp_path)
    _seed(store, {"a-00000": [1], "a-00001": [7]})
    stage = table_stage("double", "1", ["numbers"], ["doubled"], {"factor": 2, "fail_on": 7}, _double)
    pending, _ = plan(store, stage, store.shards("numbers"))
    run_shard(store, stage, pending[0])
    with pytest.raises(ValueError):
        run_shard(store, stage, pending[1])
    record = store.ledger.get("double", "a-00001", pending[1].fingerprint)
    assert record.status == "failed" and "cannot double 7" in record.error
    assert [p.shard for p in plan(store, stage, store.shards("numbers"))[0]] == ["a-00001"]


def test_catalog_shows_only_done_parts(tmp_path):
    store = Store(tmp_path)
    _seed(store, {"a-00000": [1, 2], "a-00001": [3]})
    assert refresh_catalog(store)
    assert not refresh_catalog(store), "an unchanged store must not rewrite the catalog"
    # A run killed after writing a part but before its ledger record leaves an orphan part behind.
    store.part_path("numbers", "a-00000", "orphan").write_bytes(
        store.current_part("numbers", "a-00000").read_bytes())
    refresh_catalog(store)
    con = duckdb.connect(store.catalog_path.as_posix(), read_only=True)
    assert con.execute("select sum(x), count(*) from numbers").fetchone() == (6, 3)
    assert con.execute("select count(*) from ledger where status = 'done'").fetchone() == (2,)
    con.close()


def test_catalog_opens_in_the_duckdb_shell(tmp_path):
    store = Store(tmp_path)
    _seed(store, {"a-00000": [1, 2]})
    refresh_catalog(store)
    shell = Path(sys.executable).with_name("duckdb")
    out = subprocess.run([str(shell), "-csv", str(store.catalog_path), "select count(*) as n from numbers"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["n", "2"]


def test_prefect_runner_reports_a_failed_shard_and_completes_the_others(tmp_path, prefect_harness):
    from prefect import flow

    from tasks.runner import run_stage

    store = Store(tmp_path)
    _seed(store, {"a-00000": [1, 2], "a-00001": [7], "a-00002": [4]})
    stage = table_stage("double", "1", ["numbers"], ["doubled"], {"factor": 2, "fail_on": 7}, _double)

    @flow
    def run():
        return run_stage(store, stage, store.shards("numbers"))

    report = run()
    assert sorted(r.shard for r in report.done) == ["a-00000", "a-00002"] and report.rows("doubled") == 3
    assert list(report.failed) == ["a-00001"] and "cannot double 7" in report.failed["a-00001"]
    again = run()
    assert again.skipped == 2 and list(again.failed) == ["a-00001"] and again.done == []


def _unreachable_artifact() -> None:
    raise ConnectionError("artifact API unreachable")


def test_background_artifacts_are_attached_before_the_flow_ends_and_a_failed_one_only_warns(prefect_harness):
    from prefect import flow
    from prefect.artifacts import create_progress_artifact, create_table_artifact
    from prefect.client.orchestration import get_client

    from tasks.runner import _update_progress, artifacts_in_background, attach

    @flow(name="background-artifacts")
    def attach_three():
        with artifacts_in_background():
            assert attach(create_table_artifact, key="bg-table", table=[{"a": 1}]) is not None
            bar = attach(create_progress_artifact, progress=0.0, description="bar")
            attach(_unreachable_artifact)
            attach(_update_progress, artifact=bar, progress=100.0)

    state = attach_three(return_state=True)
    assert state.is_completed(), "a failed artifact never fails the run"
    with get_client(sync_client=True) as client:
        attached = {a.type: a for a in run_artifacts(client, state.state_details.flow_run_id)}
    assert attached["table"].key == "bg-table" and float(attached["progress"].data) == 100.0


def _slow_second(tables, config):
    if tables["numbers"].column("x").to_pylist() == [7]:
        time.sleep(config["sleep_s"])
    return {"doubled": tables["numbers"]}


def _progress_of(flow_run_id) -> list:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [a for a in run_artifacts(client, flow_run_id) if a.type == "progress"]


def test_a_stage_stopped_midway_leaves_its_progress_bar_at_what_was_done(tmp_path, prefect_harness):
    """A flow that times out inside a stage: the bar shows the shard that finished, and that it stopped."""
    from prefect import flow

    from tasks.runner import run_stage

    store = Store(tmp_path)
    _seed(store, {"a-00000": [1], "a-00001": [7]})
    stage = table_stage("slow", "1", ["numbers"], ["doubled"], {"sleep_s": 6}, _slow_second)

    @flow(timeout_seconds=3)
    def run():
        return run_stage(store, stage, store.shards("numbers"))

    state = run(return_state=True)
    assert not state.is_completed()
    [bar] = _progress_of(state.state_details.flow_run_id)
    assert float(bar.data) == 50.0 and bar.description == "slow: 1 of 2 shards done, stopped after 1 of 2"


def test_a_stage_with_a_failed_shard_says_so_on_its_progress_bar(tmp_path, prefect_harness):
    from prefect import flow

    from tasks.runner import run_stage

    store = Store(tmp_path)
    _seed(store, {"a-00000": [1, 2], "a-00001": [7]})
    stage = table_stage("double", "1", ["numbers"], ["doubled"], {"factor": 2, "fail_on": 7}, _double)

    @flow
    def run():
        return run_stage(store, stage, store.shards("numbers"))

    state = run(return_state=True)
    [bar] = _progress_of(state.state_details.flow_run_id)
    assert float(bar.data) == 100.0 and bar.description == "double: 1 of 2 shards done, 1 failed"
