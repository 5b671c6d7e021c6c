"""The judge stage on the retrieved sample corpus with the `offline` judges."""
from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from models.pipeline.profiles import ModelSpec
from models.pipeline.roles import JUDGE_ROLES
from storage.stage import ShardPlan, plan, run_inline, run_shard
from tasks.judge import Panel, judges_identity, load_panel, model_name
from tests.distill.stages import build
from tests.judging.doubles import FailingJudge


def table(store, name, shards):
    return pa.concat_tables(store.read_shard(name, s) for s in shards)


def queries(store, shards, public_test: bool = False):
    """The retrieval queries, those of public test splits only with `public_test`."""
    test = set(table(store, "samples", shards).filter(pc.equal(pc.field("split"), "test"))["sample_id"].to_pylist())
    return {q for q in table(store, "retrievals", shards)["query_id"].to_pylist() if public_test or q not in test}


def test_every_query_gets_one_vote_per_judge_with_model_and_prompt(retrieved_copy, offline_profile):
    data, store, shards = retrieved_copy
    stage = build("judge", store, data, offline_profile)
    run_inline(store, stage, shards)
    votes = table(store, "votes", shards).to_pylist()
    keys = [(v["sample_id"], v["judge"]) for v in votes]
    assert len(keys) == len(set(keys)) == 3 * len(queries(store, shards))
    # public test pairs can never be kept: they are not sent to the judges
    assert {sid for sid, _ in keys} == queries(store, shards) != queries(store, shards, public_test=True)
    # weight-free judges are named by their kind alone (no empty ":@" parts)
    assert {v["model"] for v in votes} == {offline_profile.roles[r].kind for r in JUDGE_ROLES}
    assert all(v["status"] == "ok" and v["answer"] in ("yes", "no", "abstain") and v["raw"] for v in votes)
    assert all(v["prompt_hash"] == "" and v["latency_s"] >= 0 for v in votes)   # measured judges: no prompt
    answers = {v["answer"] for v in votes}
    assert {"yes", "no"} <= answers, "the offline judges must discriminate on the corpus"
    assert plan(store, stage, shards)[0] == []      # done: a rerun asks nobody
    # the fingerprint computed without loading a judge is the one the loaded judges report
    assert judges_identity(offline_profile) == load_panel(offline_profile).identity(offline_profile)


def test_judge_public_test_also_asks_about_the_public_test_pairs(retrieved_copy, offline_profile):
    data, store, shards = retrieved_copy
    default, audit = (build("judge", store, data, offline_profile, judge_public_test=flag) for flag in (False, True))
    assert default.shard_fingerprint(store, shards[0]) != audit.shard_fingerprint(store, shards[0])
    run_inline(store, audit, shards)
    votes = table(store, "votes", shards)
    assert set(votes["sample_id"].to_pylist()) == queries(store, shards, public_test=True)
    assert votes.num_rows == 3 * len(queries(store, shards, public_test=True))


def test_the_fingerprint_follows_each_judges_identity(retrieved_copy, offline_profile):
    data, store, shards = retrieved_copy
    run_inline(store, build("judge", store, data, offline_profile), shards)
    moved = offline_profile.with_role("judge_3", revision="v2")
    assert len(plan(store, build("judge", store, data, moved), shards)[0]) == len(shards)
    panel = load_panel(offline_profile)
    prompted = FailingJudge(panel.judges["judge_1"], set())
    prompted.prompt_version, prompted.prompt_hash = "2", "abc"
    other_prompt = Panel({**panel.judges, "judge_1": prompted}, panel.models, panel.batch_size)
    assert len(plan(store, build("judge", store, data, offline_profile, other_prompt), shards)[0]) == len(shards)


def test_an_unreadable_image_makes_error_votes_naming_the_file(corpus_store, retrieved_copy, offline_profile, tmp_path):
    _, store, shards = retrieved_copy
    data = tmp_path / "data"
    shutil.copytree(corpus_store[0], data)
    samples = table(store, "samples", shards).to_pylist()
    victim = next(s for s in samples if s["sample_id"] in queries(store, shards) and s["dataset"] == "Rain100L")
    (data / victim["clean_path"]).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    run_inline(store, build("judge", store, data, offline_profile), shards)
    votes = table(store, "votes", shards).to_pylist()
    bad = [v for v in votes if v["sample_id"] == victim["sample_id"]]
    assert [v["judge"] for v in bad] == list(JUDGE_ROLES)
    assert all(v["answer"] == v["status"] == "error" and f"clean image {victim['clean_path']} cannot be read" in v["error"] for v in bad)
    assert all(v["status"] == "ok" for v in votes if v["sample_id"] != victim["sample_id"])


@pytest.mark.parametrize("raise_on_fail", [False, True], ids=["error-verdict", "call-raises"])
def test_a_failed_call_is_an_error_vote_and_the_retry_reasks_only_it(retrieved_copy, offline_profile, raise_on_fail):
    data, store, shards = retrieved_copy
    panel = load_panel(offline_profile)
    victim = sorted(queries(store, shards))[7]
    failing = FailingJudge(panel.judges["judge_2"], {victim}, raise_on_fail=raise_on_fail)
    stage = build("judge", store, data, offline_profile, Panel({**panel.judges, "judge_2": failing}, panel.models, 64))
    run_inline(store, stage, shards)
    before = table(store, "votes", shards).to_pylist()
    errors = [(v["sample_id"], v["judge"]) for v in before if v["answer"] == "error"]
    assert (victim, "judge_2") in errors and {j for _, j in errors} == {"judge_2"}
    if not raise_on_fail:
        assert errors == [(victim, "judge_2")]       # one failed case, not its whole call
    assert all("simulated" in v["error"] for v in before if v["answer"] == "error")

    retry_panel = Panel({**panel.judges, "judge_2": FailingJudge(panel.judges["judge_2"], set())}, panel.models, 64)
    repair = build("judge", store, data, offline_profile, retry_panel)
    assert repair.config == stage.config   # same judges, same key
    to_retry = [item.shard for item in plan(store, repair, shards, repair=True)[0]]
    assert len(to_retry) == 1 and to_retry[0] in {s for s in shards if victim in queries(store, [s])}
    parts = {s: store.current_part("votes", s) for s in shards}
    untouched = {s: p.stat().st_mtime_ns for s, p in parts.items() if s not in to_retry}
    run_shard(store, repair, ShardPlan(to_retry[0], stage.shard_fingerprint(store, to_retry[0]), repair=True))

    assert sorted(retry_panel.judges["judge_2"].asked) == sorted(sid for sid, _ in errors)   # only the failed calls
    after = table(store, "votes", shards).to_pylist()
    assert len(after) == len(before) and not [v for v in after if v["answer"] == "error"]
    failed = set(errors)
    assert [v for v in after if (v["sample_id"], v["judge"]) not in failed] == \
           [v for v in before if (v["sample_id"], v["judge"]) not in failed]    # every other vote kept as it was
    assert {s: store.current_part("votes", s).stat().st_mtime_ns for s in untouched} == untouched
    assert plan(store, stage, shards)[0] == [] and plan(store, repair, shards, repair=True)[0] == []
    assert len(list((store.root / "_ledger" / "judge" / to_retry[0]).glob("*.json"))) == 1


def test_model_names_carry_only_the_parts_that_are_set():
    assert model_name(ModelSpec(kind="rain_layer_judge")) == "rain_layer_judge"
    assert model_name(ModelSpec(kind="llava_next", model_id="llava-hf/llava-v1.6-mistral-7b-hf")) == \
        "llava_next:llava-hf/llava-v1.6-mistral-7b-hf"
    assert model_name(ModelSpec(kind="llava_next", model_id="llava-hf/x", revision="0a1b2c")) == "llava_next:llava-hf/x@0a1b2c"
