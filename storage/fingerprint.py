"""Fingerprints: short stable hashes of JSON-able values and of files.

A shard's fingerprint is hash(input content, stage config, stage code version); a stage skips a shard
whose fingerprint the ledger records as done, so changing any of the three re-runs exactly that shard.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

FINGERPRINT_CHARS = 20


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values always give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def fingerprint(value: Any) -> str:
    """A short hex digest of a JSON-able value (dicts in any key order hash the same)."""
    digest = hashlib.sha256(canonical_json(value).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def stage_fingerprint(stage: str, version: str, config: Any, input_fingerprint: str) -> str:
    return fingerprint({"stage": stage, "version": version, "config": config, "input": input_fingerprint})


def content_hash(data: bytes) -> str:
    """Content hash of a file's bytes (BLAKE2b-128: collision-safe for dedup, faster than SHA-256)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
