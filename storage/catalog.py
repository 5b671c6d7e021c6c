"""The DuckDB catalog `<store>/rainrag.duckdb`: one view per table, ready for `duckdb <file>`.

Views read exactly the parts the ledger records as done, so a half-finished or killed run never shows
a duplicate row. The file is rebuilt in a temporary name and renamed over the old one: a user who has
the catalog open in the DuckDB shell keeps reading the old file and never blocks a run. It is written
in an older storage format because the `duckdb` shell lags the Python package.
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

import duckdb

from storage.store import Store

CATALOG_STORAGE_VERSION = "v1.4.0"


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


def catalog_sql(store: Store) -> list[str]:
    statements = []
    for table, paths in current_parts(store).items():
        files = ", ".join(_sql_literal(p.as_posix()) for p in paths)
        statements.append(
            f"CREATE OR REPLACE VIEW cat.{table} AS SELECT * FROM read_parquet([{files}], union_by_name=true)"
        )
    ledger_glob = _sql_literal((store.root / "_ledger" / "*" / "*" / "*.json").as_posix())
    if any(store.ledger.records()):
        statements.append(f"CREATE OR REPLACE VIEW cat.ledger AS SELECT * FROM read_json({ledger_glob}, "
                          "union_by_name=true)")
    return statements


def refresh_catalog(store: Store) -> bool:
    """Rebuild the catalog when its views changed; returns whether the file was rewritten."""
    statements = catalog_sql(store)
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    stamp = store.root / "_catalog.sha256"
    if store.catalog_path.exists() and stamp.exists() and stamp.read_text() == digest:
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
    stamp.write_text(digest)
    return True


def query(store: Store, sql: str) -> list[dict]:
    """Rows of a read-only query on the catalog, as dicts (empty when the catalog or a view is absent)."""
    if not store.catalog_path.exists():
        return []
    con = duckdb.connect(store.catalog_path.as_posix(), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    except duckdb.CatalogException:
        return []
    finally:
        con.close()
