"""The test sets a benchmark runs on: RainRAG's test subsets and every public test split in the store.

- RainRAG: the `split = 'test'` rows of the `manifest` table (read through the store's DuckDB
  catalog), one test set per subset (DRS, DRD, NRS, NRD). A store without a manifest yet has none.
- Public: the paired `split = 'test'` rows of `samples`, one test set per dataset (Rain100L, SPA-Data,
  DDN-Data ...). A dataset whose test rows come from several layout rules (FoundIR's rain categories,
  RainDS's synthetic and real parts) gets one test set per rule, named by the rule.

Every pair's file stem is its `sample_id`, unique within a set: restored images, ground truths and
inputs of a set are written under that stem, so scoring pairs files by stem and nothing else.
`materialize` lays a set out as `<folder>/input/` and `<folder>/gt/` (symlinks to the data root; PNG
halves for side-by-side files), the same folders `python -m flows.benchmark --gt-dir` scores against.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage.atomic import atomic_symlink
from storage.catalog import query, refresh_catalog
from storage.fingerprint import fingerprint
from evaluation.reading import read_for_scoring
from storage.images import halves, save_png
from storage.paths import absolute
from storage.store import Store
from storage.vocabulary import SUBSETS

RAINRAG = "RainRAG"
WHOLE = "all"  # the subset name of a test set that is a dataset's whole test split


@dataclass(frozen=True)
class TestPair:
    stem: str                 # sample_id: the file stem of this pair's input, ground truth and outputs
    rainy: Path               # absolute
    clean: Path
    side_by_side: str | None  # null | left_rainy | left_clean


@dataclass(frozen=True)
class TestSet:
    name: str     # RainRAG, or the dataset's name
    subset: str   # DRS | DRD | NRS | NRD for RainRAG; the layout rule or "all" for a public split
    source: str   # manifest | samples
    pairs: tuple[TestPair, ...]

    @property
    def key(self) -> str:
        """A name that is unique among test sets and safe as a folder name: Rain100L, RainRAG-DRS."""
        return self.name if self.subset == WHOLE else f"{self.name}-{self.subset}"

    def fingerprint(self) -> str:
        """Changes when a pair is added, removed or its files change size: the results must be redone."""
        return fingerprint([self.key, [(p.stem, str(p.rainy), str(p.clean), p.side_by_side,
                                        _size(p.rainy), _size(p.clean)) for p in self.pairs]])


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _pair(row: dict, data_root: Path) -> TestPair:
    return TestPair(row["sample_id"], absolute(data_root, row["rainy_path"], row.get("rainy_path_raw")),
                    absolute(data_root, row["clean_path"], row.get("clean_path_raw")), row.get("side_by_side"))


def manifest_test_sets(store: Store, data_root: Path) -> list[TestSet]:
    """RainRAG's test subsets from the catalog's `manifest` view (none when the store has no manifest)."""
    refresh_catalog(store)
    rows = query(store, "select * from manifest where split = 'test' and clean_path is not null")
    by_subset: dict[str, list[TestPair]] = defaultdict(list)
    for row in rows:
        subset = str(row["subset"]).upper()
        if subset not in SUBSETS:
            raise ValueError(f"manifest of {store.root}: sample {row['sample_id']} has subset {row['subset']!r}; "
                             f"expected one of {[s.lower() for s in SUBSETS]}")
        by_subset[subset].append(_pair(row, data_root))
    return [TestSet(RAINRAG, subset, "manifest", tuple(sorted(by_subset[subset], key=lambda p: p.stem)))
            for subset in SUBSETS if by_subset[subset]]


def public_test_sets(store: Store, data_root: Path) -> list[TestSet]:
    """One test set per dataset (per layout rule where a dataset's test split has several) of `samples`."""
    groups: dict[str, dict[str, list[TestPair]]] = defaultdict(lambda: defaultdict(list))
    for row in store.read_rows("samples"):
        if row["split"] == "test" and row["clean_path"] is not None:
            rule = row["pairing_rule"].split("/", 1)[-1]
            groups[row["dataset"]][rule].append(_pair(row, data_root))
    sets = []
    for dataset in sorted(groups):
        rules = groups[dataset]
        for rule in sorted(rules):
            subset = WHOLE if len(rules) == 1 else rule
            sets.append(TestSet(dataset, subset, "samples", tuple(sorted(rules[rule], key=lambda p: p.stem))))
    return sets


def read_test_sets(store: Store, data_root: Path, only: list[str] | None = None) -> list[TestSet]:
    """RainRAG's subsets then the public test splits; `only` keeps the sets whose key or name it lists."""
    sets = manifest_test_sets(store, data_root) + public_test_sets(store, data_root)
    if only:
        known = {s.key for s in sets} | {s.name for s in sets}
        unknown = sorted(set(only) - known)
        if unknown:
            present = ", ".join(s.key for s in sets) or "none"
            raise ValueError(f"no test set {unknown} in {store.root}; present: {present}")
        sets = [s for s in sets if s.key in only or s.name in only]
    return sets


def materialize(test_set: TestSet, folder: Path) -> tuple[Path, Path]:
    """(input folder, ground-truth folder) of `test_set` under `folder`, one file per pair named by its stem."""
    inputs, gts = folder / "input", folder / "gt"
    stems = {pair.stem for pair in test_set.pairs}
    for side in (inputs, gts):
        side.mkdir(parents=True, exist_ok=True)
        for stale in [p for p in side.iterdir() if p.stem not in stems]:  # pairs the set no longer has
            stale.unlink()
    for pair in test_set.pairs:
        if pair.side_by_side:
            if not (gts / f"{pair.stem}.png").exists() or not (inputs / f"{pair.stem}.png").exists():
                rainy, clean = halves(read_for_scoring(pair.rainy), pair.side_by_side)  # full depth, grey kept
                save_png(np.ascontiguousarray(rainy), inputs / f"{pair.stem}.png")
                save_png(np.ascontiguousarray(clean), gts / f"{pair.stem}.png")
            continue
        for source, out in ((pair.rainy, inputs), (pair.clean, gts)):
            if not source.exists():
                raise FileNotFoundError(f"test set {test_set.key}: {source} (sample {pair.stem}) does not exist; "
                                        "is --data-root the folder the store was ingested from?")
            atomic_symlink(source.resolve(), out / f"{pair.stem}{source.suffix.lower()}")
    return inputs, gts
