"""`make stop` (python -m tools.server stop) ends exactly the recorded process groups, whatever the PID files say."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tools.server import ROOT, group_members, spawn

SLEEPERS = ["sh", "-c", "sleep 300 & sleep 300 & wait"]   # a leader with two children in its group


def server_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.server", "--home", str(home), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture()
def bystander():
    """A process in its own session that no PID file of the test's home names (until a test writes one)."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_stop_ends_the_recorded_groups_with_their_children_and_nothing_else(tmp_path, bystander):
    procs = {name: spawn(SLEEPERS, dict(os.environ), tmp_path / f"{name}.log", tmp_path / f"{name}.pid")
             for name in ("worker", "server")}
    try:
        deadline = time.monotonic() + 10
        while any(len(group_members(p.pid, time.time())) < 3 for p in procs.values()):
            assert time.monotonic() < deadline, "the sleepers did not start"
            time.sleep(0.05)
        members = [m.pid for p in procs.values() for m in group_members(p.pid, time.time())]
        result = server_cli(tmp_path, "stop")
        assert result.returncode == 0, result.stderr
        assert "worker: stopped" in result.stdout and "server: stopped" in result.stdout
        assert not [pid for pid in members if alive(pid)]
        assert alive(bystander.pid)
        assert not list(tmp_path.glob("*.pid"))
        again = server_cli(tmp_path, "stop")   # nothing recorded any more: a no-op, not an error
        assert again.returncode == 0 and "not running" in again.stdout
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_a_pid_the_system_gave_to_another_program_is_stale_and_left_alone(tmp_path, bystander):
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(f"{bystander.pid}\n")
    an_hour_ago = time.time() - 3600   # the file predates the process: the PID was reused since
    os.utime(pid_file, (an_hour_ago, an_hour_ago))
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "worker.pid").write_text(f"{gone.pid}\n")
    result = server_cli(tmp_path, "stop")
    assert result.returncode == 0, result.stderr
    assert "server: stale" in result.stdout and "worker: stale" in result.stdout
    assert alive(bystander.pid)
    assert not pid_file.exists() and not (tmp_path / "worker.pid").exists()


def test_a_garbled_pid_file_is_stale(tmp_path):
    (tmp_path / "server.pid").write_text("not a pid\n")
    result = server_cli(tmp_path, "stop")
    assert result.returncode == 0 and "server: stale" in result.stdout
    assert not (tmp_path / "server.pid").exists()


def test_deploy_without_a_running_server_says_how_to_start_one(tmp_path):
    result = server_cli(tmp_path, "deploy")
    assert result.returncode != 0 and "make server" in result.stderr
