"""A local Prefect server and process worker for rainrag, tracked by PID files: `make server|stop|deploy`.

    python -m tools.server [--home .prefect] start [--host 127.0.0.1] [--port 4200] [--no-worker]
    python -m tools.server [--home .prefect] deploy [--name distill/rainrag ...]
    python -m tools.server [--home .prefect] stop

Everything lives in one folder, the PREFECT_HOME of every process started here: the SQLite database,
`server.log`/`worker.log`, `server.pid`/`worker.pid` and `api-url`. Each process starts in its own
session, so its PID is also its process group, and `stop` ends exactly the groups the PID files name.
A PID file is trusted only while its process is alive and older than the file: a PID the system has
since given to another program is reported as stale and left alone.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROCESS_POOL = "rainrag-process"
# One run at a time per GPU machine (README, "Training"): deployments on `gpu` queue instead of sharing it.
POOL_LIMITS = {"gpu": 1}
# psutil derives start times from the boot time in whole seconds: allow that much clock skew.
START_TIME_SLACK_S = 2.0


def prefect_env(home: Path, api_url: str | None) -> dict[str, str]:
    """The environment of every Prefect process started here: nothing reads or writes ~/.prefect."""
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "RAINRAG_HOME": str(ROOT), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def spawn(command: list[str], env: dict[str, str], log: Path, pid_file: Path) -> subprocess.Popen:
    """Start `command` in a new session (its PID is its process group) and record the PID."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def recorded_process(pid_file: Path) -> psutil.Process | None:
    """The live process a PID file names, or None when the file is absent or stale."""
    try:
        pid, written = int(pid_file.read_text().split()[0]), pid_file.stat().st_mtime
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.create_time() > written + START_TIME_SLACK_S:
            return None
        return proc
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def group_members(pgid: int, started_before: float) -> list[psutil.Process]:
    """Live processes of a process group that already existed when its PID file was written."""
    members = []
    for proc in psutil.process_iter(["status", "create_time"]):
        try:
            if (os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE
                    and proc.info["create_time"] <= started_before + START_TIME_SLACK_S):
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def wait_until_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """The processes still alive after `timeout_s`. A zombie counts as gone: nobody may ever reap it
    (psutil.wait_procs would wait the whole timeout for one)."""
    deadline = time.monotonic() + timeout_s
    while True:
        procs = [p for p in procs if _alive(p)]
        if not procs or time.monotonic() > deadline:
            return procs
        time.sleep(0.1)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_recorded(pid_file: Path, name: str, grace_s: float = 10.0) -> None:
    """End the process group a PID file names: SIGTERM, then SIGINT, then SIGKILL, each given `grace_s`."""
    if not pid_file.exists():
        print(f"{name}: not running (no {pid_file})")
        return
    leader = recorded_process(pid_file)
    try:
        pgid, written = int(pid_file.read_text().split()[0]), pid_file.stat().st_mtime
    except (OSError, ValueError, IndexError):
        pgid, written = None, 0.0
    members = group_members(pgid, written) if pgid else []
    if leader is None and not members:
        print(f"{name}: stale {pid_file} (process {pgid} is gone or is another program); removed")
        pid_file.unlink(missing_ok=True)
        return
    # a worker run in the background ignores the first SIGTERM; SIGINT then stops it
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        for proc in members:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        members = wait_until_gone(members, grace_s)
        if not members:
            break
    pid_file.unlink(missing_ok=True)
    print(f"{name}: stopped (process group {pgid})")


def api_answers(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for_api(api_url: str, proc: psutil.Process | subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not api_answers(api_url):
        exited = proc.poll() is not None if isinstance(proc, subprocess.Popen) else not proc.is_running()
        if exited or time.monotonic() > deadline:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:]) if log.exists() else ""
            raise SystemExit(f"the Prefect server did not answer at {api_url} "
                             f"({'it exited' if exited else f'{timeout_s:.0f} s'}); {log}:\n{tail}")
        time.sleep(0.5)


def deployment_pools() -> list[str]:
    """Every work pool a deployment of prefect.yaml names: `prefect deploy --all` fails on a missing one."""
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return sorted({d["work_pool"]["name"] for d in config["deployments"] if d.get("work_pool")})


def ensure_pools(home: Path, api_url: str, names: list[str]) -> None:
    """Create the missing pools as process pools; an existing pool (any type, any limit) is left as it is."""
    if "prefect" not in sys.modules:   # the command line: prefect first reads its settings with this home
        os.environ.update(prefect_env(home, api_url))
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    async def create_missing() -> None:
        async with get_client() as client:
            for name in names:
                try:
                    await client.read_work_pool(name)
                except ObjectNotFound:
                    await client.create_work_pool(WorkPoolCreate(
                        name=name, type="process", concurrency_limit=POOL_LIMITS.get(name),
                        base_job_template=ProcessWorker.get_default_base_job_template()))
                    limit = f", limit {POOL_LIMITS[name]}" if name in POOL_LIMITS else ""
                    print(f"work pool {name}: created (process{limit})")

    with temporary_settings({PREFECT_API_URL: api_url}):   # also right where prefect was imported already
        asyncio.run(create_missing())


def start(home: Path, host: str, port: int, worker: bool, timeout_s: float) -> None:
    api_url, log = f"http://{host}:{port}/api", home / "server.log"
    home.mkdir(parents=True, exist_ok=True)
    server = recorded_process(home / "server.pid")
    if server is None:
        if api_answers(api_url):
            raise SystemExit(f"another Prefect server already answers at {api_url}: "
                             "choose another port (make server SERVER_PORT=...)")
        server = spawn([str(BIN / "prefect"), "server", "start", "--host", host, "--port", str(port)],
                       prefect_env(home, None), log, home / "server.pid")
        print(f"server: started (PID {server.pid}), waiting for {api_url} ...")
    elif (home / "api-url").exists() and (home / "api-url").read_text().strip() != api_url:
        raise SystemExit(f"a server of {home} already runs at {(home / 'api-url').read_text().strip()}; "
                         "make stop first to move it")
    wait_for_api(api_url, server, log, timeout_s)
    (home / "api-url").write_text(api_url + "\n")
    ensure_pools(home, api_url, deployment_pools())
    if worker and recorded_process(home / "worker.pid") is None:
        proc = spawn([str(BIN / "prefect"), "worker", "start", "--pool", PROCESS_POOL],
                     prefect_env(home, api_url), home / "worker.log", home / "worker.pid")
        print(f"worker: started on pool {PROCESS_POOL} (PID {proc.pid}, log {home / 'worker.log'})")
    print(f"\nPrefect UI: http://{host}:{port}\nexport PREFECT_API_URL={api_url}   # for the prefect CLI")


def recorded_api(home: Path) -> str:
    api_file = home / "api-url"
    if recorded_process(home / "server.pid") is None or not api_file.exists():
        raise SystemExit(f"no Prefect server of {home} is running: start one with `make server`")
    return api_file.read_text().strip()


def deploy(home: Path, names: list[str]) -> None:
    """`prefect deploy` of prefect.yaml against the recorded server (every deployment, or the named ones)."""
    api_url = recorded_api(home)
    selection = [arg for name in names for arg in ("--name", name)] or ["--all"]
    result = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", *selection], cwd=ROOT,
                            env=prefect_env(home, api_url))
    if result.returncode:
        raise SystemExit(result.returncode)
    print(f"\nexport PREFECT_API_URL={api_url}\nprefect deployment run distill/rainrag "
          "-p data_root=/data/rain -p store=/data/rainrag")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=ROOT / ".prefect", help="PREFECT_HOME of the server")
    commands = parser.add_subparsers(dest="command", required=True)
    start_cmd = commands.add_parser("start", help="start the server and a worker of the process pool")
    start_cmd.add_argument("--host", default="127.0.0.1")
    start_cmd.add_argument("--port", type=int, default=4200)
    start_cmd.add_argument("--no-worker", action="store_true", help="only the server (and the pools)")
    start_cmd.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the API")
    deploy_cmd = commands.add_parser("deploy", help="register the deployments of prefect.yaml")
    deploy_cmd.add_argument("--name", action="append", default=[], help="flow/deployment (default: all)")
    commands.add_parser("stop", help="stop the worker and the server this folder recorded")
    args = parser.parse_args(argv)
    home = args.home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if args.command == "start":
        start(home, args.host, args.port, not args.no_worker, args.timeout)
    elif args.command == "deploy":
        deploy(home, args.name)
    else:
        stop_recorded(home / "worker.pid", "worker")
        stop_recorded(home / "server.pid", "server")


if __name__ == "__main__":
    main()
