"""End to end: `make server`, `make deploy`, `prefect deployment run distill/rainrag`, a `--run-once` worker,
then the store read back through DuckDB — and every query the Makefile and README print, run for real."""
from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import duckdb
import pytest
import yaml

from tools.server import BIN, ROOT, group_members, prefect_env

pytestmark = pytest.mark.slow
JUDGES = {"judge_1", "judge_2", "judge_3"}


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}   # nothing of the test session's
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"make {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def run_in_group(command: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Run `command` in its own process group; on timeout the whole group is killed, not just its leader."""
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(command[1:4])} ran over {timeout} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, out, "")


@pytest.fixture()
def local_server(tmp_path, free_port):
    """(PREFECT_HOME, API URL) of a server started by `make server WORKER=0`; `make stop` ends it, even on failure."""
    home = tmp_path / "prefect-home"
    try:
        make("server", f"SERVER_HOME={home}", f"SERVER_PORT={free_port}", "WORKER=0")
        yield home, f"http://127.0.0.1:{free_port}/api"
    finally:
        recorded = {p.name: (int(p.read_text().split()[0]), p.stat().st_mtime) for p in home.glob("*.pid")}
        stopped = subprocess.run(["make", "-C", str(ROOT), "stop", f"SERVER_HOME={home}"], capture_output=True,
                                 text=True, timeout=120)
        leftovers = [m for pgid, written in recorded.values() for m in group_members(pgid, written)]
        for member in leftovers:   # `make stop` failed: still leave nothing running
            member.kill()
        assert stopped.returncode == 0 and not leftovers, stopped.stdout + stopped.stderr


def deployment_names() -> set[str]:
    """flow/deployment of every entry of prefect.yaml, as `prefect deploy` names them."""
    names = set()
    for entry in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        path, attribute = entry["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        names.add(f"{getattr(module, attribute).name}/{entry['name']}")
    return names


def documented_queries() -> list[str]:
    """SQL given to the DuckDB shell in the Makefile's demo and in the README, quotes unescaped."""
    text = (ROOT / "Makefile").read_text() + (ROOT / "README.md").read_text()
    found = re.findall(r'duckdb \S*rainrag\.duckdb \\?"((?:[^"\\]|\\.)+?)\\?"', text)
    return list(dict.fromkeys(sql.replace('\\"', '"') for sql in found))


def shell_rows(catalog: Path, sql: str) -> list[str]:
    """Rows the venv's `duckdb` shell prints for `sql` (CSV, header dropped): the README's command, for real."""
    result = subprocess.run([str(BIN / "duckdb"), "-csv", str(catalog), sql], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"{sql}\n{result.stderr}"
    return result.stdout.splitlines()[1:]


def test_distill_deployment_runs_on_a_worker_and_fills_the_store(local_server, corpus_store, offline_profile,
                                                                  tmp_path):
    home, api_url = local_server
    data, _, _ = corpus_store
    store = tmp_path / "store"
    deployed = make("deploy", f"SERVER_HOME={home}").stdout
    names = deployment_names()
    assert {"ingest/rainrag", "distill/rainrag"} <= names   # one name, two flows
    for name in names:
        assert f"Deployment '{name}' successfully created" in deployed, deployed[-3000:]

    env = prefect_env(home, api_url)
    # the README's command as written, on this test's corpus and store (the models dir and shard size added)
    readme = re.search(r"^\.venv/bin/prefect deployment run distill/rainrag (.+)$", (ROOT / "README.md").read_text(),
                       re.MULTILINE)
    documented = readme.group(1).replace("$PWD/.demo/data", str(data)).replace("$PWD/.demo/store", str(store)).split()
    assert documented == ["-p", f"data_root={data}", "-p", f"store={store}", "-p", "profile=offline"], documented
    run = subprocess.run([str(BIN / "prefect"), "deployment", "run", "distill/rainrag", *documented, "-p",
                          f"models_dir={offline_profile.models_dir}", "-p", "shard_size=64"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout).group(1)
    worker = run_in_group([str(BIN / "prefect"), "worker", "start", "--pool", "rainrag-process", "--run-once"],
                          env, timeout=900)
    with urllib.request.urlopen(f"{api_url}/flow_runs/{flow_run_id}", timeout=10) as response:
        state = json.load(response)["state"]
    first_error = worker.stdout.find("Traceback")   # the cause, which the run's last lines only repeat
    assert worker.returncode == 0 and state["type"] == "COMPLETED", \
        f"{state}\n{worker.stdout[first_error:first_error + 6000] if first_error >= 0 else worker.stdout[-6000:]}"

    con = duckdb.connect(str(store / "rainrag.duckdb"), read_only=True)
    one = lambda sql: con.execute(sql).fetchone()   # noqa: E731
    samples = one("select count(*) from samples")[0]
    assert samples > 100
    assert one("select count(*), count(*) filter (status = 'error') from quality") == (samples, 0)
    queries, wrong = one("select count(distinct query_id), count(*) filter (selected) - 3 * count(distinct query_id) "
                         "from retrievals")
    assert queries > 100 and wrong == 0
    # every query outside the public test splits was judged by the three judges once (a public test pair can
    # never be kept: it is not sent); the manifest keeps exactly the majority-yes pairs
    assert one("select count(*) from (select sample_id from votes group by 1 having count(*) <> 3 "
               "or count(distinct judge) <> 3)")[0] == 0
    assert {r[0] for r in con.execute("select distinct judge from votes").fetchall()} == JUDGES
    outside_test = one("select count(distinct r.query_id) from retrievals r join samples s on s.sample_id = r.query_id "
                       "where s.split is distinct from 'test'")[0]
    assert one("select count(distinct sample_id) from votes")[0] == outside_test < queries
    assert one("select count(*) from votes where answer not in ('yes', 'no', 'abstain', 'error')")[0] == 0
    kept = {r[0] for r in con.execute("select sample_id from manifest").fetchall()}
    majority = {r[0] for r in con.execute("select sample_id from votes group by 1 "
                                          "having count(*) filter (answer = 'yes') >= 2").fetchall()}
    assert kept and kept <= majority
    assert one("select count(*) from manifest m join (select sample_id, count(*) filter (answer = 'yes') as yes "
               "from votes group by 1) v using (sample_id) where m.yes_votes <> v.yes")[0] == 0
    subsets = {r[0] for r in con.execute("select distinct subset from manifest").fetchall()}
    assert subsets <= {"DRS", "DRD", "NRS", "NRD"}
    assert {r[0] for r in con.execute("select distinct split from manifest").fetchall()} <= {"train", "test"}
    con.close()

    documented = documented_queries()
    assert any("from votes" in sql for sql in documented) and any("manifest" in sql for sql in documented)
    assert any("defects.csv" in sql for sql in documented)   # the corpus's known answers, next to it
    for sql in documented:   # what `make demo` and the README print must run on a store the flow built
        sql = sql.replace("$(DEMO_DIR)/data", str(data)).replace(".demo/data", str(data))
        assert shell_rows(store / "rainrag.duckdb", sql), sql
