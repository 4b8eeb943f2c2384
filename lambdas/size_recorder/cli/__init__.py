"""`size-recorder`: one console script, a subcommand per module in this package.

Each subcommand module parses its own options and prints; the work lives in the modules beside
this package (worker, replay, backfill, check, demo), so the CLI stays a thin layer.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from size_recorder import __version__

# Subcommand modules under size_recorder.cli; each defines add_parser(subparsers) and run(args).
COMMANDS = ("worker", "replay", "backfill", "check", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="size-recorder",
        description="Record the size of every S3 upload in the Postgres row that names it.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"size_recorder.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
