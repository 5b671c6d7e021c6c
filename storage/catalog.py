"""The DuckDB catalog `<store>/rainrag.duckdb`: one view per table, ready for `duckdb <file>`.

Views read exactly the parts the ledger records as done, so a half-finished or killed run never shows
a duplicate row. The file is rebuilt in a temporary name and renamed over the old one: a user who has
the catalog open in the DuckDB shell keeps reading the old file and never blocks a run. It is written
in an older storage format because the `duckdb` shell lags the Python package.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from storage.atomic import atomic_write, write_json
from storage.reviews import reviews_dir
from storage.store import Store

CATALOG_STORAGE_VERSION = "v1.4.0"
STAMP = "_catalog.sha256"  # digest of the views' SQL: the catalog is rebuilt when it changes
PART_LIST = "_catalog.parts.json"  # the part files the table views read, for `query_cached`
CACHE = "_catalog_cache"
LEDGER_VIEW = re.compile(r"\bledger\b", re.IGNORECASE)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def current_parts(store: Store) -> dict[str, list[Path]]:
    """table -> the parts of the done ledger records whose files exist (one per shard)."""
    parts: dict[str, set[Path]] = defaultdict(set)
    for record in store.ledger.records():
        if record.status != "done":
            continue
        for table, rel in record.outputs.items():
            path = store.root / rel
            if path.exists():
                parts[table].add(path)
    return {table: sorted(paths) for table, paths in sorted(parts.items())}


def catalog_sql(store: Store, parts: dict[str, list[Path]] | None = None) -> list[str]:
    statements = []
    for table, paths in (current_parts(store) if parts is None else parts).items():
        files = ", ".join(_sql_literal(p.as_posix()) for p in paths)
        statements.append(
            f"CREATE OR REPLACE VIEW cat.{table} AS SELECT * FROM read_parquet([{files}], union_by_name=true)"
        )
    if any((store.root / "releases").glob("rainrag-*.parquet")):   # tasks.curation.releases: every version
        releases_glob = _sql_literal((store.root / "releases" / "rainrag-*.parquet").as_posix())
        statements.append(f"CREATE OR REPLACE VIEW cat.releases AS SELECT * FROM read_parquet({releases_glob}, "
                          "union_by_name=true)")
    if any(reviews_dir(store).glob("part-*.parquet")):   # storage.reviews: appended by the review app
        reviews_glob = _sql_literal((reviews_dir(store) / "part-*.parquet").as_posix())
        statements.append(f"CREATE OR REPLACE VIEW cat.reviews AS SELECT * FROM read_parquet({reviews_glob})")
    ledger_glob = _sql_literal((store.root / "_ledger" / "*" / "*" / "*.json").as_posix())
    if any(store.ledger.records()):
        statements.append(f"CREATE OR REPLACE VIEW cat.ledger AS SELECT * FROM read_json({ledger_glob}, "
                          "union_by_name=true)")
    return statements


def refresh_catalog(store: Store) -> bool:
    """Rebuild the catalog when its views changed; returns whether the file was rewritten."""
    parts = current_parts(store)
    statements = catalog_sql(store, parts)
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    stamp = store.root / STAMP
    part_list = [p.relative_to(store.root).as_posix() for paths in parts.values() for p in paths]
    if store.catalog_path.exists() and stamp.exists() and stamp.read_text() == digest:
        if not (store.root / PART_LIST).exists():
            write_json(store.root / PART_LIST, part_list)
        return False
    tmp = store.catalog_path.with_name(f".{store.catalog_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_sql_literal(tmp.as_posix())} AS cat (STORAGE_VERSION '{CATALOG_STORAGE_VERSION}')")
        for statement in statements:
            con.execute(statement)
        con.execute("DETACH cat")
    finally:
        con.close()
    os.replace(tmp, store.catalog_path)
    write_json(store.root / PART_LIST, part_list)
    stamp.write_text(digest)
    return True


@contextmanager
def read_only(store: Store) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """One read-only connection to the catalog for several queries (None when there is no catalog)."""
    if not store.catalog_path.exists():
        yield None
        return
    con = duckdb.connect(store.catalog_path.as_posix(), read_only=True)
    try:
        yield con
    finally:
        con.close()


def query(store: Store, sql: str, con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Rows of a read-only query on the catalog, as dicts (empty when the catalog or a view is absent).
    `con`: a connection from `read_only` (else one is opened for this query, about 40 ms here)."""
    if con is None:
        with read_only(store) as opened:
            return [] if opened is None else query(store, sql, opened)
    try:
        cursor = con.execute(sql)
    except duckdb.CatalogException:
        return []
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _views_state(store: Store) -> str | None:
    """Digest of the views' SQL and the size and mtime of every part file they read; None without a catalog.

    Part files are named by fingerprint and written once, except that a repair (retrying failed judge
    calls) rewrites a part under its own name: the stat catches that too.
    """
    stamp, part_list = store.root / STAMP, store.root / PART_LIST
    if not (store.catalog_path.exists() and stamp.exists() and part_list.exists()):
        return None
    state = hashlib.sha256(stamp.read_bytes())
    for rel in json.loads(part_list.read_text(encoding="utf-8")):
        try:
            st = os.stat(store.root / rel)
        except FileNotFoundError:
            return None  # the catalog is older than the store: no caching until it is refreshed
        state.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return state.hexdigest()


def query_cached(store: Store, sql: str) -> list[dict]:
    """`query`, with its rows kept under <store>/_catalog_cache/ for as long as the parts the views read
    are unchanged.

    A rerun with nothing new then answers its summary queries without opening DuckDB (about 40 ms per
    connection here, and a scan of whole tables on a large store). Only for queries over the table
    views: the `ledger` view reads JSON files that every run adds to. Rows that are not plain JSON
    (dates, decimals) are returned uncached.
    """
    if LEDGER_VIEW.search(sql):
        raise ValueError("query_cached is for the table views; the ledger view changes with every run")
    state = _views_state(store)
    if state is None:
        return query(store, sql)
    folder = store.root / CACHE / state
    entry = folder / f"{hashlib.sha256(sql.encode()).hexdigest()}.json"
    if entry.exists():
        return json.loads(entry.read_text(encoding="utf-8"))
    rows = query(store, sql)
    try:
        text = json.dumps(rows, allow_nan=False)  # keeps each row's column order
    except (TypeError, ValueError):
        return rows
    for old in (store.root / CACHE).glob("*"):
        if old.name != state:  # results of earlier catalog states are never read again
            shutil.rmtree(old, ignore_errors=True)
    atomic_write(entry, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return rows
