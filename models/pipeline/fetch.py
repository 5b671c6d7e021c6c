"""Put every model a profile needs into its models dir: the one command that may use the network.

    python -m models.pipeline.fetch --profile paper [--models-dir DIR] [--dry-run]
    make models PROFILE=paper

Each distinct model is handled once, whichever roles share it:
  - `prepare`  a kind with a registered preparer builds its model locally (e.g. the fitted NIQE model);
  - `build`    `tiny/...` ids are the tiny random models of `models.pipeline.tiny`;
  - `package`  `pkg:<module>` weights ship inside an installed Python package: nothing to do;
  - `download` anything else is a Hugging Face repo, fetched at its pinned revision into
               `<models_dir>/<model_id>`, where `loading.resolve_model_dir` looks first;
  - `none`     a weight-free adapter (the offline judges), or one whose weights live elsewhere (an
               endpoint judge: the server it calls holds them).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Sequence

from models.pipeline.loading import PKG_PREFIX, REVISION_FILE
from models.pipeline.profiles import Profile, load_profile, profile_names
from models.pipeline.registry import PREPARERS, preparer
from models.pipeline.tiny import TINY_PREFIX, build_tiny_models

Action = Literal["prepare", "build", "package", "download", "none"]
# Weights in formats no adapter loads (TensorFlow, Flax, Rust, ONNX, OpenVINO, Core ML): often several
# times the size of the PyTorch weights in the same repo.
FOREIGN_FORMATS = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "openvino/*", "*.tflite", "*.mlmodel",
                   "coreml/*"]
# timm's repos of CLIP towers also hold timm-format copies of the weights, which open_clip never
# loads (it prefers files named open_clip_*): for ViT-L/14 that is 3.4 GB saved.
IGNORED_BY_KIND = {"open_clip": ["model.safetensors", "pytorch_model.bin"]}


@dataclass(frozen=True)
class Step:
    action: Action
    kind: str
    model_id: str | None
    revision: str | None
    target: Path | None
    roles: tuple[str, ...]

    def describe(self) -> str:
        what = self.model_id or f"({self.kind}, no weights)"
        at = f" @ {self.revision}" if self.revision else ""
        into = f" -> {self.target}" if self.target else ""
        return f"{self.action:<9}{what}{at}{into}  [roles: {', '.join(self.roles)}]"


def _action(kind: str, model_id: str | None) -> Action:
    if model_id is not None and model_id.startswith(TINY_PREFIX):
        return "build"     # before preparers: the tiny build fits its own small NIQE model too
    if kind in PREPARERS:
        return "prepare"
    if model_id is None:
        return "none"
    return "package" if model_id.startswith(PKG_PREFIX) else "download"


def plan(profile: Profile) -> list[Step]:
    """One step per distinct model of `profile`, in role order; a repo pinned twice must agree."""
    steps: dict[tuple, Step] = {}
    for role, spec in profile.roles.items():
        action = _action(spec.kind, spec.model_id)
        key = (action, spec.model_id) if spec.model_id else (action, spec.kind)
        if key in steps:
            step = steps[key]
            if step.revision != spec.revision:
                raise ValueError(f"profile {profile.name!r}: {spec.model_id!r} is pinned to revision "
                                 f"{step.revision} for {step.roles[0]!r} and {spec.revision} for {role!r}")
            steps[key] = replace(step, roles=step.roles + (role,))
            continue
        target = Path(profile.models_dir) / spec.model_id if action in ("prepare", "build", "download") else None
        steps[key] = Step(action, spec.kind, spec.model_id, spec.revision, target, (role,))
    return list(steps.values())


def run(profile: Profile, steps: Sequence[Step]) -> None:
    built_tiny = False
    for step in steps:
        print(step.describe(), flush=True)
        if step.action == "prepare":
            preparer(step.kind)(profile.roles[step.roles[0]], profile)
        elif step.action == "build" and not built_tiny:
            build_tiny_models(Path(profile.models_dir))
            built_tiny = True
        elif step.action == "download":
            _download(step)


def _download(step: Step) -> None:
    from huggingface_hub import snapshot_download

    marker = step.target / REVISION_FILE
    marker.unlink(missing_ok=True)   # until this download completes, the folder holds no known revision
    ignored = FOREIGN_FORMATS + IGNORED_BY_KIND.get(step.kind, [])
    snapshot_download(step.model_id, revision=step.revision, local_dir=step.target, ignore_patterns=ignored)
    marker.write_text((step.revision or "") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.pipeline.fetch", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True,
                        help=f"a built-in profile ({', '.join(profile_names())}) or a profile YAML file")
    parser.add_argument("--models-dir", type=Path, help="where the models go (default: the profile's models_dir)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be fetched, fetch nothing")
    args = parser.parse_args(argv)
    try:
        profile = load_profile(args.profile, models_dir=args.models_dir)
        steps = plan(profile)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    if args.dry_run:
        print(f"profile {profile.name!r}, models dir {profile.models_dir} (dry run: nothing is fetched)")
        print("\n".join(step.describe() for step in steps))
        return 0
    run(profile, steps)
    print(f"profile {profile.name!r}: every model is in place under {profile.models_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
