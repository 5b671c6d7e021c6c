"""The dataset registry: built-in declarations plus the user's, and where each lives on disk.

Built-ins are `layouts/*.yaml` beside this file. A user file passed with `--layouts` has the same
form; a dataset it names replaces the built-in of that name (to correct a layout), any other is added.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml
from pydantic import ValidationError

from storage.sources.layout import Dataset

BUILTIN_LAYOUTS = Path(__file__).with_name("layouts")


class LayoutError(ValueError):
    """A layouts file that cannot be used; the message names the file and the problem."""


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _folder_key(name: str) -> str:
    """Folder names match when equal after lower-casing and dropping separators (DDN_Data = ddn-data)."""
    return re.sub(r"[^a-z0-9+]", "", name.lower())


def load_layout_file(path: Path) -> list[Dataset]:
    try:
        # libyaml's parser when PyYAML has it: the built-in layouts take ~0.5 s to parse in pure Python,
        # paid by every run (a rerun with nothing new included)
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise LayoutError(f"layouts file {path}: cannot read it: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), list):
        raise LayoutError(f"layouts file {path}: expected a mapping with a `datasets:` list")
    datasets = []
    for index, entry in enumerate(document["datasets"]):
        label = entry.get("name", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        try:
            datasets.append(Dataset.model_validate(entry))
        except ValidationError as exc:
            raise LayoutError(f"layouts file {path}: dataset {label}: {exc}") from exc
    return datasets


def load_registry(extra_files: Iterable[Path] = ()) -> dict[str, Dataset]:
    """name -> Dataset, built-ins first, then each user file in order (later wins)."""
    registry: dict[str, Dataset] = {}
    for path in [*sorted(BUILTIN_LAYOUTS.glob("*.yaml")), *map(Path, extra_files)]:
        for dataset in load_layout_file(path):
            registry[dataset.name] = dataset
    _check_unique_folder_keys(registry.values())
    return registry


def _check_unique_folder_keys(datasets: Iterable[Dataset]) -> None:
    owner: dict[str, str] = {}
    for dataset in datasets:
        for name in [dataset.name, *dataset.aliases]:
            key = _folder_key(name)
            if owner.setdefault(key, dataset.name) != dataset.name:
                raise LayoutError(f"folder name {name!r} of {dataset.name} is also claimed by {owner[key]}")


@dataclass(frozen=True)
class Located:
    dataset: Dataset
    folders: tuple[str, ...]  # real folder names under data_root (aliases may split one dataset in two)


def _by_folder_key(registry: dict[str, Dataset]) -> dict[str, Dataset]:
    return {_folder_key(n): d for d in registry.values() for n in [d.name, *d.aliases]}


def resolve_names(registry: dict[str, Dataset], names: Iterable[str]) -> list[str]:
    """Registry names of datasets given by name or alias, by the rule folders are matched with
    (case- and separator-insensitive: `ddn-data` and `Rain1400` both name DDN-Data)."""
    by_key = _by_folder_key(registry)
    unknown = [n for n in names if _folder_key(n) not in by_key]
    if unknown:
        raise LayoutError(f"unknown dataset(s) {unknown}; known (any letter case, with or without "
                          f"separators, or an alias): {sorted(registry)}")
    return sorted({by_key[_folder_key(n)].name for n in names})


def folder_names(dataset: Dataset) -> list[str]:
    """The folder names a dataset is recognised by: its name and its aliases."""
    return [dataset.name, *dataset.aliases]


def locate(data_root: Path, registry: dict[str, Dataset], only: Iterable[str] | None = None
           ) -> tuple[list[Located], list[str]]:
    """Datasets present under data_root (by name or alias, case- and separator-insensitive), and the
    folders that match no dataset. `only` names datasets by the same rule."""
    if not data_root.is_dir():
        raise FileNotFoundError(f"data root {data_root} is not a folder")
    wanted = set(resolve_names(registry, only)) if only else None
    by_key = _by_folder_key(registry)
    found: dict[str, list[str]] = {}
    unrecognised = []
    for entry in sorted(os.scandir(data_root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        dataset = by_key.get(_folder_key(entry.name))
        if dataset is None:
            unrecognised.append(entry.name)
        elif wanted is None or dataset.name in wanted:
            found.setdefault(dataset.name, []).append(entry.name)
    located = [Located(registry[name], tuple(folders)) for name, folders in sorted(found.items())]
    return located, unrecognised
