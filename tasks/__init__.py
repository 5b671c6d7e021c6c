"""Stages as plain shard functions (no Prefect import), and the one generic Prefect runner (runner.py)."""
