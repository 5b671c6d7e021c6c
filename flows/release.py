"""RainRAG's versions: list them, and what changed between two of them.

    python -m flows.release list --store /data/rainrag
    python -m flows.release diff --store /data/rainrag [OLD [NEW]]

The distill flow cuts a version whenever its manifest changes (tasks.curation.releases) and attaches
that version's diff to its run; `diff` shows the diff of any two versions (by default the latest and
the one before it), prints it as Markdown and attaches it to a flow run of its own as the artifact
`manifest-diff`, so that it can be read and linked in the Prefect UI.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow
from prefect.artifacts import create_markdown_artifact

from storage.store import Store
from tasks.curation.releases import Version, diff_versions, release_path, versions


@flow(name="release-diff")
def release_diff(store: str, old: str | None = None, new: str | None = None) -> str:
    """The Markdown diff of two RainRAG versions of `store`, also attached as the artifact `manifest-diff`."""
    diff = version_diff(Store(store), old, new)
    create_markdown_artifact(key="manifest-diff", markdown=diff.markdown(),
                             description=f"RainRAG {diff.old} → {diff.new}")
    return diff.markdown()


def version_diff(store: Store, old: str | None, new: str | None):
    known = versions(store)
    if not known:
        raise FileNotFoundError(f"{store.root} has no RainRAG release yet: run the distill flow first")
    new_version = Version.parse(new) if new else known[-1]
    if old:
        old_version = Version.parse(old)
    else:
        earlier = [v for v in known if v < new_version]
        old_version = earlier[-1] if earlier else None
    return diff_versions(store, old_version, new_version)


def version_lines(store: Store) -> list[str]:
    lines = []
    for version in versions(store):
        path = release_path(store, version)
        table = pq.read_table(path, columns=["split"])
        test = table["split"].to_pylist().count("test")
        lines.append(f"{version.name:<8} {table.num_rows:>9} pairs  {table.num_rows - test:>9} train  {test:>7} test  "
                     f"{path}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.release", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every version with its pairs per split")
    listing.add_argument("--store", required=True, type=Path)
    diffing = commands.add_parser("diff", help="pairs added, removed and moved between two versions")
    diffing.add_argument("--store", required=True, type=Path)
    diffing.add_argument("old", nargs="?", help="the older version (default: the one before NEW)")
    diffing.add_argument("new", nargs="?", help="the newer version (default: the latest)")
    args = parser.parse_args(argv)
    if not args.store.is_dir():
        parser.exit(2, f"error: store {args.store} does not exist\n")
    store = Store(args.store)
    try:
        if args.command == "list":
            lines = version_lines(store)
            print("\n".join(lines) if lines else f"{store.root} has no RainRAG release yet")
            return
        version_diff(store, args.old, args.new)   # a wrong version fails here, before a Prefect server starts
        print(release_diff(str(store.root), args.old, args.new))
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    main()
