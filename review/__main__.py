"""The review app's command line.

    python -m review serve --store S --data-root D [--host 127.0.0.1] [--port 8765] [--token T]
    python -m review study create --store S [--pairs 20] [--seed 0] [--name agreement]
    python -m review study report --store S [--name agreement]

`serve` binds to loopback unless told otherwise; with a token (--token, or $RAINRAG_REVIEW_TOKEN) every
decision must carry it. `study report` writes <store>/reports/agreement.md and agreement.png and
attaches them to a Prefect flow run (flows/agreement.py).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

TOKEN_VARIABLE = "RAINRAG_REVIEW_TOKEN"


def _store(parser: argparse.ArgumentParser, path: Path):
    from storage.store import Store

    if not (path / "samples").is_dir():
        parser.exit(2, f"error: {path} is not a rainrag store (no samples table): run the distill flow first\n")
    return Store(path)


def serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    import uvicorn

    from review.app import create_app

    store = _store(parser, args.store)
    if not args.data_root.is_dir():
        parser.exit(2, f"error: data root {args.data_root} is not a folder\n")
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if args.host not in ("127.0.0.1", "localhost", "::1") and not token:
        print(f"warning: serving on {args.host} without a token: anyone who reaches it can record decisions")
    print(f"rainrag review: http://{args.host}:{args.port}/references  (store {store.root}, data {args.data_root})")
    uvicorn.run(create_app(store.root, args.data_root, token), host=args.host, port=args.port, log_level="warning")


def study(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from tasks.reviewing.study import create_study

    store = _store(parser, args.store)
    try:
        if args.action == "create":
            drawn = create_study(store, args.pairs, args.seed, args.name)
            print(f"study {drawn['name']}: {len(drawn['pairs'])} pairs ({drawn['strata']['kept']} kept, "
                  f"{drawn['strata']['discarded']} discarded by the judges), shown blind in a shuffled order; "
                  f"reviewers answer it at /studies/{drawn['name']}")
            return
        from flows.agreement import agreement_report
        from tasks.reviewing.study import measure

        measure(store, args.name)   # a study without answers fails here, before a Prefect server starts
        print(f"report: {agreement_report(str(store.root), args.name)}")
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m review", description="rainrag's review app and agreement study")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve the review pages")
    serving.add_argument("--store", required=True, type=Path)
    serving.add_argument("--data-root", required=True, type=Path)
    serving.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serving.add_argument("--port", type=int, default=8765)
    serving.add_argument("--token", help=f"shared token every decision must carry (default: ${TOKEN_VARIABLE})")
    studying = commands.add_parser("study", help="the human–judge agreement study")
    studying.add_argument("action", choices=("create", "report"))
    studying.add_argument("--store", required=True, type=Path)
    studying.add_argument("--name", default="agreement", help="the study's name (default: agreement)")
    studying.add_argument("--pairs", type=int, default=20, help="pairs to draw (create; the paper's study: 20)")
    studying.add_argument("--seed", type=int, default=0, help="random seed of the draw (create)")
    args = parser.parse_args(argv)
    (serve if args.command == "serve" else study)(parser, args)


if __name__ == "__main__":
    main()
