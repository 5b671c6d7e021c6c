"""The agreement study's report as a flow run: `reports/agreement.md`, its plot, and the artifact
`agreement-report` that shows both in the Prefect UI.

    python -m review study report --store /data/rainrag [--name agreement]

(tasks.reviewing.study draws the study and measures it; review/ is where people answer it.)
"""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from storage.images import image_data_uri
from storage.store import Store
from tasks.reviewing.report import markdown, write_report
from tasks.reviewing.study import STUDY_NAME, measure


@flow(name="agreement-report")
def agreement_report(store: str, study: str = STUDY_NAME, seed: int = 0) -> str:
    """Measure the study `study` of `store` and write its report; returns the report's path."""
    result = measure(Store(store), study, seed)
    md, png = write_report(Store(store), result)
    get_run_logger().info("study %s: %d pairs, %d reviewers, human–VLM agreement %s; report %s", study,
                          result.pairs, len(result.reviewers), result.table2_agreement.text(percent=True), md)
    create_markdown_artifact(key="agreement-report", markdown=markdown(result, image_data_uri(png)),
                             description=f"human–judge agreement of study {study} ({md})")
    return str(md)
