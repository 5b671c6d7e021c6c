"""The project's entry points: deployments resolve to flows, the CLI fails fast with a clear error."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]


def test_every_deployment_entrypoint_is_a_flow():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert config["deployments"]
    for deployment in config["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow), deployment["entrypoint"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.ingest", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_ingest_cli_rejects_a_missing_data_root_before_starting_prefect(tmp_path):
    result = _cli("--data-root", str(tmp_path / "nowhere"), "--store", str(tmp_path / "store"))
    assert result.returncode == 2 and "is not a folder" in result.stderr


def test_ingest_cli_names_the_broken_layouts_file(tmp_path):
    (tmp_path / "data" / "Rain12").mkdir(parents=True)
    broken = tmp_path / "broken.yaml"
    broken.write_text("datasets:\n  - name: X\n    rules: []\n")
    result = _cli("--data-root", str(tmp_path / "data"), "--store", str(tmp_path / "s"), "--layouts", str(broken))
    assert result.returncode == 2 and str(broken) in result.stderr and "origin" in result.stderr


def test_a_first_temporary_prefect_server_is_given_time_to_start():
    """The first start of a temporary server migrates a new database: more than Prefect's 20 s here."""
    import os

    probe = ("import flows, flows.distill; from prefect.settings import get_current_settings; "
             "print(get_current_settings().server.ephemeral.startup_timeout_seconds)")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split()[-1] == "120", done.stderr[-2000:]
    mine = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "45"})
    assert mine.stdout.split()[-1] == "45"   # the user's own setting wins
