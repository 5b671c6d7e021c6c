"""The store's building blocks: atomic writes, parts, ledger, fingerprints, shard assignment."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.atomic import atomic_write, write_json
from storage.fingerprint import fingerprint, stage_fingerprint
from storage.ledger import LedgerRecord
from storage.sources.discover import sample_id, shard_hash
from storage.sources.staging import partition, shard_count, stage_shards, write_candidates
from storage.store import Store


def test_atomic_write_leaves_nothing_behind_when_the_writer_fails(tmp_path):
    target = tmp_path / "x.json"
    write_json(target, {"a": 1})

    def explode(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert target.read_text() == write_json(tmp_path / "y.json", {"a": 1}).read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "y.json"]


def test_write_part_replaces_the_parts_of_other_fingerprints(tmp_path):
    store = Store(tmp_path)
    store.write_part("t", "d-00000", "aaa", pa.table({"x": [1]}))
    path = store.write_part("t", "d-00000", "bbb", pa.table({"x": [2, 3]}))
    assert [p.name for p in path.parent.iterdir()] == ["part-bbb.parquet"]
    assert pq.read_table(path).column("x").to_pylist() == [2, 3]


def test_shard_keys_are_validated(tmp_path):
    with pytest.raises(ValueError, match="invalid shard key"):
        Store(tmp_path).shard_dir("t", "../escape")


def test_ledger_records_done_and_failed(tmp_path):
    store = Store(tmp_path)
    store.ledger.write(LedgerRecord("s", "d-00000", "f1", "failed", 1.0, 2.0, error="boom"))
    assert not store.ledger.is_done("s", "d-00000", "f1")
    store.ledger.write(LedgerRecord("s", "d-00000", "f1", "done", 1.0, 3.0, rows={"t": 4}))
    record = store.ledger.get("s", "d-00000", "f1")
    assert record.status == "done" and record.rows == {"t": 4} and record.seconds == 2.0
    assert not store.ledger.is_done("s", "d-00000", "f2")
    store.ledger.forget_shard("s", "d-00000")
    assert list(store.ledger.records()) == []


def test_fingerprints_ignore_key_order_and_see_every_ingredient():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    base = stage_fingerprint("s", "1", {"k": 3}, "input")
    assert len({base, stage_fingerprint("s", "2", {"k": 3}, "input"),
                stage_fingerprint("s", "1", {"k": 4}, "input"),
                stage_fingerprint("s", "1", {"k": 3}, "other")}) == 4


@pytest.mark.parametrize("count,size,expected", [(0, 10, 1), (10, 10, 1), (11, 10, 2), (41, 10, 8), (5000, 2048, 4)])
def test_shard_count_is_a_power_of_two_near_the_shard_size(count, size, expected):
    assert shard_count(count, size) == expected


def _candidate(i: int, clean: str | None = None) -> dict:
    sid = sample_id("D", f"D/{i}.png")
    return {"sample_id": sid, "dataset": "D", "split": "train", "pairing": "unpaired", "pairing_rule": "D/r",
            "rainy_path": f"D/{i}.png", "rainy_path_raw": None, "clean_path": clean, "clean_path_raw": None,
            "side_by_side": None, "time_of_day": "day", "rain_type": "streak", "is_real": True, "problem": None,
            "shard_hash": shard_hash(clean or f"D/{i}.png")}


def test_partition_is_deterministic_and_complete(tmp_path):
    rows = [_candidate(i) for i in range(100)]
    out = []
    for run, ordered in enumerate([rows, list(reversed(rows))]):
        folder = tmp_path / str(run)
        count = write_candidates(iter(ordered), folder / "c.parquet")
        keys = partition(folder / "c.parquet", "D", count, 30, folder)
        assert keys == [f"D-{i:05d}" for i in range(4)]
        out.append({k: pq.read_table(folder / f"{k}.parquet").column("sample_id").to_pylist() for k in keys})
    assert out[0] == out[1]
    assert sorted(sum(out[0].values(), [])) == sorted(r["sample_id"] for r in rows)


def test_in_memory_and_duckdb_partitions_write_the_same_shards(tmp_path):
    rows = [_candidate(i, clean=f"D/gt/{i // 3}.png" if i % 2 else None) for i in range(700)]
    shards = {}
    for limit in (10**6, 100):  # in memory (small datasets), then spilled and split by DuckDB (large ones)
        folder = tmp_path / str(limit)
        keys = stage_shards(iter(rows), "D", 40, folder, in_memory_rows=limit)
        assert sorted(p.name for p in folder.iterdir()) == [f"{k}.parquet" for k in keys], "no scratch left"
        shards[limit] = {k: pq.read_table(folder / f"{k}.parquet") for k in keys}
    keys = list(shards[100])
    assert keys == list(shards[10**6]) == sorted(keys) and len(keys) > 10, "keys in shard order past D-00009"
    assert all(shards[100][k].equals(shards[10**6][k]) for k in keys)
    assert stage_shards(iter([]), "D", 40, tmp_path / "none") == []


def test_rainy_images_of_one_clean_image_share_a_shard(tmp_path):
    rows = [_candidate(i, clean=f"D/gt/{i // 10}.png") for i in range(200)]
    count = write_candidates(iter(rows), tmp_path / "c.parquet")
    keys = partition(tmp_path / "c.parquet", "D", count, 10, tmp_path)
    assert len(keys) > 4
    shard_of = {}
    for key in keys:
        for clean in pq.read_table(tmp_path / f"{key}.parquet").column("clean_path").to_pylist():
            assert shard_of.setdefault(clean, key) == key
    assert len(shard_of) == 20


def test_store_lock_refuses_a_live_holder_and_takes_over_a_dead_ones(tmp_path):
    import json
    import socket
    import subprocess

    from storage.store import StoreBusy

    store = Store(tmp_path)
    with store.lock("ingest"):
        with pytest.raises(StoreBusy, match="in use by another ingest run"):
            with store.lock("ingest"):
                pass
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_path / "_locks" / "ingest.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with store.lock("ingest"):
        assert json.loads(lock.read_text())["pid"] != dead.pid
    assert not lock.exists()
