"""Fixtures of the deployment tests: the distill tests' fitted `offline` profile, and free loopback ports."""
from __future__ import annotations

import socket

import pytest

from tests.distill.conftest import offline_profile  # noqa: F401  (a session fixture, reused as it is)


@pytest.fixture()
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
