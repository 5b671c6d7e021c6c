"""Prefect flows: each composes tasks and holds no stage logic; each runs from the command line too.

Without PREFECT_API_URL a flow run starts a temporary Prefect server. Its first start on a machine
creates and migrates the SQLite database under PREFECT_HOME, which took 27 s on a 2-core machine of
this project's kind, past Prefect's default wait of 20 s: the very first `make demo` failed with
"Timed out while attempting to connect to ephemeral Prefect API server". The wait is raised here,
before Prefect reads its settings; a value the user sets wins.
"""
import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
