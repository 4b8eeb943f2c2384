"""`size-recorder check`: report rows whose size drifted from S3; `--fix` repairs the sizes."""

from __future__ import annotations

import argparse
from typing import Any

from size_recorder.adapters import s3
from size_recorder.cli.common import CommandError, StopFlag, fail, print_summary
from size_recorder.cli.tools import (
    add_bucket_arguments,
    exit_status,
    finish_parser,
    print_details,
    row_session,
)
from size_recorder.core.scope import ScopeError
from size_recorder.ops.check import CheckResult, check


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="compare recorded sizes with an S3 listing and report (or --fix) drift",
        description="List the bucket under the prefix and compare each object's size with its "
        "row: sizes that differ, rows whose object is gone, rows still NULL. --fix sets the "
        "sizes that differ; gone and NULL rows are only reported (backfill fills NULL rows).",
    )
    add_bucket_arguments(parser, page_help="objects per listing request")
    parser.add_argument("--fix", action="store_true", help="repair the sizes that differ")
    finish_parser(parser, run=run, dry_run="with --fix: count what would be repaired")


def run(args: argparse.Namespace) -> int:
    try:
        with row_session("check: listing") as (settings, rows, update):
            result = check(
                settings=settings,
                rows=rows,
                client=s3.s3_client(),
                bucket=args.bucket,
                prefix=args.prefix,
                fix=args.fix,
                dry_run=args.dry_run,
                page_size=args.page_size,
                should_stop=StopFlag().install(),
                on_progress=lambda listed: update(listed, None),
            )
    except (CommandError, ScopeError) as exc:
        return fail(str(exc))
    print_summary(
        "size-recorder check", summary_rows(result, detailed=args.json), as_json=args.json
    )
    if not args.json:
        print_details(
            [
                f"{d.kind}: {d.key} (row: {_size(d.recorded)}, S3: {_size(d.actual, 'no object')})"
                for d in result.examples
            ],
            total=result.drift,
        )
    return exit_status(dry_run=result.dry_run, complete=result.complete)


def summary_rows(result: CheckResult, *, detailed: bool) -> dict[str, Any]:
    """The summary; `detailed` adds the first drifting rows (for --json)."""
    rows: dict[str, Any] = {
        "objects listed": result.objects_listed,
        "S3 requests": result.s3_requests,
        "objects outside every prefix": result.outside_targets,
        "rows whose size differs": result.counts["differs"],
        "rows whose object is gone": result.counts["gone"],
        "rows still NULL (run backfill)": result.counts["still null"],
    }
    if result.fix:
        rows["rows that would be fixed" if result.dry_run else "rows fixed"] = result.fixed
    rows["interrupted"] = result.interrupted
    if detailed:
        rows["drift"] = [
            {"kind": d.kind, "key": d.key, "recorded": d.recorded, "actual": d.actual}
            for d in result.examples
        ]
    return rows


def _size(value: int | None, missing: str = "NULL") -> str:
    return missing if value is None else f"{value:,} bytes"
