"""A real two-node Ray cluster on 127.0.0.1 for the tests: a head and a second node with a custom
resource, 1 CPU each, started with `ray start --block` in process groups of their own and stopped by
those groups (SIGINT, then SIGKILL), never by name."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

from tools.process_group import stop_group

RAY = str(Path(sys.executable).with_name("ray"))
SECOND_NODE = "second_node"
OBJECT_STORE_BYTES = 80_000_000   # small: the tests move only stage configs through it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    address: str
    head: subprocess.Popen
    second: subprocess.Popen

    def processes(self) -> list[psutil.Process]:
        """Every process of the cluster: the two `ray start` groups and their descendants."""
        found = []
        for root in (self.head, self.second):
            try:
                parent = psutil.Process(root.pid)
                found += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return found


# Ray's token authentication is for clusters on a network; this one listens on loopback for one test
# session, and its drivers (the flows the tests start) inherit the setting from os.environ.
AUTH = {"RAY_AUTH_MODE": "disabled"}


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **AUTH}
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--num-cpus", "1",
                             "--object-store-memory", str(OBJECT_STORE_BYTES), *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=env)


def _alive_nodes(address: str) -> int:
    out = subprocess.run([RAY, "status", "--address", address], capture_output=True, text=True, timeout=60)
    return out.stdout.count(" node_") if out.returncode == 0 else 0


@contextmanager
def two_node_cluster(logs: Path) -> Iterator[Cluster]:
    os.environ.update(AUTH)
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = _spawn(["--head", "--port", str(port), "--include-dashboard", "false"], logs / "ray-head.log")
    second = None
    try:
        deadline = time.monotonic() + 120
        while _alive_nodes(address) < 1:
            assert time.monotonic() < deadline and head.poll() is None, (logs / "ray-head.log").read_text()[-2000:]
            time.sleep(1)
        second = _spawn(["--address", address, "--resources", f'{{"{SECOND_NODE}": 1}}'], logs / "ray-second.log")
        while _alive_nodes(address) < 2:
            assert time.monotonic() < deadline and second.poll() is None, (logs / "ray-second.log").read_text()[-2000:]
            time.sleep(1)
        yield Cluster(address, head, second)
    finally:
        for process in (second, head):
            if process is not None:
                stop_group(process)
