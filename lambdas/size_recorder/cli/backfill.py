"""`size-recorder backfill`: fill the NULL sizes of rows that existed before the recorder."""

from __future__ import annotations

import argparse
from typing import Any

from size_recorder.adapters import s3
from size_recorder.cli import inventory
from size_recorder.cli.common import EXIT_INCOMPLETE, EXIT_OK, CommandError, StopFlag, fail
from size_recorder.cli.tools import (
    Report,
    add_bucket_arguments,
    finish_parser,
    nothing_matched_note,
    row_session,
)
from size_recorder.core.scope import ScopeError
from size_recorder.ops.backfill import BackfillMethod, BackfillResult, Unfilled, backfill

# Text for why a row was left NULL.
_LEFT = {
    "gone": "no object: left NULL",
    "not in report": "not in the inventory report: left for --method head",
    "null after delete": "a delete was recorded: left for its next event or --method head",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="fill NULL sizes of existing rows from S3 (once, when adopting the recorder)",
        description="Fill the size column of rows whose size is NULL, from S3. 'list' walks "
        "ListObjectsV2 under the prefix (one request per 1,000 objects); 'head' sends one HEAD "
        "per NULL row (for a few rows in a huge bucket); --inventory reads an S3 Inventory "
        "report instead of listing (for buckets of millions of objects). A row NULL after a "
        "recorded delete is filled only by 'head'. Safe to interrupt and run again.",
    )
    add_bucket_arguments(
        parser,
        page_help="objects per listing request, or rows per page with head",
        bucket_required=False,
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
    inventory.add_inventory_arguments(parser)
    finish_parser(
        parser,
        run=run,
        dry_run="report what would be filled, change nothing",
        json_help="print JSON lines: one per key left NULL, then the summary",
    )


def run(args: argparse.Namespace) -> int:
    refused = inventory.refuse_inventory_flags(args)
    if refused is not None:
        return fail(refused)
    if args.inventory is not None:
        if args.method != BackfillMethod.LIST or args.start_after is not None:
            return fail("--inventory reads a report: --method head and --start-after do not apply")
        return inventory.run(args, mode="backfill", report_unfilled=report_unfilled)
    if args.bucket is None:
        return fail("give --bucket to list it, or --inventory with a report's manifest.json")
    try:
        with row_session(f"backfill ({args.method})") as (settings, rows, bar):
            report = Report(as_json=args.json, write=bar.print_line)
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
                on_progress=lambda p: bar(p.done, p.total),
                on_unfilled=lambda unfilled: report_unfilled(report, unfilled),
            )
    except (CommandError, ScopeError) as exc:
        return fail(str(exc))
    notes = []
    if result.nothing_matched:
        notes.append(
            nothing_matched_note(
                settings, listed=result.objects_listed, bucket=args.bucket, prefix=args.prefix
            )
        )
    if result.null_after_delete:
        notes.append(
            f"{result.null_after_delete:,} row(s) are NULL after a recorded delete: a listing "
            "may predate the delete, so only --method head fills those whose object exists"
        )
    if result.interrupted and result.last_key:
        notes.append(f"interrupted: resume with --start-after {result.last_key!r}")
    report.summary("backfill", summary(args, result), notes=notes)
    # A dry run exits as the real run would: only the writes are suppressed.
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def report_unfilled(report: Report, unfilled: Unfilled) -> None:
    record = {
        "type": "unfilled",
        "reason": unfilled.reason.replace(" ", "_"),
        "key": unfilled.key,
        "rows": unfilled.rows,
    }
    rows = "" if unfilled.rows == 1 else f", {unfilled.rows} rows"
    text = f"{unfilled.reason}: {unfilled.key} ({_LEFT[unfilled.reason]}{rows})"
    # Rows whose object is gone need a human: never sampled away.
    report.item(record, text, always=unfilled.reason == "gone")


def summary(args: argparse.Namespace, result: BackfillResult) -> dict[str, Any]:
    """The summary, in the snake_case keys documented in docs/operations.md."""
    return {
        "bucket": args.bucket,
        "prefix": args.prefix,
        "method": str(result.method),
        "dry_run": result.dry_run,
        "would_fill" if result.dry_run else "filled": result.filled,
        "rows_object_gone": result.missing,
        "rows_null_after_delete": result.null_after_delete,
        "rows_changed_since_read": result.changed,
        "objects_listed": result.objects_listed,
        "objects_matched": result.objects_matched,
        "objects_routed_nowhere": result.outside_targets,
        "s3_requests": result.s3_requests,
        "nothing_matched": result.nothing_matched,
        "interrupted": result.interrupted,
        "last_key": result.last_key,
        "complete": result.complete,
    }
