"""Command line: `python -m corpus --out DIR [--seed 0] [--scale 1] [--force]`.

Refuses a non-empty output directory unless --force, so a typo cannot scatter thousands of images
into a folder that holds real data.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from corpus import generate_corpus
from corpus.defects import GENUINE, LABELS_FILE, read_labels

EXIT_REFUSED = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write the corpus into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--scale", type=int, default=1, help="multiplies every dataset's item count")
    parser.add_argument("--force", action="store_true", help="write even if --out is not empty")
    parser.add_argument("--no-defects", dest="defects", action="store_false",
                        help="plant no defects (by default a third of the training pairs are spoilt, labelled in "
                             "<out>/defects.csv)")
    args = parser.parse_args(argv)
    if args.seed < 0 or args.scale < 1:
        parser.error("--seed must be >= 0 and --scale >= 1")
    return args


def format_table(counts: dict[str, int]) -> str:
    """Counts of rainy files per dataset and their total, as an aligned text table."""
    width = max(len("dataset"), *(len(name) for name in counts))
    rows = [f"{'dataset':<{width}}  rainy files", f"{'-' * width}  -----------"]
    rows += [f"{name:<{width}}  {n:>11}" for name, n in counts.items()]
    rows.append(f"{'total':<{width}}  {sum(counts.values()):>11}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        print(f"error: {out} exists and is not a directory", file=sys.stderr)
        return EXIT_REFUSED
    if out.is_dir() and any(out.iterdir()) and not args.force:
        print(f"error: {out} is not empty; choose an empty directory or pass --force", file=sys.stderr)
        return EXIT_REFUSED
    start = time.perf_counter()
    counts = generate_corpus(out, seed=args.seed, scale=args.scale, defects=args.defects)
    print(format_table(counts))
    planted = Counter(label["defect"] for label in read_labels(out) if label["defect"] != GENUINE)
    print(f"planted defects: {sum(planted.values())} ({', '.join(f'{k} {n}' for k, n in sorted(planted.items()))}); "
          f"labels: {out / LABELS_FILE}" if planted else f"no planted defects; labels: {out / LABELS_FILE}")
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s (seed={args.seed}, scale={args.scale})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
