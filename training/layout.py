"""Build the authors' training layout from an ingested store, so training can start before a manifest exists.

    python -m training.layout --store S --data-root D --out DIR [--copy]

writes `DIR/{train,test}/{drs,drd,nrs,nrd}/{input,target}/<name>` (same name in input and target, as
the authors' code expects) from the paired rows of the store's `samples` table: the subset from
time_of_day × rain_type, train or test from the dataset's own split. Files are symlinks to the data
root (a clean image shared by several rainy ones stays one file, which keeps it on one side of the
validation split) unless --copy; side-by-side files are split into two PNG halves. Rows that cannot
be placed (unpaired, mixed day/night or rain type not decided yet, other splits) are counted by reason
in `DIR/layout.json`. Running it again brings DIR in line with the store.
"""
from __future__ import annotations

import argparse
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from storage.atomic import atomic_symlink, atomic_write, write_json
from storage.images import halves, load_rgb8, save_png
from storage.paths import absolute
from storage.store import Store
from storage.vocabulary import SPLITS, SUBSET_OF, subset_folder

FOLDER_OF = {labels: subset_folder(subset) for labels, subset in SUBSET_OF.items()}   # (time, rain) -> drs ...


@dataclass(frozen=True)
class Entry:
    split: str
    subset: str
    name: str
    rainy: Path
    clean: Path
    side_by_side: str | None


def read_samples(store: Store) -> list[dict]:
    """Every row of the completed `samples` parts."""
    return store.read_rows("samples")


def place(row: dict, data_root: Path) -> Entry | str:
    """Where a sample goes in the layout, or why it cannot go anywhere."""
    if row["clean_path"] is None:
        return "unpaired"
    subset = FOLDER_OF.get((row["time_of_day"], row["rain_type"]))
    if subset is None:
        return f"subset undecided (time_of_day={row['time_of_day']}, rain_type={row['rain_type']})"
    if row["split"] not in SPLITS:
        return f"split {row['split']}"
    suffix = ".png" if row["side_by_side"] else Path(row["rainy_path"]).suffix.lower()
    return Entry(row["split"], subset, f"{row['dataset']}-{row['sample_id']}{suffix}",
                 absolute(data_root, row["rainy_path"], row["rainy_path_raw"]),
                 absolute(data_root, row["clean_path"], row["clean_path_raw"]), row["side_by_side"])


def write_entry(entry: Entry, out: Path, copy: bool) -> None:
    folder = out / entry.split / entry.subset
    rainy_out, clean_out = folder / "input" / entry.name, folder / "target" / entry.name
    rainy_out.parent.mkdir(parents=True, exist_ok=True)
    clean_out.parent.mkdir(parents=True, exist_ok=True)
    if entry.side_by_side:
        rainy, clean = halves(load_rgb8(entry.rainy), entry.side_by_side)
        save_png(rainy, rainy_out)
        save_png(clean, clean_out)
    elif copy:
        for source, dest in ((entry.rainy, rainy_out), (entry.clean, clean_out)):
            atomic_write(dest, lambda tmp, source=source: shutil.copyfile(source, tmp))
    else:
        atomic_symlink(entry.rainy.resolve(), rainy_out)
        atomic_symlink(entry.clean.resolve(), clean_out)


def remove_stale(out: Path, entries: list[Entry]) -> int:
    """Delete layout files that the store no longer yields (a dataset removed or re-labelled)."""
    wanted = {(e.split, e.subset, e.name) for e in entries}
    stale = [p for split in SPLITS for subset in FOLDER_OF.values() for side in ("input", "target")
             for p in (out / split / subset / side).glob("*")
             if (split, subset, p.name) not in wanted]
    for path in stale:
        path.unlink()
    return len(stale)


def build_layout(store: Path, data_root: Path, out: Path, copy: bool = False) -> dict:
    """Write the layout and `out/layout.json` (counts per split and subset, skipped rows by reason)."""
    data_root, out = Path(data_root).expanduser().resolve(), Path(out).expanduser().resolve()
    entries: list[Entry] = []
    skipped: Counter[str] = Counter()
    for row in read_samples(Store(store)):
        placed = place(row, data_root)
        if isinstance(placed, str):
            skipped[placed] += 1
        else:
            entries.append(placed)
    for entry in entries:
        write_entry(entry, out, copy)
    summary = {
        "store": str(Path(store).resolve()), "data_root": str(data_root), "mode": "copy" if copy else "symlink",
        "pairs": {f"{s}/{sub}": n for (s, sub), n in sorted(Counter((e.split, e.subset) for e in entries).items())},
        "skipped": dict(sorted(skipped.items())), "removed_stale": remove_stale(out, entries),
    }
    write_json(out / "layout.json", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.layout", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path, help="table store with an ingested samples table")
    parser.add_argument("--data-root", required=True, type=Path, help="the data root the store was ingested from")
    parser.add_argument("--out", required=True, type=Path, help="layout folder (train/ and test/ inside)")
    parser.add_argument("--copy", action="store_true", help="copy files instead of symlinking them")
    args = parser.parse_args(argv)
    if not (args.store / "samples").is_dir():
        parser.exit(2, f"error: {args.store} has no samples table; run `python -m flows.ingest` first\n")
    summary = build_layout(args.store, args.data_root, args.out, args.copy)
    for key, n in summary["pairs"].items():
        print(f"{key:<10} {n:>7} pairs")
    for reason, n in summary["skipped"].items():
        print(f"skipped {n} rows: {reason}")
    print(f"train with: python -m flows.train --data {args.out.resolve() / 'train'} --out RUN_DIR")


if __name__ == "__main__":
    main()
