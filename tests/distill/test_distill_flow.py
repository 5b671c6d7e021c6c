"""The distill flow under Prefect, and its command line's fail-fast checks."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from storage.catalog import query
from storage.store import Store
from tests.prefect_reads import latest_runs, run_artifacts


ROOT = Path(__file__).resolve().parents[2]


def documented_queries() -> list[str]:
    """SQL given to the DuckDB shell in the Makefile's demo and in the README, quotes unescaped."""
    text = (ROOT / "Makefile").read_text() + (ROOT / "README.md").read_text()
    found = re.findall(r'duckdb \S*rainrag\.duckdb \\?"((?:[^"\\]|\\.)+?)\\?"', text)
    assert len(found) >= 4, found
    return [sql.replace('\\"', '"') for sql in found]


def distill_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.distill", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_missing_model_fails_fast_naming_the_model_and_the_fetch_command(corpus_store, tmp_path):
    data, _, _ = corpus_store
    result = distill_cli("--data-root", str(data), "--store", str(tmp_path / "store"),
                         "--profile", "offline", "--models-dir", str(tmp_path / "no-models"))
    assert result.returncode == 2
    assert "niqe-sample-corpus" in result.stderr and "make models PROFILE=offline" in result.stderr
    assert not (tmp_path / "store").exists()


def test_unknown_profile_is_a_clear_error(corpus_store, tmp_path):
    data, _, _ = corpus_store
    result = distill_cli("--data-root", str(data), "--store", str(tmp_path / "s"), "--profile", "nope")
    assert result.returncode == 2 and "unknown profile 'nope'" in result.stderr and "offline" in result.stderr


@pytest.mark.slow
def test_flow_builds_every_table_and_a_rerun_computes_nothing(corpus_store, offline_profile, tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    data, _, _ = corpus_store
    store = tmp_path / "store"
    args = ("--data-root", str(data), "--store", str(store), "--profile", "offline",
            "--models-dir", str(offline_profile.models_dir), "--shard-size", "64")
    env = {"PREFECT_API_URL": PREFECT_API_URL.value()}
    first = distill_cli(*args, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    counts = {r["stage"]: (r["rows"], r["errors"]) for r in query(Store(store), "select * from ("
              "select 'samples' as stage, count(*) as rows, 0 as errors from samples union all "
              "select 'quality', count(*), count(*) filter (status='error') from quality union all "
              "select 'captions', count(*), count(*) filter (status='error') from captions union all "
              "select 'embeddings', count(*), count(*) filter (status='error') from embeddings)")}
    n = counts["samples"][0]
    assert n > 100 and counts == {t: (n, 0) for t in ("samples", "quality", "captions", "embeddings")}
    queries = query(Store(store), "select count(distinct query_id) as n, count(*) filter (selected) as chosen "
                                  "from retrievals")[0]
    assert queries["n"] > 100 and queries["chosen"] == 3 * queries["n"]
    sheets = {p.name for p in (store / "reports" / "retrieval").glob("*.png")}
    assert sheets == {f"retrieval-{subset}.png" for subset in ("DRS", "DRD", "NRS", "NRD")}
    for sheet in sheets:   # a query column plus K3 reference columns of 128-px thumbnails, not a blank file
        with Image.open(store / "reports" / "retrieval" / sheet) as image:
            assert image.width == 4 * 128 and image.height >= 158 and len(set(image.getdata())) > 1000
    con = duckdb.connect(str(store / "rainrag.duckdb"), read_only=True)
    for sql in documented_queries():   # the demo and the README print these: they must run on this store
        sql = sql.replace("$(DEMO_DIR)/data", str(data)).replace(".demo/data", str(data))   # the corpus's labels
        assert con.execute(sql).fetchall(), sql
    con.close()
    ledger = sorted(p.relative_to(store) for p in (store / "_ledger").rglob("*.json"))
    second = distill_cli(*args, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.relative_to(store) for p in (store / "_ledger").rglob("*.json")) == ledger
    for stage in ("quality", "caption", "embed", "retrieve"):
        assert re.search(rf"{stage}: (\d+) shards, \1 already done, 0 to run", second.stderr + second.stdout), stage
    # both runs carry their summaries (the rerun's answered from the query cache), sent in the background
    # and attached before the run ended; the first run's progress bars all reached 100 %
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = sorted((r for r in latest_runs(client, "distill") if r.parameters.get("store") == str(store)),
                      key=lambda r: r.start_time)
        artifacts = [run_artifacts(client, r.id) for r in runs]
    summaries = {"ingest-counts", "retrieval-contact-sheets", "dataset-card", "manifest-summary", "distill-stages",
                 "distill-pool"}   # (ingest-rejects only when there are rejects)
    assert len(runs) == 2 and [summaries - {a.key for a in run} for run in artifacts] == [set(), set()]
    # the first run released RainRAG 1.0 and says what it holds; the rerun released nothing
    [diff] = [a for a in artifacts[0] if a.key == "manifest-diff"]
    assert diff.data.startswith("# RainRAG (nothing) → 1.0") and "pairs added, 0 removed" in diff.data
    assert not [a for a in artifacts[1] if a.key == "manifest-diff"]
    # the UI shows the pictures themselves, not paths it cannot open
    shown = {a.key: a.data for a in artifacts[0] if a.key in ("retrieval-contact-sheets", "dataset-card")}
    assert shown["retrieval-contact-sheets"].count("](data:image/") == 4 and shown["dataset-card"].count("](data:image/") == 2
    bars = [a for a in artifacts[0] if a.type == "progress"]
    assert bars and all(float(a.data) == 100.0 for a in bars)
    assert not [a for a in artifacts[1] if a.type == "progress"], "the rerun ran no stage"
    assert list((store / "_catalog_cache").glob("*/*.json")), "the summaries were cached"
