"""Summary queries kept in <store>/_catalog_cache/ while the parts the catalog's views read are unchanged."""
from __future__ import annotations

import os

import duckdb
import pyarrow as pa
import pytest

from storage.catalog import CACHE, query, query_cached, refresh_catalog
from storage.ledger import LedgerRecord
from storage.store import Store

SQL = "select shard, sum(x) as total, count(*) as n from t group by 1 order by 1"


def _done_part(store: Store, shard: str, fingerprint: str, values: list[int]) -> None:
    path = store.write_part("t", shard, fingerprint, pa.table({"shard": [shard] * len(values), "x": values}))
    store.ledger.write(LedgerRecord("s", shard, fingerprint, "done", 1.0, 2.0, rows={"t": len(values)},
                                    outputs={"t": path.relative_to(store.root).as_posix()}))


@pytest.fixture()
def store(tmp_path) -> Store:
    store = Store(tmp_path / "store")
    _done_part(store, "d-00000", "f1", [1, 2])
    refresh_catalog(store)
    return store


def test_a_repeated_query_is_answered_without_duckdb(store, monkeypatch):
    first = query_cached(store, SQL)
    assert first == query(store, SQL) == [{"shard": "d-00000", "total": 3, "n": 2}]
    assert list(first[0]) == ["shard", "total", "n"], "column order survives the cache"

    def refuse(*args, **kwargs):
        raise AssertionError("DuckDB was opened for a cached query")

    monkeypatch.setattr(duckdb, "connect", refuse)
    assert query_cached(store, SQL) == first
    assert len(list((store.root / CACHE).glob("*/*.json"))) == 1


def test_new_parts_and_parts_rewritten_in_place_are_seen(store):
    query_cached(store, SQL)
    _done_part(store, "d-00001", "f2", [10])
    refresh_catalog(store)
    assert query_cached(store, SQL) == [{"shard": "d-00000", "total": 3, "n": 2},
                                        {"shard": "d-00001", "total": 10, "n": 1}]
    assert len(list((store.root / CACHE).iterdir())) == 1, "results of the old catalog state are dropped"

    # A repair rewrites a part under its own name (same fingerprint): no catalog change, new content.
    part = store.current_part("t", "d-00001")
    before = part.stat()
    store.write_part("t", "d-00001", "f2", pa.table({"shard": ["d-00001"] * 3, "x": [10, 20, 30]}))
    os.utime(part, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))  # coarse clocks: force a new mtime
    assert not refresh_catalog(store), "the views did not change"
    assert query_cached(store, SQL)[1] == {"shard": "d-00001", "total": 60, "n": 3}


def test_ledger_view_and_missing_catalog(tmp_path, store):
    with pytest.raises(ValueError, match="ledger"):
        query_cached(store, "select count(*) from ledger")
    assert query_cached(Store(tmp_path / "empty"), SQL) == []
