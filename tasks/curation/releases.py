"""RainRAG's releases: every manifest a run publishes is a numbered version, and released splits never move.

    <store>/releases/rainrag-<major>.<minor>.parquet    the manifest of that version, plus `manifest_version`

A distill run whose manifest differs from the latest release cuts the next minor version (1.0, 1.1,
...). Within a major version two rules hold for every pair ever released in it:

- a pair released in test stays in test: across runs, added datasets and changed thresholds;
- a pair released in train never moves to test.

The manifest step keeps them by pinning the backgrounds (clean images) of released pairs to their
released split (tasks.curation.split); the dedup step keeps released members of a duplicate group.
`check_rules` verifies the new manifest against the history before a version is written, because a
pin can still be broken by the data itself: a dataset whose clean image was replaced, so that a pair
released in test now shares its background with released training pairs. Such a version is refused
with the pairs named, unless the run asks for a new major version (`new_major`): it starts again from
an empty history, with a fresh split, as 2.0, 3.0, ...

Releases are append-only; the history is read from these files, so a rerun with nothing new cuts no
version and recomputes nothing (the steps' fingerprints carry the major version, not the history: the
history of a major version is what those very steps wrote).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage.atomic import write_parquet
from storage.store import Store

FOLDER = "releases"
FILE = re.compile(r"^rainrag-(\d+)\.(\d+)\.parquet$")
SHOWN = 20   # rows of each kind a diff lists


class SplitRuleBroken(RuntimeError):
    """A new version would move a released pair between test and train."""


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    @property
    def name(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.fullmatch(r"v?(\d+)\.(\d+)", text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a RainRAG version: expected <major>.<minor>, e.g. 1.2")
        return cls(int(match.group(1)), int(match.group(2)))


def release_path(store: Store, version: Version) -> Path:
    return store.root / FOLDER / f"rainrag-{version.name}.parquet"


def versions(store: Store) -> list[Version]:
    """Every release of the store, oldest first."""
    folder = store.root / FOLDER
    found = (FILE.match(p.name) for p in folder.glob("rainrag-*.parquet")) if folder.is_dir() else ()
    return sorted(Version(int(m.group(1)), int(m.group(2))) for m in found if m)


def latest(store: Store) -> Version | None:
    found = versions(store)
    return found[-1] if found else None


def major_for(store: Store, new_major: bool = False) -> int:
    """The major version the next release belongs to: the latest's (1 for the first), or the one after."""
    last = latest(store)
    major = last.major if last else 1
    return major + 1 if new_major and last else major


def read_release(store: Store, version: Version, columns: list[str] | None = None) -> pa.Table:
    path = release_path(store, version)
    if not path.exists():
        known = ", ".join(v.name for v in versions(store)) or "none yet"
        raise FileNotFoundError(f"{store.root} has no RainRAG release {version.name} (releases: {known})")
    return pq.read_table(path, columns=columns)


def history(store: Store, major: int) -> list[pa.Table]:
    """(sample_id, split, clean_hash) of each release of `major`, oldest first."""
    return [read_release(store, v, ["sample_id", "split", "clean_hash"]) for v in versions(store) if v.major == major]


def released_ids(store: Store, major: int) -> set[str]:
    return {sid for table in history(store, major) for sid in table["sample_id"].to_pylist()}


def released_splits(store: Store, major: int, tables: list[pa.Table] | None = None) -> dict[str, str]:
    """sample_id -> the split it was released in (test wins, should a history ever hold both); `tables`:
    the history of `major`, when already read."""
    splits: dict[str, str] = {}
    for table in history(store, major) if tables is None else tables:
        for sid, split in zip(table["sample_id"].to_pylist(), table["split"].to_pylist()):
            if splits.get(sid) != "test":
                splits[sid] = split
    return splits


def pins(kept: list[dict], store: Store, major: int) -> dict[str, str]:
    """background -> split for the split of `kept` rows (sample_id, background): the backgrounds of
    released pairs, under their current clean image, and the released backgrounds themselves. A
    background pinned both ways goes to test (no test image in training); check_rules reports it."""
    pinned: dict[str, str] = {}
    tables = history(store, major)
    splits = released_splits(store, major, tables)
    for table in tables:
        for background, split in zip(table["clean_hash"].to_pylist(), table["split"].to_pylist()):
            pinned[background] = "test" if "test" in (split, pinned.get(background)) else split
    for row in kept:
        split = splits.get(row["sample_id"])
        if split is not None:
            pinned[row["background"]] = "test" if "test" in (split, pinned.get(row["background"])) else split
    return pinned


def check_rules(manifest: pa.Table, store: Store, major: int) -> None:
    """SplitRuleBroken naming the pairs when `manifest` moves a pair released in `major` across splits."""
    released = released_splits(store, major)
    moved = [(sid, released[sid], split) for sid, split in
             zip(manifest["sample_id"].to_pylist(), manifest["split"].to_pylist())
             if sid in released and released[sid] != split]
    if moved:
        shown = "; ".join(f"{sid}: released in {old}, now {new}" for sid, old, new in moved[:5])
        more = f" and {len(moved) - 5} more" if len(moved) > 5 else ""
        raise SplitRuleBroken(
            f"the new RainRAG version would move {len(moved)} released pairs between train and test ({shown}{more}): "
            "a model trained on an older train split would be tested on images it trained on. This happens when a "
            "dataset's images changed under released pairs. Rerun with --new-major to start RainRAG "
            f"{major + 1}.0 with a fresh split")


def cut_release(store: Store, manifest: pa.Table, major: int) -> tuple[Version, Version | None] | None:
    """Write `manifest` as the next version of `major` when it differs from the latest release; returns
    (new version, the one before it), or None when nothing changed."""
    last = latest(store)
    if last is not None:
        previous = read_release(store, last).drop_columns(["manifest_version"])
        if previous.schema.equals(manifest.schema) and previous.equals(manifest):
            return None
    check_rules(manifest, store, major)
    same_major = [v for v in versions(store) if v.major == major]
    version = Version(major, same_major[-1].minor + 1 if same_major else 0)
    table = manifest.append_column("manifest_version", pa.array([version.name] * manifest.num_rows, pa.string()))
    write_parquet(release_path(store, version), table)
    return version, last


@dataclass(frozen=True)
class Diff:
    old: str
    new: str
    added: pa.Table      # sample_id, dataset, subset, split
    removed: pa.Table
    moved: pa.Table      # sample_id, dataset, old/new subset, old/new split: subset or split changed

    def markdown(self) -> str:
        lines = [f"# RainRAG {self.old} → {self.new}", "",
                 f"{self.added.num_rows} pairs added, {self.removed.num_rows} removed, "
                 f"{self.moved.num_rows} changed subset or split.", ""]
        for title, table in (("Added", self.added), ("Removed", self.removed), ("Changed", self.moved)):
            if table.num_rows:
                names = table.column_names
                lines += [f"## {title}", "", "| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
                lines += ["| " + " | ".join(str(v) for v in row.values()) + " |"
                          for row in table.slice(0, SHOWN).to_pylist()]
                if table.num_rows > SHOWN:
                    lines.append(f"\n… and {table.num_rows - SHOWN} more")
                lines.append("")
        return "\n".join(lines)


KEYS = ["sample_id", "dataset", "subset", "split"]


def diff(old: pa.Table, new: pa.Table, old_name: str, new_name: str) -> Diff:
    """What changed between two manifests: pairs added, removed, and moved to another subset or split."""
    old, new = old.select(KEYS), new.select(KEYS)
    old_ids, new_ids = old["sample_id"], new["sample_id"]
    added = new.filter(pc.invert(pc.is_in(new_ids, value_set=old_ids))).sort_by("sample_id")
    removed = old.filter(pc.invert(pc.is_in(old_ids, value_set=new_ids))).sort_by("sample_id")
    joined = old.join(new, "sample_id", join_type="inner", left_suffix="_old", right_suffix="_new")
    changed = pc.or_(pc.not_equal(joined["subset_old"], joined["subset_new"]),
                     pc.not_equal(joined["split_old"], joined["split_new"]))
    moved = joined.filter(changed).select(["sample_id", "dataset_old", "subset_old", "subset_new", "split_old",
                                           "split_new"]).rename_columns(
        ["sample_id", "dataset", "old_subset", "new_subset", "old_split", "new_split"]).sort_by("sample_id")
    return Diff(old_name, new_name, added, removed, moved)


def diff_versions(store: Store, old: Version | None, new: Version) -> Diff:
    """The diff of two releases; `old` None: against an empty RainRAG (the first release)."""
    new_table = read_release(store, new)
    old_table = read_release(store, old) if old is not None else new_table.slice(0, 0)
    return diff(old_table, new_table, old.name if old else "(nothing)", new.name)
