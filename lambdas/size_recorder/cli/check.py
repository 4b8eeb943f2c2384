"""`size-recorder check`: report rows whose size drifted from S3; `--fix` repairs the sizes."""

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
from size_recorder.ops.check import CheckResult, Drift, check

# Text for what --fix did to a row that differs.
_FIXES = {
    "fixed": "fixed",
    "would fix": "would be fixed",
    "changed since read": "changed since the check read it: left alone",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="compare recorded sizes with an S3 listing or inventory and report (or --fix) drift",
        description="List the bucket under the prefix (or read an S3 Inventory report with "
        "--inventory) and compare each object's size with its row: sizes that differ, rows "
        "whose object is gone, rows still NULL. --fix sets the sizes that differ, on rows no "
        "event changed during the check; gone and NULL rows are only reported (backfill fills "
        "NULL rows). From an inventory, S3 confirms each disagreement with a HEAD, and rows "
        "whose object changed after the report are left to the next one.",
    )
    add_bucket_arguments(parser, page_help="objects per listing request", bucket_required=False)
    parser.add_argument("--fix", action="store_true", help="repair the sizes that differ")
    inventory.add_inventory_arguments(parser)
    finish_parser(
        parser,
        run=run,
        dry_run="with --fix: report what would be repaired, change nothing",
        json_help="print JSON lines: one per drifting row, then the summary",
    )


def run(args: argparse.Namespace) -> int:
    refused = inventory.refuse_inventory_flags(args)
    if refused is not None:
        return fail(refused)
    if args.inventory is not None:
        return inventory.run(args, mode="check", report_drift=report_drift)
    if args.bucket is None:
        return fail("give --bucket to list it, or --inventory with a report's manifest.json")
    try:
        with row_session("check: listing") as (settings, rows, bar):
            report = Report(as_json=args.json, write=bar.print_line)
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
                on_progress=lambda listed: bar(listed, None),
                on_drift=lambda drift: report_drift(report, drift),
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
    if result.interrupted:
        notes.append("interrupted: half a listing reports nothing; run the check again")
    report.summary("check", summary(args, result), notes=notes)
    # A dry run exits as the real run would: only the writes are suppressed.
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def report_drift(report: Report, drift: Drift) -> None:
    record = {
        "type": "drift",
        "kind": drift.kind.replace(" ", "_"),
        "key": drift.key,
        "recorded": drift.recorded,
        "actual": drift.actual,
        "fix": None if drift.fix is None else drift.fix.replace(" ", "_"),
    }
    text = f"{drift.kind}: {drift.key} (row: {_size(drift.recorded)}, S3: "
    text += f"{_size(drift.actual, 'no object')})"
    if drift.fix is not None:
        text += f" {_FIXES[drift.fix]}"
    # Gone rows need a human, and a row the fix left needs a second look: never sampled away.
    always = drift.kind == "gone" or drift.fix == "changed since read"
    report.item(record, text, always=always)


def summary(args: argparse.Namespace, result: CheckResult) -> dict[str, Any]:
    """The summary, in the snake_case keys documented in docs/operations.md."""
    return {
        "bucket": args.bucket,
        "prefix": args.prefix,
        "fix": result.fix,
        "dry_run": result.dry_run,
        "rows_read": result.rows_read,
        "objects_listed": result.objects_listed,
        "objects_matched": result.objects_matched,
        "objects_routed_nowhere": result.outside_targets,
        "s3_requests": result.s3_requests,
        "rows_differing": result.counts["differs"],
        "rows_object_gone": result.counts["gone"],
        "rows_still_null": result.counts["still null"],
        "would_fix" if result.dry_run else "fixed": result.fixed,
        "rows_changed_since_read": result.changed,
        "nothing_matched": result.nothing_matched,
        "interrupted": result.interrupted,
        "complete": result.complete,
    }


def _size(value: int | None, missing: str = "NULL") -> str:
    return missing if value is None else f"{value:,} bytes"
