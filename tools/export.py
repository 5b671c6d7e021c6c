"""Export RainRAG in the authors' folder layout, so their training code (and anyone's) can read it.

    python -m tools.export --store S --data-root D --out DIR [--split train] [--copy]

writes `DIR/<split>/{drs,drd,nrs,nrd}/{input,target}/<name>` from the store's manifest: the same name in
input and target (`<dataset>-<sample_id>.<ext>`, as training.layout names them), one folder per
RainRAG split, so `DIR/train` is exactly the layout the authors' code trains on
(`python -m flows.train --data DIR/train`). Files are hard links to the data root where the filesystem
allows it (no extra disk, and the export survives a moved data root), else copies; side-by-side files
are split into two PNG halves. Running it again brings DIR in line with the manifest: links are
replaced atomically and files the manifest no longer holds are removed. `DIR/export.json` records
what was written; it is removed when an export starts and written only when every pair is in place, so
a folder without it is an unfinished export. File names that are not valid UTF-8 are opened by their
exact bytes (the manifest's `*_path_raw`).
"""
from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from storage.atomic import atomic_write, write_json
from storage.paths import absolute
from storage.stage import GLOBAL_SHARD
from storage.store import Store
from storage.vocabulary import subset_folder
from tasks.manifest import MANIFEST_FILE
from training.layout import SPLITS, Entry, write_entry

SIDES = ("input", "target")
EXPORT_FILE = "export.json"


class ExportError(RuntimeError):
    """A pair that could not be placed; the export is left without its export.json."""


def manifest_entries(manifest: list[dict], data_root: Path, splits: tuple[str, ...]) -> list[Entry]:
    """Where each manifest pair of the chosen splits goes (the subset folders are lower case)."""
    entries = []
    for row in manifest:
        if row["split"] not in splits:
            continue
        suffix = ".png" if row["side_by_side"] else Path(row["rainy_path"]).suffix.lower()
        entries.append(Entry(row["split"], subset_folder(row["subset"]), f"{row['dataset']}-{row['sample_id']}{suffix}",
                             absolute(data_root, row["rainy_path"], row.get("rainy_path_raw")),
                             absolute(data_root, row["clean_path"], row.get("clean_path_raw")), row["side_by_side"]))
    return entries


def place_file(source: Path, dest: Path, copy: bool) -> str:
    """Hard-link (or copy) `source` to `dest`, replacing what is there in one rename; returns the mode used."""
    if dest.exists() and not copy and os.path.samefile(source, dest):
        return "hardlink"
    if not copy:
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
            os.replace(tmp, dest)
            return "hardlink"
        except OSError:   # another filesystem, or one without hard links: copy instead
            tmp.unlink(missing_ok=True)
    atomic_write(dest, lambda t: shutil.copyfile(source, t))
    return "copy"


def write_pair(entry: Entry, out: Path, copy: bool) -> str:
    if entry.side_by_side:
        write_entry(entry, out, copy=True)   # training.layout splits the file into two PNG halves
        return "split"
    folder = out / entry.split / entry.subset
    modes = set()
    for side, source in zip(SIDES, (entry.rainy, entry.clean)):
        (folder / side).mkdir(parents=True, exist_ok=True)
        modes.add(place_file(source, folder / side / entry.name, copy))
    return "copy" if "copy" in modes else "hardlink"


def remove_stale(out: Path, entries: list[Entry], splits: tuple[str, ...]) -> int:
    """Delete files of the exported splits that the manifest no longer yields."""
    wanted = {(e.split, e.subset, e.name) for e in entries}
    stale = [p for split in splits for folder in (out / split).glob("*") if folder.is_dir()
             for side in SIDES for p in (folder / side).glob("*") if (split, folder.name, p.name) not in wanted]
    for path in stale:
        path.unlink()
    return len(stale)


def read_manifest_rows(store: Path) -> tuple[list[dict], Path]:
    if not Path(store).is_dir():
        raise FileNotFoundError(f"store {store} does not exist")
    target = Store(store)
    part = target.current_part("manifest", GLOBAL_SHARD)
    path = part if part is not None else target.root / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{target.root} has no manifest; run `python -m flows.distill` first")
    return pq.read_table(path).to_pylist(), path


def export(store: Path, data_root: Path, out: Path, splits: tuple[str, ...] = SPLITS, copy: bool = False) -> dict:
    """Write the layout and `out/export.json` (pairs per split and subset, how files were placed)."""
    data_root, out = Path(data_root).expanduser().resolve(), Path(out).expanduser().resolve()
    rows, source = read_manifest_rows(Path(store))
    entries = manifest_entries(rows, data_root, splits)
    (out / EXPORT_FILE).unlink(missing_ok=True)   # a folder without it is not a finished export
    modes: Counter[str] = Counter()
    for entry in entries:
        try:
            modes[write_pair(entry, out, copy)] += 1
        except OSError as exc:
            raise ExportError(f"cannot export {entry.rainy} (clean {entry.clean}): {exc.strerror or exc}; "
                              f"{out} is incomplete and has no {EXPORT_FILE}") from exc
    summary = {
        "manifest": str(source), "data_root": str(data_root), "splits": list(splits),
        "config": rows[0]["config"] if rows else None, "files": dict(sorted(modes.items())),
        "pairs": {f"{s}/{sub}": n for (s, sub), n in sorted(Counter((e.split, e.subset) for e in entries).items())},
        "removed_stale": remove_stale(out, entries, splits),
    }
    write_json(out / EXPORT_FILE, summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.export", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path, help="table store the distill flow wrote")
    parser.add_argument("--data-root", required=True, type=Path, help="the data root the store was built from")
    parser.add_argument("--out", required=True, type=Path, help="layout folder (one sub-folder per split)")
    parser.add_argument("--split", choices=SPLITS, action="append", help="export only this split (repeatable)")
    parser.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them")
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        parser.exit(2, f"error: data root {args.data_root} is not a folder\n")
    try:
        summary = export(args.store, args.data_root, args.out, tuple(args.split or SPLITS), args.copy)
    except FileNotFoundError as exc:
        parser.exit(2, f"error: {exc}\n")
    except ExportError as exc:
        parser.exit(1, f"error: {exc}\n")
    for key, n in summary["pairs"].items():
        print(f"{key:<10} {n:>7} pairs")
    print(f"files: {summary['files']}; removed {summary['removed_stale']} stale")
    print(f"train with: python -m flows.train --data {args.out.resolve() / 'train'} --out RUN_DIR")


if __name__ == "__main__":
    main()
