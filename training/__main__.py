"""Training without Prefect: what `torchrun` starts on every GPU (flows.train launches it for --gpus N).

    torchrun --standalone --nproc_per_node 4 -m training --spec RUN.json

RUN.json: {"config": {TrainConfig fields}, "data": path, "out": path, "data_root": path | null,
"allow_changes": bool}. Rank 0 writes the checkpoints, the log, the curves and out/metrics.json.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from training.config import TrainConfig
from training.loop import train


def write_spec(path: Path, config: TrainConfig, data: str, out: str, data_root: str | None,
               allow_changes: bool) -> Path:
    """The run description every rank reads; written before torchrun starts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": config.model_dump(mode="json"), "data": data, "out": out,
                                "data_root": data_root, "allow_changes": allow_changes}, indent=1))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, type=Path, help="run description (JSON), see the module doc")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = json.loads(args.spec.read_text())
    train(TrainConfig.model_validate(spec["config"]), spec["data"], spec["out"], spec.get("data_root"),
          bool(spec.get("allow_changes")))


if __name__ == "__main__":
    main()
