"""The distill flow killed (SIGKILL) inside the judge stage, resumed, and its failed judge calls retried."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from models.pipeline.profiles import PROFILES_DIR
from storage.store import Store
from tests.judging.doubles import FAIL_CASES_ENV, KIND

pytestmark = pytest.mark.slow
DATASETS = ("Rain100L", "RainDrop", "GTAV-NightRain", "SPA-Data", "Real3000")   # 5 shards, real references
INNER = {"judge_1": "rain_layer_judge", "judge_2": "background_judge", "judge_3": "clean_image_judge"}
LAUNCH = "import sys; from tests.judging.doubles import register; register(); from flows.distill import main; main()"


def slow_profile(path: Path) -> Path:
    """`offline` with each judge slowed down (0.25 s per call of 4 cases) so a kill lands inside the stage."""
    profile = yaml.safe_load((PROFILES_DIR / "offline.yaml").read_text())
    for role, inner in INNER.items():
        profile["roles"][role] = {"kind": KIND, "batch_size": 4,
                                  "options": {"inner": inner, "role": role, "delay_s": 0.25}}
    path.write_text(yaml.safe_dump(profile))
    return path


def start(data: Path, store: Path, profile: Path, models: Path, env: dict, *extra: str) -> subprocess.Popen:
    args = ["--data-root", str(data), "--store", str(store), "--profile", str(profile), "--models-dir", str(models),
            "--shard-size", "64", "--k1", "12", "--k2", "5", "--k3", "2", "--ssim-size", "64",
            "--datasets", *DATASETS, *extra]
    return subprocess.Popen([sys.executable, "-c", LAUNCH, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=Path(__file__).parents[2])


def finish(process: subprocess.Popen) -> str:
    output = process.communicate(timeout=600)[0].decode()
    assert process.returncode == 0, output[-4000:]
    return output


def votes(store: Path) -> list[dict]:
    target = Store(store)
    shards = [s for s in target.shards("votes") if target.current_part("votes", s)]
    return sorted(pa.concat_tables(target.read_shard("votes", s) for s in shards).to_pylist(),
                  key=lambda v: (v["sample_id"], v["judge"]))


def judge_records(store: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(store).as_posix(): (p.stat().st_mtime_ns, p.read_text())
            for p in (store / "_ledger" / "judge").glob("*/*.json")}


def test_sigkill_in_judge_resumes_without_duplicates_and_retry_reasks_only_failed_calls(
        corpus_store, offline_profile, tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    data, corpus, shards = corpus_store
    victim = min(r["sample_id"] for s in shards if s.startswith("Rain100L")
                 for r in Store(corpus).read_shard("samples", s).to_pylist() if r["split"] == "train")
    profile, models = slow_profile(tmp_path / "slow.yaml"), offline_profile.models_dir
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), FAIL_CASES_ENV: f"judge_2:{victim}"}

    killed = tmp_path / "killed"
    process = start(data, killed, profile, models, env)
    deadline = time.time() + 400
    while time.time() < deadline and process.poll() is None and \
            sum(r.get("status") == "done" for r in map(_record, judge_records(killed).values())) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    at_kill = {k: v for k, v in judge_records(killed).items() if _record(v)["status"] == "done"}
    assert 2 <= len(at_kill) < 5, f"the kill should land inside the judge stage ({len(at_kill)} done)"
    assert not (killed / "manifest").exists()

    resumed = finish(start(data, killed, profile, models, env))
    assert re.search(rf"judge: 5 shards, {len(at_kill)} already done, {5 - len(at_kill)} to run", resumed), resumed[-3000:]
    after = judge_records(killed)
    assert {k: after[k] for k in at_kill} == at_kill, "a shard finished before the kill was computed again"
    first = votes(killed)
    keys = [(v["sample_id"], v["judge"]) for v in first]
    assert len(keys) == len(set(keys)) and len({v["sample_id"] for v in first}) * 3 == len(keys)
    failed = [(v["sample_id"], v["judge"], v["status"]) for v in first if v["answer"] == "error"]
    assert failed == [(victim, "judge_2", "error")] and "simulated" in next(
        v["error"] for v in first if v["answer"] == "error")

    reference = tmp_path / "reference"
    finish(start(data, reference, profile, models, env))
    manifest = pq.read_table(killed / "manifest.parquet")
    assert manifest.num_rows > 10 and manifest.equals(pq.read_table(reference / "manifest.parquet"))

    records = judge_records(killed)
    healthy = {k: v for k, v in env.items() if k != FAIL_CASES_ENV}
    retried = finish(start(data, killed, profile, models, healthy, "--retry-judge-errors"))
    assert "judge: 5 shards, 5 already done, 0 to run" in retried and "judge (repair): 1 of 5 shards have something to repair" in retried
    second = votes(killed)
    assert [k for k in records if judge_records(killed)[k] != records[k]] == \
           [k for k in records if k.startswith("_ledger/judge/Rain100L")]      # only the victim's shard
    assert len(judge_records(killed)) == len(records)                             # same keys: no new records
    redone = [v for v in second if (v["sample_id"], v["judge"]) == (victim, "judge_2")]
    assert len(redone) == 1 and redone[0]["status"] == "ok" and redone[0]["answer"] in ("yes", "no", "abstain")
    assert [v for v in second if v is not redone[0]] == [v for v in first if (v["sample_id"], v["judge"]) !=
                                                         (victim, "judge_2")]   # every other vote as it was
    rebuilt = pq.read_table(killed / "manifest.parquet").to_pylist()
    row = [m for m in rebuilt if m["sample_id"] == victim]
    assert not row or row[0]["error_votes"] == 0
    assert all(m["error_votes"] == 0 for m in rebuilt)


def _record(value: tuple[int, str]) -> dict:
    import json

    return json.loads(value[1])
