"""`python -m benchmarks` (`make bench`): every figure, one table, the same figures in JSON."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import DEFAULT_FIGURES, FIGURES, OPT_IN, run_benchmarks
from benchmarks.context import FULL, QUICK
from benchmarks.environment import isolate_aws
from benchmarks.report import markdown, print_table, write_json

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: proves each benchmark runs, nothing more"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(FIGURES),
        help="run only this figure (repeatable); default: all but"
        f" {', '.join(sorted(OPT_IN))}, which run only when named",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write the figures ({DEFAULT_JSON})",
    )
    parser.add_argument(
        "--markdown", type=Path, help="also write the table as Markdown (for docs/benchmarks.md)"
    )
    parser.add_argument(
        "--no-asset", action="store_true", help="skip building the Lambda asset (needs pip access)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    isolate_aws()
    rows = run_benchmarks(
        sizes, only=args.only or DEFAULT_FIGURES, build_asset=not args.no_asset, progress=True
    )
    title = "size-recorder benchmarks" + (
        " (--quick: sizes too small to mean anything)" if args.quick else ""
    )
    print_table(rows, title=title)
    write_json(rows, args.json, settings={"quick": args.quick, "sizes": sizes.__repr__()})
    if args.markdown:
        args.markdown.write_text(markdown(rows), encoding="utf-8")
    print(f"figures written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
