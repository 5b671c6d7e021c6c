"""Reading a test's own runs back from the session's Prefect server.

The server answers a read with at most PREFECT_API_DEFAULT_LIMIT (200) rows, and the whole session's
tests share it: a run's artifacts must be asked for by flow run, never picked out of the first page.
"""
from __future__ import annotations

from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowFilter, FlowFilterName
from prefect.client.schemas.sorting import FlowRunSort


def run_artifacts(client, flow_run_id) -> list:
    """Every artifact attached to one flow run."""
    return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def latest_runs(client, flow_name: str, limit: int = 20) -> list:
    """The most recent runs of one flow, newest first."""
    return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                 sort=FlowRunSort.START_TIME_DESC, limit=limit)
