"""What every neural adapter needs besides its model: where the weights are, where to run, in which
dtype, and how to survive a batch that does not fit in GPU memory.

Nothing here downloads. Weights are found, in this order:
  1. `pkg:<module>` — weights shipped inside an installed Python package (`<module>.get_model_path()`);
  2. `<models_dir>/<model_id>` — the folder `make models PROFILE=...` fills (`models.pipeline.fetch`);
  3. the Hugging Face cache, at the pinned revision (models fetched by other tools are reused).
Anything else is a `MissingModel` that says which command fetches it.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import torch
from pydantic import BaseModel, ValidationError

from models.pipeline.profiles import DEFAULT_MODELS_DIR, ModelSpec, Profile

PKG_PREFIX = "pkg:"
# Written by the fetcher once a download is complete, holding the revision it fetched (empty when
# unpinned): a folder fetched for an older pin, or half-fetched, is never silently loaded.
REVISION_FILE = ".rainrag-revision"
# Where `snapshot_download(local_dir=...)` keeps its bookkeeping: the mark of a folder the fetcher wrote.
HUB_DOWNLOAD_DIR = ".cache/huggingface"

Item = TypeVar("Item")
Options = TypeVar("Options", bound=BaseModel)


class MissingModel(FileNotFoundError):
    """A role's weights are not on this machine; the message names the command that fetches them."""


def resolve_model_dir(spec: ModelSpec, profile: Profile) -> Path:
    """The local folder holding `spec.model_id`'s weights (see the module docstring for the order)."""
    if spec.model_id is None:
        raise ValueError(f"profile {profile.name!r}: adapter kind {spec.kind!r} needs a model_id")
    if spec.model_id.startswith(PKG_PREFIX):
        return _package_dir(spec.model_id)
    local = Path(profile.models_dir) / spec.model_id
    if local.is_dir():
        _check_revision(local, spec, profile)
        return local
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(spec.model_id, revision=spec.revision, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError):
        raise MissingModel(_missing_message(spec, profile, f"neither {local} nor the Hugging Face cache has it")) \
            from None


def _package_dir(model_id: str) -> Path:
    module_name = model_id.removeprefix(PKG_PREFIX)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise MissingModel(f"model {model_id!r} ships with the Python package {module_name!r}, which is not "
                           "installed; `make setup` installs it (requirements.txt)") from None
    return Path(module.get_model_path())


def _check_revision(folder: Path, spec: ModelSpec, profile: Profile) -> None:
    """A folder the fetcher wrote must be complete and at the pinned revision; one put there by hand
    (no fetcher bookkeeping) is trusted as it is."""
    marker = folder / REVISION_FILE
    if not marker.is_file():
        if (folder / HUB_DOWNLOAD_DIR).is_dir():
            raise MissingModel(_missing_message(spec, profile, f"the download into {folder} did not finish"))
        return
    fetched = marker.read_text().strip()
    if spec.revision is not None and fetched != spec.revision:
        raise MissingModel(_missing_message(spec, profile, f"{folder} holds revision {fetched or '(unpinned)'}"))


def _missing_message(spec: ModelSpec, profile: Profile, why: str) -> str:
    command = f"make models PROFILE={profile.name}"
    if Path(profile.models_dir) != DEFAULT_MODELS_DIR:   # `make models` fills the default dir otherwise
        command = f"RAINRAG_MODELS={profile.models_dir} {command}"
    other = "" if profile.name == "offline" else (
        " or run with the `offline` profile, which downloads nothing (`--profile offline`; in a deployment run "
        "`-p profile=offline`)")
    return (f"model {spec.model_id!r} ({spec.revision or 'any revision'}) for adapter {spec.kind!r} of profile "
            f"{profile.name!r} is not available offline: {why}. Fetch it with `{command}`{other}.")


def pick_device(spec: ModelSpec) -> torch.device:
    """`auto` is the GPU when there is one: every paper model is too slow on a CPU for a full run."""
    if spec.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec.device)


def pick_dtype(spec: ModelSpec, device: torch.device) -> torch.dtype:
    """`auto` is bfloat16 on CUDA (half the memory, fp32's range) and float32 on CPU, where bf16 is slow."""
    if spec.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, spec.dtype)


def parse_options(spec: ModelSpec, options: type[Options]) -> Options:
    """The spec's `options`, typed; an unknown key or a wrong type fails at load, not mid-run."""
    try:
        return options.model_validate(spec.options)
    except ValidationError as error:
        raise ValueError(f"adapter {spec.kind!r} (model {spec.model_id!r}): bad options {spec.options}: {error}") \
            from None


def run_batched(fn: Callable[[list[Item]], Sequence[Any]], items: Sequence[Item], batch_size: int) -> list:
    """`fn` over consecutive batches of `items`, outputs concatenated in input order.

    A batch that runs out of CUDA memory is retried at half the size (and the smaller size is kept
    for the rest: the next batch would not fit either), down to one item, then the error is raised.
    """
    items = list(items)
    outputs: list = []
    start = 0
    while start < len(items):
        batch = items[start:start + batch_size]
        try:
            result = fn(batch)
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            torch.cuda.empty_cache()
            batch_size = max(1, batch_size // 2)
            continue
        if len(result) != len(batch):
            raise ValueError(f"batch function returned {len(result)} outputs for {len(batch)} inputs")
        outputs.extend(result)
        start += len(batch)
    return outputs
