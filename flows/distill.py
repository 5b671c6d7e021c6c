"""The distill flow: ingest → quality → caption → embed → retrieve → judge → manifest → audit.

    python -m flows.distill --data-root /data/rain --store /data/rainrag --profile offline

Each stage runs per shard through the generic runner, so a rerun does only what is missing or what a
changed setting affects: a new captioner id re-runs caption and embed, a new pool threshold re-runs
quality alone, another --min-yes rebuilds the manifest alone. Models load once per process, on the
first shard that needs them. Manifest and audit are global steps (the shard "all"), skipped through
the ledger like any shard when nothing they read changed.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from flows.ingest import add_ingest_arguments, check_ingest_arguments, ingest
from models.pipeline.loading import MissingModel, resolve_model_dir
from models.pipeline.profiles import Profile, load_profile
from storage.catalog import refresh_catalog
from storage.images import DEFAULT_MAX_PIXELS, image_data_uri
from storage.stage import ShardPlan, Stage
from storage.store import Store, StoreBusy
from tasks.audit import audit_stage, dataset_card
from tasks.auditing.card import card_with_embedded_plots
from tasks.caption import caption_stage
from tasks.curation.evidence import inspect_stage
from tasks.curation.split import TEST_PER_SUBSET
from tasks.embed import embed_stage
from tasks.judge import judge_stage, retry_errors_stage, shards_with_error_votes
from tasks.judging.decision import MIN_YES, check_min_yes
from tasks.manifest import GLOBAL_SHARD, manifest_stage, publish_manifest
from tasks.quality import quality_stage
from tasks.retrieval.index import IndexConfig
from tasks.retrieval.pool import Pool, load_pool
from tasks.retrieve import RetrievalConfig, retrieval_sheets, retrieve_stage
from tasks.runner import StageReport, artifacts_in_background, attach, query_artifact, run_shard_task, run_stage

# Quality scores are −(distance to the pristine model) (higher is better). With the `offline` scorer,
# clean photographs of the sample corpus score about −2.2 (median) and synthetic rainy ones about
# −3.3; −3.5 keeps the real rainy images at least as clean as a typical synthetic one [ours]. Tune it
# per scorer: every score is stored, so a new threshold only re-runs the quality stage.
POOL_THRESHOLD = -3.5

STAGE_SQL = """
    select 'quality' as stage, count(*) as rows, count(*) filter (status = 'error') as errors from quality
    union all select 'caption', count(*), count(*) filter (status = 'error') from captions
    union all select 'embed', count(*), count(*) filter (status = 'error') from embeddings
    union all select 'retrieve', count(distinct query_id), count(distinct query_id) filter (status = 'error')
              from retrievals
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


def check_models(profile: Profile) -> None:
    """Fail before any shard runs when a role's model is not on this machine."""
    for spec in profile.roles.values():
        if spec.model_id:
            resolve_model_dir(spec, profile)


def attach_contact_sheets(store: Store, shards: list[str], pool: Pool, data_root: Path, k3: int,
                          redraw: bool) -> None:
    """Link the retrieval contact sheets, drawn again only when retrieval computed new shards."""
    folder = store.reports / "retrieval"
    existing = {p.stem.removeprefix("retrieval-"): p for p in sorted(folder.glob("retrieval-*.png"))}
    sheets = retrieval_sheets(store, shards, pool, data_root, k3) if redraw or not existing else existing
    if sheets:  # encoded on the artifact sender's thread: a rerun's flow thread does not wait for it
        attach(_contact_sheets_artifact, sheets=sheets)


def _contact_sheets_artifact(sheets: dict[str, Path]) -> None:
    """The contact sheets as images the UI shows (a browser cannot read the store's files), files named too."""
    lines = "\n\n".join(f"### {subset}\n\n`{path}`\n\n![{subset} contact sheet]({image_data_uri(path)})"
                        for subset, path in sheets.items())
    create_markdown_artifact(key="retrieval-contact-sheets", description="queries and their K3 references",
                             markdown=f"Contact sheets (query, then its references with text L2 / image cosine / "
                                      f"SSIM):\n\n{lines}")


def retry_judge_errors_of(store: Store, stage: Stage, models: Profile, references: dict,
                          data_root: Path) -> StageReport:
    """Re-ask only the failed judge calls of the done shards that have any, keeping every other vote."""
    logger = get_run_logger()
    shards = shards_with_error_votes(store, stage, current_shards(store))
    report = StageReport(stage=f"{stage.name} (retry errors)")
    logger.info("judge: %d shards hold error votes to retry", len(shards))
    repair = retry_errors_stage(stage, models, references, data_root)
    futures = {shard: run_shard_task.submit(store, repair, ShardPlan(shard, stage.shard_fingerprint(store, shard)))
               for shard in shards}
    wait(list(futures.values()))
    for shard, future in futures.items():
        if future.state.is_completed():
            report.done.append(future.result())
        else:
            report.failed[shard] = str(future.state.message)
    return report


def curate(store: Store, shards: list[str], models: Profile, pool: Pool, data_root: Path, min_yes: int,
           test_per_subset: int, retry_judge_errors: bool, provenance: dict) -> list[StageReport]:
    """judge → (retry errors) → inspect → manifest → audit, stopping at the first stage with a failed shard."""
    references = {row["sample_id"]: row for row in pool.rows}
    judge = judge_stage(models, references, data_root)
    reports = [run_stage(store, judge, shards)]
    if retry_judge_errors and not reports[-1].failed:
        reports.append(retry_judge_errors_of(store, judge, models, references, data_root))
    steps = [(inspect_stage(data_root), shards),
             (manifest_stage(shards, min_yes, test_per_subset, provenance), [GLOBAL_SHARD]),
             (audit_stage(shards), [GLOBAL_SHARD])]
    for stage, keys in steps:
        if reports[-1].failed:
            break
        reports.append(run_stage(store, stage, keys))
    return reports


def attach_manifest(store: Store) -> None:
    """Publish <store>/manifest.parquet, draw the dataset card and attach both to the flow run."""
    logger = get_run_logger()
    manifest, card = publish_manifest(store), dataset_card(store)
    logger.info("manifest: %s; dataset card: %s", manifest, card)
    attach(_card_artifact, card=card, manifest=manifest)
    query_artifact(store, "manifest-summary", MANIFEST_SQL, "RainRAG pairs per subset and split")


def _card_artifact(card: Path, manifest: Path) -> None:
    create_markdown_artifact(key="dataset-card", description=f"RainRAG dataset card ({card})",
                             markdown=card_with_embedded_plots(card) + f"\n\nManifest: `{manifest}`\n")


def current_shards(store: Store) -> list[str]:
    return [s for s in store.shards("samples") if store.current_part("samples", s)]


@flow(name="distill", task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2))
def distill(data_root: str, store: str, profile: str = "offline", models_dir: str | None = None,
            layouts: list[str] | None = None, datasets: list[str] | None = None, shard_size: int = 2048,
            max_pixels: int = DEFAULT_MAX_PIXELS, pool_threshold: float = POOL_THRESHOLD, k1: int = 100,
            k2: int = 20, k3: int = 3, ssim_size: int = 256, min_yes: int = MIN_YES,
            test_per_subset: int = TEST_PER_SUBSET, retry_judge_errors: bool = False) -> list[dict]:
    """Build the store's tables and RainRAG from the datasets under `data_root` with the models of `profile`."""
    logger = get_run_logger()
    check_min_yes(min_yes)
    if test_per_subset < 0:
        raise ValueError(f"test_per_subset={test_per_subset} must be >= 0")
    models = load_profile(profile, models_dir)
    check_models(models)
    with artifacts_in_background():  # the API round trips (ingest's too) overlap the planning
        # ingest is this flow's first stage, its tasks and artifacts in this run like every other stage's
        # (not a subflow: a flow run of its own costs about a second even when nothing is new)
        ingest.fn(data_root=data_root, store=store, layouts=layouts, datasets=datasets, shard_size=shard_size,
                  max_pixels=max_pixels)
        target, root = Store(store), Path(data_root).expanduser().resolve()
        shards = current_shards(target)
        logger.info("profile %s: %d sample shards", models.name, len(shards))
        reports: list[StageReport] = []
        with target.lock("distill"):
            for stage in (quality_stage(models, root, pool_threshold), caption_stage(models, root),
                          embed_stage(models, root)):
                reports.append(run_stage(target, stage, shards))
                if reports[-1].failed:
                    break  # a later stage would read the failed shards' missing inputs
            if not any(r.failed for r in reports):
                # the reference pool is read once, from quality and embeddings as they now are
                pool = load_pool(target, shards)
                logger.info("reference pool: %d real rainy images", len(pool))
                retrieval = RetrievalConfig(k1=k1, k2=k2, k3=k3, ssim_size=ssim_size)
                reports.append(run_stage(target, retrieve_stage(target, pool, root, retrieval, IndexConfig()), shards))
            if not any(r.failed for r in reports):
                provenance = {"models": models.identity(*models.roles), "retrieval": asdict(retrieval),
                              "pool_threshold": pool_threshold}
                reports += curate(target, shards, models, pool, root, min_yes, test_per_subset, retry_judge_errors,
                                  provenance)
            refresh_catalog(target)
            if not any(r.failed for r in reports):
                retrieved = next(r for r in reports if r.stage == "retrieve")
                attach_contact_sheets(target, shards, pool, root, k3, redraw=bool(retrieved.done))
                attach_manifest(target)
        summary = query_artifact(target, "distill-stages", STAGE_SQL, "rows and error rows per stage")
        query_artifact(target, "distill-pool", POOL_SQL, "real rainy images in the reference pool")
    failed = {f"{r.stage}/{s}": e for r in reports for s, e in r.failed.items()}
    if failed:
        raise RuntimeError(f"distill: {len(failed)} shards failed ({', '.join(sorted(failed))}); "
                           "rerun to retry them, finished shards are kept")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.distill", description=distill.__doc__)
    add_ingest_arguments(parser)
    parser.add_argument("--profile", default="offline", help="paper | offline | tiny, or a profile YAML file")
    parser.add_argument("--models-dir", help="local models folder (default: the profile's, or $RAINRAG_MODELS)")
    parser.add_argument("--pool-threshold", type=float, default=POOL_THRESHOLD,
                        help="minimum quality of a real rainy image to enter the reference pool")
    parser.add_argument("--k1", type=int, default=100, help="text-level survivors per query")
    parser.add_argument("--k2", type=int, default=20, help="image-level survivors per query")
    parser.add_argument("--k3", type=int, default=3, help="references retrieved per query (by SSIM)")
    parser.add_argument("--ssim-size", type=int, default=256, help="side of the grayscale images SSIM compares")
    parser.add_argument("--min-yes", type=int, default=MIN_YES, help="yes votes (of 3 judges) a pair needs to be kept")
    parser.add_argument("--test-per-subset", type=int, default=TEST_PER_SUBSET,
                        help="test pairs per subset of RainRAG's own split (at most a fifth of a subset)")
    parser.add_argument("--retry-judge-errors", action="store_true",
                        help="re-ask the judge calls that failed in earlier runs (every other vote is kept)")
    args = parser.parse_args(argv)
    check_ingest_arguments(parser, args)
    try:  # fail in a second, before a Prefect server starts
        check_min_yes(args.min_yes)
        if args.test_per_subset < 0:
            raise ValueError(f"--test-per-subset {args.test_per_subset} must be >= 0")
        check_models(load_profile(args.profile, args.models_dir))
    except (FileNotFoundError, ValueError, MissingModel) as exc:
        parser.exit(2, f"error: {exc}\n")
    try:
        run = distill.with_options(task_runner=ThreadPoolTaskRunner(max_workers=args.workers))
        summary = run(data_root=args.data_root, store=args.store, profile=args.profile, models_dir=args.models_dir,
                      layouts=args.layouts, datasets=args.datasets, shard_size=args.shard_size,
                      max_pixels=args.max_pixels, pool_threshold=args.pool_threshold, k1=args.k1, k2=args.k2,
                      k3=args.k3, ssim_size=args.ssim_size, min_yes=args.min_yes,
                      test_per_subset=args.test_per_subset, retry_judge_errors=args.retry_judge_errors)
    except StoreBusy as exc:
        parser.exit(2, f"error: {exc}\n")
    for row in summary:
        print(f"{row['stage']:<8} {row['rows']:>8} rows  {row['errors']:>6} errors")


if __name__ == "__main__":
    main()
