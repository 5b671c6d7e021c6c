"""Atomic file writes: a reader or a killed run never sees half a file.

Every write goes to a temporary name in the destination folder, is fsynced, then renamed over the
final name (rename is atomic within one filesystem), and the folder is fsynced so the rename survives
a power cut. A process killed mid-write leaves its temporary behind; the name says which host and
process wrote it (`.<name>.<host>.<pid>.<random>.tmp`), so `sweep_temporaries` removes exactly the ones
whose writer is gone, and nothing else.
"""
from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
# .<final name>.<host>.<pid>.<8 random characters of tempfile>.tmp
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp$")
# mkstemp creates files readable by their owner alone; a finished file gets the permissions any file
# written under the process's umask would have, so other users and cluster workers can read the store.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
# A temporary of another host is removed only when it is this old: that host's processes cannot be
# asked whether they are alive, and no single write takes a day.
FOREIGN_TEMPORARY_AGE_S = 24 * 3600.0


def process_alive(pid: int) -> bool:
    """Whether a process of this host with that PID runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporaries(root: Path) -> list[Path]:
    """Remove the temporaries under `root` left by writers that are gone; returns what was removed.

    Only names of the form `atomic_write` gives are considered; one of this host is removed when its
    process no longer runs, one of another host when it is older than FOREIGN_TEMPORARY_AGE_S.
    """
    removed = []
    for path in Path(root).rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match is None or not path.is_file():
            continue
        if match["host"] == _HOST:
            gone = not process_alive(int(match["pid"]))
        else:
            gone = time.time() - path.stat().st_mtime > FOREIGN_TEMPORARY_AGE_S
        if gone:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, fsync the result and rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_symlink(target: Path, link: Path) -> Path:
    """Point `link` at `target`, replacing whatever is there in one rename."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def write_json(path: Path, obj: Any) -> Path:
    text = json.dumps(obj, indent=1, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet(path: Path, table: pa.Table) -> Path:
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
