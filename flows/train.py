"""The train flow: a restoration network on RainRAG (a manifest or the authors' layout) into a run folder.

    python -m flows.train --data LAYOUT/train --out runs/unirain [--network unirain] [--steps 300000]
                          [--batch-size 8] [--gpus 4] [--net dim=8 --net enc_blocks=[1,1,1,1]] ...

The flow orchestrates; `training` computes. One GPU (or the CPU) trains inside the flow's task; with
--gpus N > 1 the task launches `torchrun` with N processes and reads their results. Run it again
with the same --out to continue from the newest checkpoint. Outputs in --out: checkpoints/,
log.parquet, curves.png, config.json, metrics.json; in Prefect: a progress bar, the curves (link)
and the final per-type PSNR table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_link_artifact, create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE
from pydantic import ValidationError

from training.__main__ import write_spec
from training.checkpoint import ResumeMismatch
from training.config import TrainConfig
from training.loop import train as run_training


@task(name="train-here", cache_policy=NO_CACHE)
def train_here(config: TrainConfig, data: str, out: str, data_root: str | None, allow_changes: bool) -> dict:
    """Train in this process (one GPU or the CPU), reporting progress as a Prefect artifact."""
    progress = create_progress_artifact(progress=0.0, description=f"{config.network}: training steps done")
    every = max(1, config.steps // 100)

    def on_step(step: int) -> None:
        if step % every == 0 or step == config.steps:
            update_progress_artifact(progress, progress=100.0 * step / config.steps)

    return run_training(config, data, out, data_root, allow_changes, on_step)


def torchrun_command(spec: Path, gpus: int) -> list[str]:
    """torchrun (as `python -m torch.distributed.run`, so no PATH lookup) over `gpus` local processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
            "-m", "training", "--spec", str(spec)]


@task(name="train-torchrun", cache_policy=NO_CACHE)
def train_torchrun(config: TrainConfig, data: str, out: str, data_root: str | None, allow_changes: bool,
                   gpus: int) -> dict:
    """Launch one training process per GPU with torchrun and return rank 0's final metrics."""
    logger = get_run_logger()
    spec = write_spec(Path(out) / "launch.json", config, data, out, data_root, allow_changes)
    command = torchrun_command(spec, gpus)
    logger.info("launching: %s", " ".join(command))
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads((Path(out) / "metrics.json").read_text())


def publish(metrics: dict) -> None:
    """The final per-type PSNR table, the curves and a short summary as artifacts."""
    rows = [{"type": name, "psnr": round(v["psnr"], 3), "psnr_input": round(v["psnr_input"], 3),
             "gain_db": round(v["psnr"] - v["psnr_input"], 3), "weight": round(v["weight"], 4),
             "val_pairs": v["val_pairs"]} for name, v in metrics["types"].items()]
    create_table_artifact(key="train-metrics", table=rows,
                          description=f"validation at step {metrics['step']}, protocol {metrics['protocol']}")
    curves = Path(metrics["curves"])
    create_link_artifact(key="train-curves", link=curves.as_uri(), link_text=curves.name,
                         description="loss, validation PSNR and per-type weight curves")
    create_markdown_artifact(key="train-summary", markdown=(
        f"**step {metrics['step']}**: mean PSNR {metrics['psnr_mean']:.2f} dB "
        f"(rainy input {metrics['psnr_input_mean']:.2f} dB, {metrics['protocol']})\n\n"
        f"- checkpoint: `{metrics['checkpoint']}`\n- curves: `{metrics['curves']}`\n- log: `{metrics['log']}`\n"))


@flow(name="train")
def train(data: str, out: str, config: TrainConfig | None = None, gpus: int | None = None,
          data_root: str | None = None, allow_changes: bool = False) -> dict:
    """Train `config.network` on `data` (manifest or layout folder) into `out`, resuming if it holds a run.

    `gpus` > 1 launches torchrun; None takes $WORLD_SIZE (e.g. a deployment's job variable), else 1.
    """
    config, gpus = config or TrainConfig(), gpus or requested_gpus()
    # Absolute paths: torchrun's processes start in the repository, not in the flow's folder.
    data, out = str(Path(data).expanduser().resolve()), str(Path(out).expanduser().resolve())
    data_root = str(Path(data_root).expanduser().resolve()) if data_root else None
    logger = get_run_logger()
    logger.info("training %s for %d steps on %s into %s (%s)", config.network, config.steps, data, out,
                f"torchrun over {gpus} GPUs" if gpus > 1 else "in this process")
    if gpus > 1:
        metrics = train_torchrun(config, data, out, data_root, allow_changes, gpus)
    else:
        metrics = train_here(config, data, out, data_root, allow_changes)
    logger.info("mean validation PSNR %.2f dB (rainy input %.2f dB)", metrics["psnr_mean"], metrics["psnr_input_mean"])
    publish(metrics)
    return metrics


def requested_gpus() -> int:
    """WORLD_SIZE set by hand (not by torchrun, which also sets LOCAL_RANK) asks for that many processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) if "LOCAL_RANK" not in os.environ else 1


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    p = argparse.ArgumentParser(prog="python -m flows.train", description=train.__doc__)
    p.add_argument("--data", required=True, help="manifest (.parquet) or authors' layout folder")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log, curves (resumes if present)")
    p.add_argument("--data-root", help="folder the manifest's paths are relative to (default: its folder)")
    p.add_argument("--config", type=Path, help="YAML/JSON file of TrainConfig fields; flags override it")
    p.add_argument("--network", help="unirain | restormer | prenet")
    p.add_argument("--net", action="append", default=[], metavar="KEY=VALUE",
                   help="network config override, VALUE in YAML (e.g. dim=8, enc_blocks=[1,1,1,1]); repeatable")
    for flag, kind in (("--steps", int), ("--batch-size", int), ("--crop", int), ("--lr", float),
                       ("--val-every", int), ("--ckpt-every", int), ("--log-every", int), ("--num-workers", int),
                       ("--seed", int)):
        p.add_argument(flag, type=kind)
    p.add_argument("--reweighting", choices=["paper", "released", "fixed"])
    p.add_argument("--batch-fraction-loss", action=argparse.BooleanOptionalAction, default=None,
                   help="scale each type's L1 by its share of the batch, as the authors' train.py does "
                        "(default: on with --reweighting released, off otherwise)")
    p.add_argument("--gpus", type=int, default=requested_gpus(),
                   help="GPUs on this machine; > 1 launches torchrun (default: $WORLD_SIZE, else 1)")
    p.add_argument("--allow-changes", action="store_true",
                   help="resume even if the checkpoint's config or data fingerprint differs")
    return p.parse_args(argv), p


def build_config(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig from the --config file, then the flags that were given."""
    values = yaml.safe_load(args.config.read_text()) if args.config else {}
    for key in ("network", "steps", "batch_size", "crop", "lr", "val_every", "ckpt_every", "log_every",
                "num_workers", "seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    overrides = dict(values.get("network_overrides", {}))
    for item in args.net:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--net {item!r}: expected KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    values["network_overrides"] = overrides
    if args.reweighting:
        values["reweighting"] = {**values.get("reweighting", {}), "method": args.reweighting}
    if args.batch_fraction_loss is not None:
        values["batch_fraction_loss"] = args.batch_fraction_loss
    return TrainConfig.model_validate(values)


def main(argv: list[str] | None = None) -> None:
    if "LOCAL_RANK" in os.environ:
        sys.exit("error: flows.train is not a torchrun worker; run `python -m flows.train --gpus N` "
                 "(it launches torchrun), or `torchrun ... -m training --spec RUN.json`")
    args, parser = parse_args(argv)
    try:  # fail in a second, before a Prefect server starts, on a bad config or data path
        config = build_config(args)
    except (ValidationError, ValueError, yaml.YAMLError) as exc:
        parser.exit(2, f"error: {exc}\n")
    if not Path(args.data).exists():
        parser.exit(2, f"error: training data {args.data} does not exist\n")
    try:
        metrics = train(data=args.data, out=args.out, config=config, gpus=args.gpus, data_root=args.data_root,
                        allow_changes=args.allow_changes)
    except ResumeMismatch as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"{'type':<5} {'PSNR':>7} {'input':>7}   ({metrics['protocol']}, step {metrics['step']})")
    for name, v in metrics["types"].items():
        print(f"{name:<5} {v['psnr']:>7.2f} {v['psnr_input']:>7.2f}")
    print(f"curves: {metrics['curves']}\ncheckpoint: {metrics['checkpoint']}")


if __name__ == "__main__":
    main()
