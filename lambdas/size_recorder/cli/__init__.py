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
COMMANDS = ("worker", "replay", "discard", "status", "backfill", "check", "demo", "eventbridge")
# cli.common's EXIT_CONFIG: the installation, like a setting, is wrong. Not imported from there,
# because importing cli.common needs rich, one of the packages whose absence this reports.
EXIT_MISSING_EXTRA = 2


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
    try:
        args = build_parser().parse_args(argv)
        code: int = args.run(args)
    except ModuleNotFoundError as exc:
        # Installed without the `cli` extra (the `django` one, say): one line, not a traceback.
        # A module of ours missing is a bug, and keeps its traceback.
        missing = (exc.name or "").partition(".")[0]
        if missing in ("", "size_recorder"):
            raise
        print(
            f"size-recorder: {missing} is not installed;"
            " install the cli extra: pip install 'size-recorder[cli]'",
            file=sys.stderr,
        )
        return EXIT_MISSING_EXTRA
    return code


if __name__ == "__main__":
    sys.exit(main())
