"""The benchmark flow: checkpoints × test sets → restored 8-bit PNGs → `results` → a Table-1-style report.

    python -m flows.benchmark --store S --data-root D [--checkpoint RUN_OR_CKPT ...] [--protocol NAME ...]
                              [--test-set NAME ...] [--no-identity] [--lpips] [--tile 1024] [--device auto]
    python -m flows.benchmark --pred-dir P --gt-dir G --protocol NAME [--json FILE] [--lpips]

The first form runs the Prefect flow `benchmark`: every checkpoint (a run folder of flows.train or a
ckpt-*.pt file) and the identity (the rainy input itself) on RainRAG's test subsets and every public
test split in the store, scored under each protocol, into the store's `results` table and
<store>/reports/benchmark.{md,png} (also attached to the flow run). A rerun skips the jobs the ledger
records as done. The second form needs no store and no Prefect: it scores a folder of restored images
against its ground truth, paired by file stem, prints the mean and writes per-image values to --json.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_link_artifact, create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from evaluation.folders import score_folders, write_scores_json
from evaluation.inference import Restorer
from evaluation.jobs import TABLE, Inference, benchmark_config, benchmark_stage
from evaluation.lpips import Lpips, LpipsUnavailable
from evaluation.protocols import PROTOCOLS, get_protocol
from evaluation.test_sets import TestSet
from storage.catalog import refresh_catalog
from storage.stage import plan
from storage.store import Store
from tasks.benchmark import report, restorers_of, test_sets_of
from tasks.runner import run_stage

ALL_PROTOCOLS = list(PROTOCOLS)


@task(name="find-test-sets", cache_policy=NO_CACHE)
def find_test_sets(store: Store, data_root: str, only: list[str] | None) -> list[TestSet]:
    """RainRAG's test subsets (from the manifest) and the public test splits (from samples)."""
    sets = test_sets_of(store, data_root, only)
    get_run_logger().info("%d test sets: %s", len(sets), ", ".join(f"{s.key} ({len(s.pairs)})" for s in sets))
    return sets


@task(name="load-restorers", cache_policy=NO_CACHE)
def load_restorers(checkpoints: list[str], with_identity: bool, lpips: bool,
                   device: str) -> tuple[list[Restorer], Lpips | None]:
    """The restorers on `device` and the LPIPS scorer when asked (fails here, before any image)."""
    restorers, scorer, where = restorers_of(checkpoints, with_identity, lpips, device)
    get_run_logger().info("restorers on %s: %s", where, ", ".join(r.label for r in restorers))
    return restorers, scorer


class ImageProgress:
    """One Prefect progress bar per job, moved about every 5 % of its images (from the job's task run)."""

    def __init__(self) -> None:
        self.bars: dict[str, object] = {}

    def __call__(self, shard: str, done: int, total: int) -> None:
        if shard not in self.bars:
            self.bars[shard] = create_progress_artifact(0.0, description=f"{shard}: images restored")
        if done == total or done % max(1, total // 20) == 0:
            update_progress_artifact(self.bars[shard], progress=100.0 * done / total)


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(store: Store, rows: list[dict], protocols: list[str]) -> dict:
    """Write <store>/reports/benchmark.{md,png} and attach the report, the rows and the PNG to the flow run."""
    md_path, png_path, markdown, table = report(store, rows, protocols)
    create_markdown_artifact(key="benchmark-report", markdown=markdown,
                             description="Table-1-style report: ours beside published numbers, per protocol")
    create_table_artifact(key="benchmark-results", table=table,
                          description="rows of the results table made or read by this run")
    create_link_artifact(key="benchmark-report-png", link=png_path.as_uri(), link_text=png_path.name,
                         description="the report as an image")
    return {"markdown": str(md_path), "png": str(png_path)}


# one job at a time: each holds a network on the device, and a GPU's memory is for one of them
@flow(name="benchmark", task_runner=ThreadPoolTaskRunner(max_workers=1))
def benchmark(store: str, data_root: str, checkpoints: list[str] | None = None, protocols: list[str] | None = None,
              test_sets: list[str] | None = None, identity: bool = True, lpips: bool = False, tile: int = 1024,
              overlap: int = 64, device: str = "auto") -> dict:
    """Score `checkpoints` (and the identity) on the store's test sets under `protocols` (default: all five)."""
    protocols = list(protocols or ALL_PROTOCOLS)
    for name in protocols:
        get_protocol(name)
    logger = get_run_logger()
    target = Store(store)
    if swept := target.sweep_temporaries():
        logger.info("removed %d half-written files of killed runs (e.g. %s)", len(swept), swept[0])
    data_root = str(Path(data_root).expanduser().resolve())
    sets = find_test_sets(target, data_root, test_sets)
    restorers, scorer = load_restorers(list(checkpoints or []), identity, lpips, device)
    stage = benchmark_stage(benchmark_config(protocols, Inference(tile, overlap), restorers, sets, scorer,
                                             ImageProgress()))
    jobs = list(stage.config.jobs())
    result = run_stage(target, stage, jobs)
    _, done = plan(target, stage, jobs)   # the jobs done at their current fingerprint, in order
    rows = [row for item in done for row in target.read_shard(TABLE, item.shard).to_pylist()]
    refresh_catalog(target)
    paths = publish_report(target, rows, protocols)
    logger.info("%d results rows; report: %s", len(rows), paths["markdown"])
    if result.failed:
        raise RuntimeError(f"benchmark: {len(result.failed)} jobs failed ({', '.join(sorted(result.failed))}); "
                           "the report holds the others; rerun to retry them")
    return {"rows": rows, **paths}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    p = argparse.ArgumentParser(prog="python -m flows.benchmark", description=__doc__.splitlines()[0])
    p.add_argument("--protocol", action="append", choices=ALL_PROTOCOLS, metavar="NAME",
                   help=f"metric protocol, repeatable: {', '.join(ALL_PROTOCOLS)} (flow default: all)")
    p.add_argument("--lpips", action="store_true", help="also LPIPS (needs the lpips package and AlexNet weights)")
    folders = p.add_argument_group("score a folder of restored images")
    folders.add_argument("--pred-dir", type=Path, help="restored images, paired with --gt-dir by file stem")
    folders.add_argument("--gt-dir", type=Path, help="ground-truth images")
    folders.add_argument("--json", type=Path, help="write per-image and mean values here")
    run = p.add_argument_group("run the benchmark flow")
    run.add_argument("--store", help="table store with an ingested samples table (and a manifest)")
    run.add_argument("--data-root", help="the data root the store was ingested from")
    run.add_argument("--checkpoint", action="append", default=[], help="run folder or ckpt-*.pt, repeatable")
    run.add_argument("--test-set", action="append", help="only these test sets (name or key), repeatable")
    run.add_argument("--no-identity", action="store_true", help="leave out the rainy-input row")
    run.add_argument("--tile", type=int, default=1024, help="largest side restored in one pass (default 1024)")
    run.add_argument("--overlap", type=int, default=64, help="pixels shared by neighbouring tiles (default 64)")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    return p.parse_args(argv), p


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def score_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--pred-dir/--gt-dir: print the mean under each protocol, write --json."""
    if not args.gt_dir or not args.protocol:
        parser.exit(2, "error: --pred-dir needs --gt-dir and at least one --protocol\n")
    try:
        scorer = Lpips() if args.lpips else None
        scores = score_folders(args.pred_dir, args.gt_dir, args.protocol, scorer)
    except (ValueError, FileNotFoundError, LpipsUnavailable) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"{'protocol':<20} {'PSNR':>8} {'SSIM':>7} {'LPIPS':>7} {'n':>6} {'identical':>9}  note")
    for name, score in scores.items():
        cap = get_protocol(name).psnr_cap
        note = (f"identical pairs score the cap, {cap:.0f} dB, in the mean" if cap is not None else
                "identical pairs (+inf dB) are left out of the PSNR mean") if score.identical else ""
        print(f"{name:<20} {_fmt(score.mean('psnr'), 2):>8} {_fmt(score.mean('ssim'), 4):>7} "
              f"{_fmt(score.mean('lpips'), 4):>7} {score.n:>6} {score.identical:>9}  {note}")
    if args.json:
        write_scores_json(args.json, scores)
        print(f"per-image values: {args.json}")


def check_flow_args(args: argparse.Namespace) -> str | None:
    """Why the flow cannot start with these arguments (checked before Prefect starts), or None."""
    if not args.store or not args.data_root:
        return "give --store and --data-root to benchmark checkpoints, or --pred-dir and --gt-dir to score a folder"
    if not (Path(args.store) / "samples").is_dir():
        return f"{args.store} has no samples table; run `python -m flows.ingest` first"
    if not Path(args.data_root).is_dir():
        return f"data root {args.data_root} does not exist"
    missing = [c for c in args.checkpoint if not Path(c).exists()]
    if missing:
        return f"checkpoint {missing[0]} does not exist"
    if args.tile % 8 or not 0 <= args.overlap < args.tile:
        return f"--tile {args.tile} must be a multiple of 8 and --overlap {args.overlap} in [0, tile)"
    return None


def main(argv: list[str] | None = None) -> None:
    args, parser = parse_args(argv)
    if args.pred_dir:
        score_command(args, parser)
        return
    problem = check_flow_args(args)
    if problem:
        parser.exit(2, f"error: {problem}\n")
    try:
        result = benchmark(store=args.store, data_root=args.data_root, checkpoints=args.checkpoint,
                           protocols=args.protocol, test_sets=args.test_set, identity=not args.no_identity,
                           lpips=args.lpips, tile=args.tile, overlap=args.overlap, device=args.device)
    except (ValueError, FileNotFoundError, LpipsUnavailable) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(Path(result["markdown"]).read_text(encoding="utf-8"))
    print(f"report: {result['markdown']}\n        {result['png']}", file=sys.stderr)


if __name__ == "__main__":
    main()
