"""Prefect flows: each composes tasks and holds no stage logic; each runs from the command line too."""
