"""Half-written files of killed runs are swept: only rainrag's own, only those whose writer is gone."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from storage.atomic import FOREIGN_TEMPORARY_AGE_S, _HOST, atomic_write
from storage.store import Store


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_gone_writers_are_removed_and_nothing_else(tmp_path):
    store = Store(tmp_path / "store")
    shard = store.shard_dir("samples", "Rain100L-00000")
    shard.mkdir(parents=True)
    dead = shard / f".part-abc.parquet.{_HOST}.{_dead_pid()}.k3j_x9aa.tmp"
    live = shard / f".part-abd.parquet.{_HOST}.{os.getpid()}.u2m1q0zz.tmp"
    foreign_young = shard / ".part-abe.parquet.other-node.4242.a1b2c3d4.tmp"
    foreign_old = shard / ".part-abf.parquet.other-node.4242.e5f6g7h8.tmp"
    users_own = shard / ".notes.tmp"
    for path in (dead, live, foreign_young, foreign_old, users_own):
        path.write_bytes(b"half")
    stale = time.time() - FOREIGN_TEMPORARY_AGE_S - 60
    os.utime(foreign_old, (stale, stale))
    assert sorted(store.sweep_temporaries()) == sorted([dead, foreign_old])
    assert sorted(p.name for p in shard.iterdir()) == sorted(p.name for p in (live, foreign_young, users_own))


def test_a_write_killed_midway_leaves_a_temporary_the_next_sweep_removes(tmp_path):
    """A real writer process, SIGKILLed inside its write: its temporary is named after it and swept."""
    target = tmp_path / "store" / "samples" / "shard=a-00000" / "part-x.parquet"
    script = ("import sys, time\nfrom pathlib import Path\nfrom storage.atomic import atomic_write\n"
              f"atomic_write(Path({str(target)!r}), lambda tmp: (tmp.write_bytes(b'half'), print('writing', flush=True),"
              " time.sleep(60)))\n")
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    left = list(target.parent.glob(".*.tmp"))
    assert len(left) == 1 and f".{writer.pid}." in left[0].name and not target.exists()
    assert Store(tmp_path / "store").sweep_temporaries() == left and not list(target.parent.iterdir())
    atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))   # our own write leaves nothing behind
    assert [p.name for p in target.parent.iterdir()] == ["part-x.parquet"]
