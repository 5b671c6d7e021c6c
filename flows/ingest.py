"""The ingest flow: dataset folders -> `samples` and `rejects` in the store.

    python -m flows.ingest --data-root /data/rain --store /data/rainrag [--layouts my_layouts.yaml]

Discovery walks every dataset (cheap: it lists folders and reads pair lists; one task, the datasets
walked concurrently), then the ingest stage runs per shard through the generic runner; shards already
done with the same fingerprint are skipped.
"""
from __future__ import annotations

import argparse
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from pathlib import Path
from typing import Iterator

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pydantic import ValidationError

from storage.catalog import refresh_catalog
from storage.sources.registry import LayoutError, Located, folder_names, load_registry, locate, resolve_names
from storage.store import Store, StoreBusy, StoreUnusable, check_store_root
from tasks.command_line import add_model_arguments, flag, model_from_arguments, takes_model_fields
from tasks.dag import ingest_stage
from tasks.distill_config import IngestConfig
from tasks.ingest import IngestStageConfig, drop_stale_shards, plan_dataset
from tasks.engine import ClusterUnreachable, Engine
from tasks.runner import query_artifact, run_stage


def _discover_one(located: Located, data_root: Path, staging: Path, shard_size: int) -> list[str]:
    """Walk one dataset, pair its files, stage its candidate shards and log what the walk saw."""
    logger = get_run_logger()
    keys, stats = plan_dataset(located, data_root, staging, shard_size)
    claimed = ", ".join(f"{rule}: {n}" for rule, n in sorted(stats.claimed.items())) or "nothing"
    logger.info("%s (%s): %d shards; rainy files claimed by rule: %s; %d other files (clean partners, "
                "masks, extra modalities)%s",
                located.dataset.name, "/".join(located.folders), len(keys), claimed, stats.ignored,
                f" (e.g. {', '.join(stats.ignored_examples)})" if stats.ignored else "")
    return keys


@task(name="discover", cache_policy=NO_CACHE)
def discover_task(located: list[Located], data_root: Path, staging: Path, shard_size: int) -> list[list[str]]:
    """Every dataset's candidate shards, in the order given; one task for all of them because a task run
    costs more than walking an unchanged dataset, and the walks wait on the filesystem, so they share
    a thread pool of their own."""
    context = copy_context()  # the run logger of this task, in the pool's threads
    with ThreadPoolExecutor(max_workers=min(8, len(located) or 1)) as pool:
        futures = [pool.submit(context.copy().run, _discover_one, item, data_root, staging, shard_size)
                   for item in located]
        return [future.result() for future in futures]


COUNTS_SQL = """
    with s as (select dataset, count(*) n from samples group by 1),
         r as (select dataset, count(*) n from rejects group by 1)
    select coalesce(s.dataset, r.dataset) as dataset, coalesce(s.n, 0) as samples, coalesce(r.n, 0) as rejects
    from s full join r on s.dataset = r.dataset order by 1"""
REASONS_SQL = """
    select dataset, code, count(*) as rejects, min(path) as example, min(reason) as example_reason
    from rejects group by 1, 2 order by 1, 3 desc"""


@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2))
@takes_model_fields(IngestConfig)
def ingest(**parameters) -> list[dict]:
    """Ingest every recognised dataset under `data_root` into the table store at `store`."""
    settings = IngestConfig(**parameters)
    logger = get_run_logger()
    with engine_session(settings):  # joins the cluster first: an unreachable one fails here
        root, target = Path(settings.data_root).expanduser().resolve(), Store(settings.store)
        swept = target.sweep_temporaries()
        if swept:
            logger.info("removed %d half-written files of killed runs (e.g. %s)", len(swept), swept[0])
        registry = load_registry([Path(p) for p in settings.layouts or []])
        located, unrecognised = locate(root, registry, settings.datasets)
        if unrecognised:
            logger.warning("folders under %s that match no dataset (add a layout with --layouts): %s",
                           root, ", ".join(unrecognised))
        logger.info("found %d datasets under %s: %s", len(located), root, ", ".join(l.dataset.name for l in located))
        with target.lock("ingest"):
            staging = target.staging("ingest")
            shutil.rmtree(staging, ignore_errors=True)  # a killed run's leftovers; the ledger holds the truth
            staging.mkdir(parents=True)
            shards: list[str] = []
            for item, keys in zip(located, discover_task(located, root, staging, settings.shard_size)):
                stale = drop_stale_shards(target, item.dataset.name, keys)
                if stale:
                    logger.info("%s: removed %d shards from an earlier shard layout", item.dataset.name, len(stale))
                shards.extend(keys)
            report = run_stage(target, ingest_stage(IngestStageConfig(settings.max_pixels, root, staging)), shards,
                               engine=engine_of(settings, root))
            if refresh_catalog(target):
                logger.info("catalog refreshed: %s", target.catalog_path)
            shutil.rmtree(staging, ignore_errors=True)
        counts = query_artifact(target, "ingest-counts", COUNTS_SQL, "samples and rejects per dataset")
        query_artifact(target, "ingest-rejects", REASONS_SQL, "why candidates were rejected")
        if report.failed:
            raise RuntimeError(f"ingest: {len(report.failed)} shards failed ({', '.join(sorted(report.failed))}); "
                               "rerun to retry them, the others are kept")
        return counts


def engine_of(settings: IngestConfig, data_root: Path) -> Engine:
    return Engine(settings.engine, settings.ray_address, data_root, settings.ray_gpus_per_worker)


def connect_engine(settings: IngestConfig) -> None:
    """With engine=ray, join the cluster now: an unreachable one is an error before any work starts."""
    if settings.engine == "ray":
        from tasks.ray_engine import connect   # Ray is imported only by runs that use it
        connect(settings.ray_address)


@contextmanager
def engine_session(settings: IngestConfig) -> Iterator[None]:
    """The flow's time on its engine: with engine=ray, joined first and its workers stopped at the end."""
    if settings.engine != "ray":
        yield
        return
    from tasks.ray_engine import session   # Ray is imported only by runs that use it
    with session(settings.ray_address):
        yield


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    """How many shards run at once: the flow's task runner, chosen when the run starts (not a parameter)."""
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="shards processed at once (default: the CPU count)")


def usage_error(parser: argparse.ArgumentParser, error: ValidationError) -> None:
    """Exit 2 with one line per bad option: `--min-yes 4: min_yes=4: it must be between ...`."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"error: {flag(name)} {problem.get('input')!s}: {message}" if name else f"error: {message}")
    parser.exit(2, "\n".join(lines) + "\n")


def check_ingest_arguments(parser: argparse.ArgumentParser, args: IngestConfig) -> None:
    """Exit 2 in a second, before a Prefect server starts, on a bad store path, layouts file, data root
    or dataset name."""
    try:
        check_store_root(args.store)
        registry = load_registry([Path(p) for p in args.layouts or []])
        located, _ = locate(Path(args.data_root), registry, args.datasets)
        asked = resolve_names(registry, args.datasets or [])
    except (LayoutError, FileNotFoundError, StoreUnusable) as exc:
        parser.exit(2, f"error: {exc}\n")
    missing = [name for name in asked if name not in {item.dataset.name for item in located}]
    if missing:
        looked_for = "; ".join(f"{name}: {', '.join(folder_names(registry[name]))}" for name in missing)
        parser.exit(2, f"error: no folder under {args.data_root} for {', '.join(missing)} (folder names looked "
                       f"for, in any letter case and with or without separators: {looked_for})\n")
    if not located:
        parser.exit(2, f"error: no known dataset folder under {args.data_root}: no folder there is named after "
                       f"one of the {len(registry)} datasets (or their aliases); add a layout with --layouts\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.ingest", description=ingest.__doc__.split("\n\n")[0])
    add_model_arguments(parser, IngestConfig)
    add_workers_argument(parser)
    args = parser.parse_args(argv)
    try:
        settings = model_from_arguments(IngestConfig, args)
    except ValidationError as exc:
        usage_error(parser, exc)
    check_ingest_arguments(parser, settings)
    try:
        connect_engine(settings)
        run = ingest.with_options(task_runner=ThreadPoolTaskRunner(max_workers=args.workers))
        counts = run(**settings.model_dump())
    except (StoreBusy, ClusterUnreachable) as exc:
        parser.exit(2, f"error: {exc}\n")
    width = max([len("dataset"), *(len(c["dataset"]) for c in counts)])
    print(f"{'dataset':<{width}}  {'samples':>8}  {'rejects':>8}")
    for c in counts:
        print(f"{c['dataset']:<{width}}  {c['samples']:>8}  {c['rejects']:>8}")
    print(f"{'total':<{width}}  {sum(c['samples'] for c in counts):>8}  {sum(c['rejects'] for c in counts):>8}")


if __name__ == "__main__":
    main()
