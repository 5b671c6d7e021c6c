"""Kill and resume: a run stopped mid-way and resumed logs exactly what an uninterrupted run logs,
and a checkpoint is never continued on other data or with another config unless asked."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from tests.training.helpers import tiny_config
from training.checkpoint import ResumeMismatch, checkpoint_dir, load_latest
from training.loop import train


class Killed(Exception):
    """Stands for SIGKILL: nothing after the raise runs, so no checkpoint is written on the way out."""


def kill_at(step: int):
    def on_step(current: int) -> None:
        if current == step:
            raise Killed
    return on_step


def log_rows(out):
    return pq.read_table(out / "log.parquet").to_pylist()


def test_killed_and_resumed_run_matches_an_uninterrupted_one(layout, tmp_path, caplog):
    # steps 12, validation every 4 (weights leave uniform after the 2nd), checkpoints every 5.
    config = tiny_config()
    whole = train(config, layout / "train", tmp_path / "whole")

    with pytest.raises(Killed):  # killed at step 8: after the checkpoint of step 5 and the validation of 8
        train(config, layout / "train", tmp_path / "cut", on_step=kill_at(8))
    folder = checkpoint_dir(tmp_path / "cut")
    assert [p.name for p in sorted(folder.glob("ckpt-*.pt"))] == ["ckpt-00000005.pt"]
    (folder / "ckpt-00000007.pt").write_bytes(b"torn write")  # a newest file that does not load
    (folder / ".ckpt-00000009.pt.abc.tmp").write_bytes(b"")   # what an interrupted atomic write leaves
    resumed = train(config, layout / "train", tmp_path / "cut")
    assert "does not load" in caplog.text

    assert log_rows(tmp_path / "cut") == log_rows(tmp_path / "whole")  # every loss, PSNR and weight, exactly
    assert [r["step"] for r in log_rows(tmp_path / "whole") if r["kind"] == "val"] == [4, 8, 12]
    a, b = load_latest(tmp_path / "whole"), load_latest(tmp_path / "cut")
    assert a["step"] == b["step"] == 12 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert resumed["types"] == whole["types"]


def test_resume_refuses_another_config_or_other_data_unless_allowed(layout, tmp_path):
    config = tiny_config(steps=3, val_every=3)
    train(config, layout / "train", tmp_path / "run")
    with pytest.raises(ResumeMismatch, match=r"lr: 0\.002 in the checkpoint, 0\.001 now"):
        train(tiny_config(steps=3, val_every=3, lr=1e-3), layout / "train", tmp_path / "run")
    train(tiny_config(steps=3, val_every=3, num_workers=1, log_every=2), layout / "train", tmp_path / "run")

    fewer = tmp_path / "fewer"
    shutil.copytree(layout / "train", fewer, symlinks=True)
    dropped = next((fewer / "drs" / "input").iterdir()).name
    for side in ("input", "target"):
        (fewer / "drs" / side / dropped).unlink()
    with pytest.raises(ResumeMismatch, match="training data: fingerprint"):
        train(config, fewer, tmp_path / "run")
    assert train(config, fewer, tmp_path / "run", allow_changes=True)["step"] == 3


KILL_SCRIPT = """
import os, signal, sys
import torch
from pathlib import Path
from tests.training.helpers import tiny_config
from training.loop import train

torch.set_num_threads(int(sys.argv[3]))   # the parent's: CPU reductions depend on the thread split
def kill_at_8(step):
    if step == 8:
        os.kill(os.getpid(), signal.SIGKILL)
train(tiny_config(), Path(sys.argv[1]), Path(sys.argv[2]), on_step=kill_at_8)
"""


def test_a_sigkilled_process_resumes_to_the_uninterrupted_run(layout, tmp_path):
    whole = train(tiny_config(), layout / "train", tmp_path / "whole")
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(layout / "train"), str(tmp_path / "cut"),
                             str(torch.get_num_threads())], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[2])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [p.name for p in sorted(checkpoint_dir(tmp_path / "cut").glob("ckpt-*.pt"))] == ["ckpt-00000005.pt"]
    resumed = train(tiny_config(), layout / "train", tmp_path / "cut")
    assert log_rows(tmp_path / "cut") == log_rows(tmp_path / "whole")
    assert resumed["types"] == whole["types"]
