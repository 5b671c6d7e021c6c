"""The distill flow: the stages of tasks.dag in order, ingest → quality → … → manifest → audit.

    python -m flows.distill --data-root /data/rain --store /data/rainrag --profile offline

Each stage runs per shard through the generic runner, so a rerun does only what is missing or what a
changed setting affects: a new captioner id re-runs caption and embed, a new pool threshold re-runs
quality alone, another --min-yes rebuilds the manifest alone. Models load once per process, on the
first shard that needs them. Manifest and audit are global steps (the shard "all"), skipped through
the ledger like any shard when nothing they read changed. This module adds only what Prefect is for:
the store's lock, artifacts, the rule that a stage with a failed shard stops the run there, and the
rule that an empty result (no reference in the pool, no pair in RainRAG) fails the run with its reason.
Its parameters are tasks.distill_config.DistillConfig's fields.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import ValidationError

from flows.ingest import (add_workers_argument, check_ingest_arguments, connect_engine, engine_of, engine_session,
                          ingest, usage_error)
from models.pipeline.loading import MissingModel, resolve_model_dir
from models.pipeline.profiles import Profile, load_profile
from storage.catalog import refresh_catalog
from storage.images import image_data_uri
from storage.store import Store, StoreBusy
from tasks.audit import dataset_card
from tasks.auditing.card import card_with_embedded_plots
from tasks.command_line import add_model_arguments, model_from_arguments, takes_model_fields
from tasks.curation.releases import SplitRuleBroken, diff_versions
from tasks.dag import DISTILL, describe
from tasks.distill_config import DistillConfig, IngestConfig
from tasks.engine import LOCAL, ClusterUnreachable
from tasks.manifest import manifest_rows, publish_manifest, why_no_pair
from tasks.retrieval.pool import why_no_pool
from tasks.retrieve import retrieval_sheets
from tasks.run_context import RunContext
from tasks.runner import StageReport, artifacts_in_background, attach, query_artifact, run_stage

STAGE_SQL = """
    select 'quality' as stage, count(*) as rows, count(*) filter (status = 'error') as errors from quality
    union all select 'caption', count(*), count(*) filter (status = 'error') from captions
    union all select 'embed', count(*), count(*) filter (status = 'error') from embeddings
    union all select 'retrieve', count(distinct query_id), count(distinct query_id) filter (status = 'error')
              from retrievals
    union all select 'dedup', count(*), 0 from duplicates
    union all select 'judge', count(*), count(*) filter (status = 'error') from votes
    union all select 'manifest', count(*), 0 from manifest"""
POOL_SQL = """
    select dataset, count(*) as real_images, count(*) filter (in_pool) as in_pool,
           round(avg(rainy_quality), 2) as mean_quality
    from quality where is_real group by 1 order by 1"""
MANIFEST_SQL = """
    select subset, split, count(*) as pairs, count(*) filter (subset_source = 'image') as subset_from_image,
           round(avg(yes_votes), 2) as mean_yes_votes
    from manifest group by all order by 1, 2"""


class EmptyResult(RuntimeError):
    """A run whose stages finished with nothing to show (no reference, no pair), or with a RainRAG version
    that cannot be released: a failure with its reason."""


def check_models(profile: Profile) -> None:
    """Fail before any shard runs when a role's model is not on this machine."""
    for spec in profile.roles.values():
        if spec.model_id:
            resolve_model_dir(spec, profile)


def attach_contact_sheets(run: RunContext, redraw: bool) -> None:
    """Link the retrieval contact sheets, drawn again only when retrieval computed new shards."""
    folder = run.store.reports / "retrieval"
    existing = {p.stem.removeprefix("retrieval-"): p for p in sorted(folder.glob("retrieval-*.png"))}
    sheets = (retrieval_sheets(run.store, run.shards(), run.pool(), run.data_root, run.settings.k3)
              if redraw or not existing else existing)
    if sheets:  # encoded on the artifact sender's thread: a rerun's flow thread does not wait for it
        attach(_contact_sheets_artifact, sheets=sheets)


def _contact_sheets_artifact(sheets: dict[str, Path]) -> None:
    """The contact sheets as images the UI shows (a browser cannot read the store's files), files named too."""
    lines = "\n\n".join(f"### {subset}\n\n`{path}`\n\n![{subset} contact sheet]({image_data_uri(path)})"
                        for subset, path in sheets.items())
    create_markdown_artifact(key="retrieval-contact-sheets", description="queries and their K3 references",
                             markdown=f"Contact sheets (query, then its references with text L2 / image cosine / "
                                      f"SSIM):\n\n{lines}")


def run_dag(run: RunContext) -> tuple[list[StageReport], str | None]:
    """Every stage after ingest, in order, each built from the run just before it runs; the first stage
    with a failed shard ends the loop (a later stage would read the failed shards' missing inputs), and
    so does an empty reference pool (retrieval would find nothing), whose reason is returned."""
    logger = get_run_logger()
    engine = engine_of(run.settings, run.data_root)
    reports: list[StageReport] = []
    for spec in DISTILL[1:]:
        if spec.name == "retrieve":
            wait_for_review(run)
            if not len(run.pool()):
                return reports, "the reference pool is empty: " + why_no_pool(
                    run.store, run.shards(), run.settings.pool_threshold, run.settings.review, run.review_decisions())
        stage = spec.build(run)
        while run.notes:
            logger.info(run.notes.pop(0))
        # global steps read every shard's parts at once: they run here, whatever the engine
        on = engine if spec.scope == "shard" else LOCAL
        reports.append(run_stage(run.store, stage, spec.shards(run), engine=on))
        if stage.repair is not None and run.settings.retry_judge_errors and not reports[-1].failed:
            reports.append(run_stage(run.store, stage, spec.shards(run), repair=True, engine=on))
        if reports[-1].failed:
            break
    return reports, None


def wait_for_review(run: RunContext) -> None:
    """The review gate: with review=require and no reference accepted yet, pause the flow run (for at most
    review_wait_s) with a link to the review app; once it is resumed, the pool is read again."""
    settings = run.settings
    if settings.review != "require" or settings.review_wait_s == 0 or "accepted" in run.review_decisions().values():
        return
    logger = get_run_logger()
    message = (f"review=require and no reference is accepted yet. Review them at {settings.review_url} "
               f"(python -m review serve --store {run.store.root} --data-root {run.data_root}), then resume this "
               f"flow run (the Resume button, or `prefect flow-run resume <id>`); it waits {settings.review_wait_s} s.")
    logger.warning(message)
    create_markdown_artifact(key="review-gate", markdown=f"[Review the references]({settings.review_url})\n\n{message}",
                             description="the run waits for the reference review")
    try:
        pause_flow_run(timeout=settings.review_wait_s, poll_interval=2, key="review")
    except FlowPauseTimeout:
        logger.error("nobody resumed the run within %d s", settings.review_wait_s)
    run.forget_pool()


def attach_manifest(store: Store, new_major: bool) -> None:
    """Release and publish <store>/manifest.parquet (a new version when it changed), draw the dataset card
    and attach both, and the release's diff, to the flow run."""
    logger = get_run_logger()
    published = publish_manifest(store, new_major)
    card = dataset_card(store)
    if published.new:
        diff = diff_versions(store, published.previous, published.version)
        logger.info("RainRAG %s released: %d pairs added, %d removed, %d changed subset or split (since %s)",
                    published.version.name, diff.added.num_rows, diff.removed.num_rows, diff.moved.num_rows,
                    diff.old)
        attach(create_markdown_artifact, key="manifest-diff", markdown=diff.markdown(),
               description=f"RainRAG {diff.old} → {diff.new}")
    else:
        logger.info("RainRAG %s: the manifest is unchanged, no new version", published.version.name)
    logger.info("manifest: %s (RainRAG %s); dataset card: %s", published.path, published.version.name, card)
    attach(_card_artifact, card=card, manifest=published.path)
    query_artifact(store, "manifest-summary", MANIFEST_SQL, "RainRAG pairs per subset and split")


def _card_artifact(card: Path, manifest: Path) -> None:
    create_markdown_artifact(key="dataset-card", description=f"RainRAG dataset card ({card})",
                             markdown=card_with_embedded_plots(card) + f"\n\nManifest: `{manifest}`\n")


@flow(name="distill", task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2))
@takes_model_fields(DistillConfig)
def distill(**parameters) -> list[dict]:
    """Build the store's tables and RainRAG from the datasets under `data_root` with the models of `profile`."""
    settings = DistillConfig(**parameters)
    logger = get_run_logger()
    with engine_session(settings):  # joins the cluster first: an unreachable one fails here
        run = RunContext.open(settings)
        check_models(run.profile)
        with artifacts_in_background():  # the API round trips (ingest's too) overlap the planning
            # ingest is this flow's first stage, its tasks and artifacts in this run like every other stage's
            # (not a subflow: a flow run of its own costs about a second even when nothing is new)
            ingest.fn(**settings.model_dump(include=set(IngestConfig.model_fields)))
            logger.info("profile %s: %d sample shards", run.profile.name, len(run.shards()))
            with run.store.lock("distill"):
                reports, empty = run_dag(run)
                refresh_catalog(run.store)
                finished = empty is None and not any(r.failed for r in reports)
                if finished and not manifest_rows(run.store):
                    empty, finished = "RainRAG has no pair: " + why_no_pair(run.store), False
                if finished:
                    retrieved = next(r for r in reports if r.stage == "retrieve")
                    attach_contact_sheets(run, redraw=bool(retrieved.done))
                    try:
                        attach_manifest(run.store, settings.new_major)
                    except SplitRuleBroken as exc:
                        empty = str(exc)
                    refresh_catalog(run.store)   # the releases view, from the first release on
            summary = query_artifact(run.store, "distill-stages", STAGE_SQL, "rows and error rows per stage")
            query_artifact(run.store, "distill-pool", POOL_SQL, "real rainy images in the reference pool")
        failed = {f"{r.stage}/{s}": e for r in reports for s, e in r.failed.items()}
        if failed:
            raise RuntimeError(f"distill: {len(failed)} shards failed ({', '.join(sorted(failed))}); "
                               "rerun to retry them, finished shards are kept")
        if empty is not None:   # an empty result is never a green run
            raise EmptyResult(f"distill: {empty}. Every table written so far is kept in {run.store.root}")
        return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.distill", description=distill.__doc__.split("\n\n")[0],
                                     epilog=f"stages (tasks/dag.py), in order:\n{describe()}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, DistillConfig)
    add_workers_argument(parser)
    args = parser.parse_args(argv)
    try:  # fail in a second, before a Prefect server starts
        settings = model_from_arguments(DistillConfig, args)
    except ValidationError as exc:
        usage_error(parser, exc)
    check_ingest_arguments(parser, settings)
    try:
        check_models(load_profile(settings.profile, settings.models_dir))
    except (FileNotFoundError, ValueError, MissingModel) as exc:
        parser.exit(2, f"error: {exc}\n")
    try:
        connect_engine(settings)
        run = distill.with_options(task_runner=ThreadPoolTaskRunner(max_workers=args.workers))
        summary = run(**settings.model_dump())
    except (StoreBusy, ClusterUnreachable) as exc:
        parser.exit(2, f"error: {exc}\n")
    except EmptyResult as exc:
        parser.exit(1, f"error: {exc}\n")
    for row in summary:
        print(f"{row['stage']:<8} {row['rows']:>8} rows  {row['errors']:>6} errors")


if __name__ == "__main__":
    main()
