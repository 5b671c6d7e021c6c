"""Fitting the NIQE-style quality model (models.pipeline.offline.niqe): on the sample corpus's clean
ground truth for `make models` (the `offline` profile's `niqe-sample-corpus`), or on your own clean images.

    python -m models.pipeline.offline.niqe_fitting fit --images DIR [DIR...] --out DIR

The offline profile's quality model is made from the sample corpus (corpus/), as a network is made from
its training data: this is why `models` may import `corpus`, the layer below it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from corpus import generate_corpus
from models.pipeline.loading import MissingModel
from models.pipeline.offline.niqe import FIT_SCALE, FIT_SEED, IMAGE_SUFFIXES, NiqeModel, NiqeSettings, fit_niqe
from models.pipeline.profiles import ModelSpec, Profile
from storage.images import clean_loader, load_rgb8, rainy_loader
from storage.sources.discover import discover
from storage.sources.registry import load_registry, locate


def corpus_pairs(data_root: Path) -> list[tuple[str, np.ndarray, list[np.ndarray]]]:
    """(dataset, clean image, its rainy images) for every clean image under `data_root`, paired by the
    same dataset layouts that ingest uses (side-by-side halves split, many-to-one sets grouped)."""
    load_clean, load_rainy = clean_loader(data_root), rainy_loader(data_root)
    groups: dict[tuple, tuple[str, np.ndarray, list[np.ndarray]]] = {}
    for located in locate(data_root, load_registry())[0]:
        for row in discover(located, data_root):
            if row["clean_path"] is None or row["problem"] is not None:
                continue
            key = (row["clean_path"], row["side_by_side"])
            if key not in groups:
                groups[key] = (row["dataset"], load_clean(row), [])
            groups[key][2].append(load_rainy(row))
    return list(groups.values())


def fit_on_sample_corpus(out_dir: Path, settings: NiqeSettings, seed: int = FIT_SEED, scale: int = FIT_SCALE) -> None:
    """Generate the sample corpus in a scratch folder and fit on its clean ground truth."""
    with tempfile.TemporaryDirectory(prefix="niqe-corpus-") as scratch:
        generate_corpus(Path(scratch), seed=seed, scale=scale, defects=False)   # genuine ground truth only
        clean = [image for _, image, _ in corpus_pairs(Path(scratch))]
    fit_niqe(clean, out_dir, settings, source=f"sample corpus clean ground truth (seed={seed}, scale={scale})")


def prepare_niqe(spec: ModelSpec, profile: Profile) -> None:
    """`make models`: the offline quality model is fitted here, never downloaded, once."""
    if spec.model_id is None:
        raise ValueError(f"profile {profile.name!r}: the niqe adapter needs a model_id (its folder name)")
    out, settings = Path(profile.models_dir) / spec.model_id, NiqeSettings.from_options(spec.options)
    try:  # keep a model already fitted with these settings: it may be one fitted on the user's own images
        if NiqeModel.load(out).settings == settings:
            print(f"kept the NIQE model already fitted in {out} (delete the folder to fit it again)")
            return
    except MissingModel:
        pass
    fit_on_sample_corpus(out, settings)


def image_files(folders: Sequence[Path]) -> Iterator[Path]:
    """Image files under each folder, recursively, in a stable order."""
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        yield from sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.pipeline.offline.niqe_fitting", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit the pristine model on folders of clean images")
    fit.add_argument("--images", type=Path, nargs="+", required=True, help="folders of clean images (recursive)")
    fit.add_argument("--out", type=Path, required=True, help="model folder, e.g. <models dir>/niqe-sample-corpus")
    for field in fields(NiqeSettings):
        fit.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    args = parser.parse_args(argv)
    try:
        settings = NiqeSettings(**{f.name: getattr(args, f.name) for f in fields(NiqeSettings)})
    except ValueError as error:
        parser.error(str(error))
    files = list(image_files(args.images))
    if not files:
        parser.error(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {args.images}")
    fit_niqe((load_rgb8(path) for path in files), args.out, settings,
             source=", ".join(str(folder) for folder in args.images))
    print(f"fitted NIQE on {len(files)} images -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
