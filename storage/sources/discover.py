"""Walk a dataset's folders and pair its files by its rules, streaming one candidate at a time.

Nothing here opens an image: discovery only lists folders (and reads pair-list files), so it is cheap
enough to repeat on every run. Pair lists honour `ListFormat.keep` (row filter by regex) and
`ListFormat.roots` (folders that entries may be relative to) as `layout.py` describes. A candidate
that cannot become a sample (missing partner, list entry outside the dataset) carries a `problem`
and its `problem_code` (one of the codes below) and becomes a `rejects` row downstream.
"""
from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from storage.paths import clear_listing_cache, contained_rel, encode_rel_path, resolve_ci
from storage.sources.layout import Dataset, Rule, normalise_split
from storage.sources.registry import Located


# Reason codes of the candidates that cannot become samples (`rejects.code`).
MISSING_PARTNER = "missing_partner"
MISSING_LISTED_FILE = "missing_listed_file"
OUTSIDE_DATASET = "outside_dataset"


@dataclass
class DiscoveryStats:
    """What the walk saw, for the run log: files claimed per rule and a few unclaimed examples."""

    claimed: Counter = field(default_factory=Counter)
    ignored: int = 0
    ignored_examples: list[str] = field(default_factory=list)   # readable text (`\\xNN` for non-UTF-8 bytes)


def sample_id(dataset: str, rainy_rel: str) -> str:
    """Stable id from the dataset name and the rainy file's path relative to the data root."""
    return hashlib.sha1(f"{dataset}/{rainy_rel}".encode("utf-8", "surrogateescape")).hexdigest()[:16]


def shard_hash(path: str) -> int:
    """Where a candidate is sharded: by its clean file when it has one, so all rainy images of one
    clean image (many-to-one sets: 14 in DDN, 36 in RainCityscapes, a scene in GT-RAIN) share a shard
    and the clean file is read and hashed once, and later stages see siblings together."""
    return int(hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:8], 16)


def _walk(root: Path) -> Iterator[str]:
    """Relative POSIX paths of the files under root, in a stable order, one folder in memory at a time."""
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        base = os.path.relpath(folder, root)
        for name in sorted(files):
            if not name.startswith("."):
                yield name if base == "." else f"{base}/{name}".replace(os.sep, "/")


def _split(rule: Rule, groups: dict[str, str], listed: str | None = None) -> str:
    if rule.test_ranges and groups.get("id") is not None:
        number = int(groups["id"])
        if any(lo <= number <= hi for lo, hi in rule.test_ranges):
            return "test"
        return normalise_split(rule.split) if rule.split else "train"
    if rule.split:
        return normalise_split(rule.split)
    if groups.get("split"):
        return normalise_split(groups["split"])
    return normalise_split(listed) if listed else "train"


def _template_fields(rel: str, groups: dict[str, str]) -> dict[str, str]:
    path = PurePosixPath(rel)
    folder = path.parent.as_posix()
    return {"dir": "" if folder == "." else folder + "/", "file": path.name, "stem": path.stem,
            "suffix": path.suffix, **{k: v or "" for k, v in groups.items()}}


class _Pairer:
    """Turns claimed files of one dataset folder into candidate dicts (columns: schemas.CANDIDATES)."""

    def __init__(self, dataset: Dataset, data_root: Path, folder: str):
        self.dataset, self.folder = dataset, folder
        self.root = data_root / folder

    def candidate(self, rule: Rule, rainy_rel: str, split: str, *, clean_rel: str | None = None,
                  problem: tuple[str, str] | None = None, side: str | None = None) -> dict:
        """A candidate row; `problem` is (code, message) when it cannot become a sample."""
        labels = self.dataset.labels.model_copy(update=rule.labels.model_dump(exclude_none=True))
        rainy_text, rainy_raw = encode_rel_path(f"{self.folder}/{rainy_rel}")
        clean_text, clean_raw = encode_rel_path(f"{self.folder}/{clean_rel}") if clean_rel else (None, None)
        sid = sample_id(self.dataset.name, rainy_text)
        return {
            "sample_id": sid, "dataset": self.dataset.name, "split": split, "pairing": rule.kind,
            "pairing_rule": f"{self.dataset.name}/{rule.name}", "rainy_path": rainy_text,
            "rainy_path_raw": rainy_raw, "clean_path": clean_text, "clean_path_raw": clean_raw,
            "side_by_side": side, "time_of_day": labels.time_of_day, "rain_type": labels.rain_type,
            "is_real": labels.is_real, "problem": problem[1] if problem else None,
            "problem_code": problem[0] if problem else None, "shard_hash": shard_hash(clean_text or rainy_text),
        }

    def from_file(self, rule: Rule, rel: str, groups: dict[str, str]) -> Iterator[dict]:
        split = _split(rule, groups)
        if rule.kind == "unpaired":
            yield self.candidate(rule, rel, split)
        elif rule.kind == "side_by_side":
            yield self.candidate(rule, rel, split, clean_rel=rel, side=rule.order)
        elif rule.kind == "list_file":
            yield from self.from_list(rule, rel)
        else:
            fields = _template_fields(rel, groups)
            tried = [contained_rel(self.root, template.format(**fields)) for template in rule.clean]
            found = next((real for t in tried if t and (real := resolve_ci(self.root, t))), None)
            problem = None if found else (MISSING_PARTNER,
                                          f"missing clean partner: none of {[t for t in tried if t]} exists")
            yield self.candidate(rule, rel, split, clean_rel=found, problem=problem)

    def _list_rows(self, rule: Rule, list_rel: str) -> Iterator[dict[str, str]]:
        fmt = rule.pair_list
        assert fmt is not None
        with open(self.root / list_rel, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            if fmt.header:
                for row in csv.DictReader(handle, delimiter=fmt.separator or ","):
                    if all(row.get(col) in values for col, values in fmt.filter.items()) and fmt.kept(row.get):
                        yield {role: (row.get(col) or "").strip() for role, col in fmt.fields.items()}
                return
            for line in handle:
                cells = [c.strip() for c in line.strip().split(fmt.separator)]
                if cells and cells[0] and fmt.kept(lambda i: cells[i] if i < len(cells) else None):
                    yield {role: cells[i] if i < len(cells) else "" for role, i in fmt.fields.items()}

    def _entry_paths(self, folders: list[str], entry: dict[str, str]) -> tuple[str, str | None, str | None]:
        """(folder, rainy, clean) of a list entry under the first folder where its rainy file exists
        (else the first folder); rainy/clean are None when they point outside the dataset root."""
        first = None
        for folder in folders:
            rainy = contained_rel(self.root, f"{folder}/{entry['rainy']}")
            clean = contained_rel(self.root, f"{folder}/{entry['clean']}") if entry.get("clean") else None
            attempt = (folder, rainy, clean)
            first = first or attempt
            if len(folders) > 1 and rainy is not None and resolve_ci(self.root, rainy) is not None:
                return attempt
        assert first is not None
        return first

    def from_list(self, rule: Rule, list_rel: str) -> Iterator[dict]:
        assert rule.pair_list is not None
        base = PurePosixPath(list_rel).parent.as_posix()
        folders = [base if root.strip("/") in ("", ".") else
                   root.strip("/") if base == "." else f"{base}/{root.strip('/')}"
                   for root in rule.pair_list.roots]
        for entry in self._list_rows(rule, list_rel):
            split = _split(rule, {}, entry.get("split"))
            folder, rainy, clean = self._entry_paths(folders, entry)
            if rainy is None or (entry.get("clean") and clean is None):
                bad = entry["rainy"] if rainy is None else entry["clean"]
                shown = entry["rainy"] if folder == "." else f"{folder}/{entry['rainy']}"
                yield self.candidate(rule, shown, split,
                                     problem=(OUTSIDE_DATASET,
                                              f"list entry {bad!r} in {list_rel} points outside the dataset root"))
                continue
            rainy_real = resolve_ci(self.root, rainy)
            clean_real = resolve_ci(self.root, clean) if clean else None
            if rainy_real is None:
                yield self.candidate(rule, rainy, split, problem=(MISSING_LISTED_FILE,
                                                                  f"listed rainy file does not exist ({list_rel})"))
            elif clean and clean_real is None:
                yield self.candidate(rule, rainy_real, split,
                                     problem=(MISSING_PARTNER,
                                              f"missing clean partner: {clean} listed in {list_rel} does not exist"))
            else:
                yield self.candidate(rule, rainy_real, split, clean_rel=clean_real)


def discover(located: Located, data_root: Path, stats: DiscoveryStats | None = None) -> Iterator[dict]:
    """Every candidate of one dataset, streaming, in a stable order."""
    clear_listing_cache()
    stats = stats if stats is not None else DiscoveryStats()
    rules = [(rule, rule.regex) for rule in located.dataset.rules]
    for folder in located.folders:
        pairer = _Pairer(located.dataset, data_root, folder)
        for rel in _walk(pairer.root):
            for rule, regex in rules:
                found = regex.fullmatch(rel)
                if found:
                    stats.claimed[rule.name] += 1
                    yield from pairer.from_file(rule, rel, found.groupdict())
                    break
            else:
                stats.ignored += 1
                if len(stats.ignored_examples) < 5:
                    stats.ignored_examples.append(encode_rel_path(f"{folder}/{rel}")[0])  # readable: for logs
