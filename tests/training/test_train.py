"""End to end: a small UniRain learns to derain the sample corpus; the Prefect flow, its CLI and deployment,
and torchrun with two processes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.prefect_reads import run_artifacts
from tests.training.helpers import tiny_config
from training.loop import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_small_unirain_beats_the_rainy_input(layout, tmp_path):
    config = tiny_config(steps=300, val_every=50, ckpt_every=300, log_every=25)
    metrics = train(config, layout / "train", tmp_path / "run")
    per_type = ", ".join(f"{t} {v['psnr']:.2f}/{v['psnr_input']:.2f}" for t, v in metrics["types"].items())
    print(f"\nvalidation PSNR after 300 steps ({metrics['protocol']}), restored/input: {per_type}; "
          f"mean over types {metrics['psnr_mean']:.2f} dB vs rainy input {metrics['psnr_input_mean']:.2f} dB")
    assert metrics["psnr_mean"] > metrics["psnr_input_mean"]  # the paper's average over the subsets
    assert metrics["types"]["DRS"]["psnr"] > metrics["types"]["DRS"]["psnr_input"] + 0.5  # most pairs: day streaks


@pytest.mark.slow
def test_train_flow_writes_checkpoint_curves_and_artifacts(layout, tmp_path, prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.train import train as train_flow

    state = train_flow(data=str(layout / "train"), out=str(tmp_path / "run"),
                       config=tiny_config(steps=4, val_every=2, log_every=2), return_state=True)
    metrics = state.result()
    assert metrics["step"] == 4 and set(metrics["types"]) == {"DRS", "DRD", "NRS", "NRD"}
    assert Path(metrics["checkpoint"]) == tmp_path / "run/checkpoints/ckpt-00000004.pt"
    assert Path(metrics["checkpoint"]).exists()
    with Image.open(tmp_path / "run/curves.png") as png:
        assert png.format == "PNG" and png.size == (900, 780)
    with get_client(sync_client=True) as client:
        keys = {a.key for a in run_artifacts(client, state.state_details.flow_run_id)}
    assert {"train-metrics", "train-curves", "train-summary"} <= keys


def test_cli_rejects_bad_input_before_starting_prefect(tmp_path):
    from flows.train import build_config, parse_args

    result = subprocess.run([sys.executable, "-m", "flows.train", "--data", str(tmp_path / "nowhere"), "--out",
                             str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr
    with pytest.raises(ValueError, match="multiple of 8"):
        build_config(parse_args(["--data", "d", "--out", "o", "--crop", "100"])[0])


def test_cli_flags_build_the_config_and_the_torchrun_command(tmp_path):
    from flows.train import build_config, parse_args, torchrun_command

    args, _ = parse_args(["--data", "d", "--out", "o", "--steps", "10", "--net", "dim=8",
                          "--net", "enc_blocks=[1,1,1,1]", "--reweighting", "released", "--gpus", "4"])
    config = build_config(args)
    assert config.steps == 10 and config.network_overrides == {"dim": 8, "enc_blocks": [1, 1, 1, 1]}
    assert config.reweighting.method == "released" and args.gpus == 4
    command = torchrun_command(tmp_path / "launch.json", 4)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", "-m"]
    assert command[6:] == ["training", "--spec", str(tmp_path / "launch.json")]


def test_deployment_runs_the_flow_on_the_gpu_pool_one_at_a_time():
    import yaml

    from flows.train import train as train_flow

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployment = next(d for d in config["deployments"] if d["entrypoint"] == "flows/train.py:train")
    assert deployment["name"] == "unirain" and deployment["work_pool"]["name"] == "gpu"
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    parameters = train_flow.validate_parameters(deployment["parameters"])
    assert parameters["config"].network == "unirain" and parameters["config"].steps == 300_000


@pytest.mark.slow
def test_torchrun_with_two_processes_splits_steps_and_keeps_every_rank_rng(layout, tmp_path):
    import torch

    from flows.train import torchrun_command
    from training.__main__ import write_spec

    config = tiny_config(steps=4, val_every=2, ckpt_every=4, batch_size=4)
    spec = write_spec(tmp_path / "run/launch.json", config, str(layout / "train"), str(tmp_path / "run"), None, False)
    subprocess.run(torchrun_command(spec, 2), cwd=ROOT, check=True, capture_output=True, timeout=300,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})  # gloo on CPU: two processes, one machine
    state = torch.load(tmp_path / "run/checkpoints/ckpt-00000004.pt", weights_only=False)
    assert state["step"] == 4 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # each rank its own routing noise
    assert [r["step"] for r in state["log"] if r["kind"] == "val"] == [2, 4]
