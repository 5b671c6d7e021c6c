"""The control-plane benchmark's simulated DAG: its synthetic stages write the real schemas at the paper's
sizes through the same ledger and catalog, so what it measures is what a real run's store holds."""
from __future__ import annotations

from benchmarks.control_plane import DUPLICATE_EVERY, JUDGES, K2, KEPT_EVERY, OUTPUT_SCHEMAS, shard_names, simulated_dag
from storage.catalog import query, refresh_catalog
from storage.stage import GLOBAL_SHARD, plan, run_inline
from storage.store import Store
from tasks.dag import DISTILL


def test_the_simulated_dag_writes_every_table_of_the_real_one_at_the_paper_sizes(tmp_path):
    store, shards = Store(tmp_path / "store"), shard_names(3)
    dag = simulated_dag(90, shards)
    assert [stage.name for stage, _ in dag] == [spec.name for spec in DISTILL]
    assert all(stage.outputs == spec.outputs for (stage, _), spec in zip(dag, DISTILL))
    for stage, keys in dag:
        run_inline(store, stage, keys)
    for table, schema in OUTPUT_SCHEMAS.items():
        shard = GLOBAL_SHARD if table in ("duplicates", "manifest", "audit", "decisions") else shards[0]
        assert store.read_shard(table, shard).schema.equals(schema), table
    assert refresh_catalog(store)
    counts = query(store, "select (select count(*) from samples) as samples, (select count(*) from votes) as votes, "
                          "(select count(*) from retrievals) as retrievals, (select count(*) from manifest) as kept, "
                          "(select count(distinct sample_id) from embeddings) as embedded, "
                          "(select count(*) from duplicates) as copies")[0]
    assert counts == {"samples": 270, "votes": 270 * JUDGES, "retrievals": 270 * K2, "kept": 270 // KEPT_EVERY,
                      "embedded": 270, "copies": -(-270 // DUPLICATE_EVERY)}
    assert all(plan(store, stage, keys)[0] == [] for stage, keys in dag)   # an unchanged rerun runs nothing
