"""The rainrag table store: Parquet shards, the ledger, fingerprints, the DuckDB catalog, dataset sources.

Nothing in this package imports Prefect: stages run in-process, under Prefect or on Ray alike.
"""
