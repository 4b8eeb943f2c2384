"""`size-recorder backfill`: fill the NULL sizes of rows that existed before the recorder."""

from __future__ import annotations

import argparse
from typing import Any

from size_recorder.adapters import s3
from size_recorder.cli.common import CommandError, StopFlag, console, fail, print_summary
from size_recorder.cli.tools import add_bucket_arguments, exit_status, finish_parser, row_session
from size_recorder.core.scope import ScopeError
from size_recorder.ops.backfill import BackfillMethod, BackfillResult, backfill


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="fill NULL sizes of existing rows from S3 (once, when adopting the recorder)",
        description="Fill the size column of rows whose size is NULL, from S3. 'list' walks "
        "ListObjectsV2 under the prefix (one request per 1,000 objects); 'head' sends one HEAD "
        "per NULL row (for a few rows in a huge bucket). Safe to interrupt and run again.",
    )
    add_bucket_arguments(
        parser, page_help="objects per listing request, or rows per page with head"
    )
    parser.add_argument(
        "--method",
        choices=[m.value for m in BackfillMethod],
        default=BackfillMethod.LIST.value,
        help="list (default) or head",
    )
    parser.add_argument(
        "--start-after",
        metavar="KEY",
        help="list: resume a walk after this key (printed when a run is interrupted)",
    )
    finish_parser(parser, run=run, dry_run="count what would be filled, change nothing")


def run(args: argparse.Namespace) -> int:
    try:
        with row_session(f"backfill ({args.method})") as (settings, rows, update):
            result = backfill(
                settings=settings,
                rows=rows,
                client=s3.s3_client(),
                bucket=args.bucket,
                prefix=args.prefix,
                method=BackfillMethod(args.method),
                dry_run=args.dry_run,
                page_size=args.page_size,
                start_after=args.start_after,
                should_stop=StopFlag().install(),
                on_progress=lambda p: update(p.done, p.total),
            )
    except (CommandError, ScopeError) as exc:
        return fail(str(exc))
    print_summary("size-recorder backfill", summary_rows(result), as_json=args.json)
    if result.interrupted and result.last_key and not args.json:
        console.print(f"interrupted: resume with --start-after {result.last_key!r}")
    return exit_status(dry_run=result.dry_run, complete=result.complete)


def summary_rows(result: BackfillResult) -> dict[str, Any]:
    verb = "would be filled" if result.dry_run else "filled"
    rows: dict[str, Any] = {
        "method": str(result.method),
        f"rows {verb}": result.filled,
        "rows whose object no longer exists": (
            "unknown (interrupted)" if result.missing is None else result.missing
        ),
        "S3 requests": result.s3_requests,
    }
    if result.method is BackfillMethod.LIST:
        rows["objects listed"] = result.objects_listed
        rows["objects outside every prefix"] = result.outside_targets
    rows["interrupted"] = result.interrupted
    if result.last_key is not None:
        rows["last key"] = result.last_key
    return rows
