"""Fixtures of the deployment tests: free loopback ports (the fitted `offline` profile is tests/conftest.py's)."""
from __future__ import annotations

import socket

import pytest



@pytest.fixture()
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
