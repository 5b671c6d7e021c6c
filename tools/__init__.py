"""What is neither a flow nor a stage: the export of RainRAG to the authors' layout (tools.export) and
the supervisor of the local Prefect server and worker (tools.server, behind `make server`/`make stop`)."""
