"""Stopping a service this project started in a process group of its own (`start_new_session=True`).

`ray start --block` does not always stop on SIGINT (its node processes outlive it), so the group gets
SIGINT first, for a clean shutdown, then SIGKILL. Only the group of the process we started is
signalled, never processes found by name.
"""
from __future__ import annotations

import os
import signal
import subprocess

STEPS = ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0))   # (signal, seconds to wait for the leader)


def stop_group(process: subprocess.Popen, steps: tuple[tuple[int, float], ...] = STEPS) -> None:
    """Signal the process group led by `process`, step by step, until its leader has exited."""
    for sig, wait_s in steps:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGKILL:
            return
        try:   # the leader is gone; its children may not be
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return
