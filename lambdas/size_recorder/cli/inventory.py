"""`--inventory` for backfill and check: the flags, the run, what it prints, how to resume."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from size_recorder.adapters import s3
from size_recorder.cli.common import EXIT_INCOMPLETE, EXIT_OK, CommandError, StopFlag, fail
from size_recorder.cli.tools import Report, nothing_matched_note, positive_int, row_session
from size_recorder.core.scope import ScopeError
from size_recorder.ops.backfill import Unfilled
from size_recorder.ops.check import Drift
from size_recorder.ops.inventory import (
    InventoryResult,
    default_state_path,
    read_manifest,
    run_identity,
    run_inventory,
)
from size_recorder.ops.reconcile import InventoryError, Mode, NewerThanReport

# Data files read at once; each worker holds a database connection.
DEFAULT_WORKERS = 4
_MB = 1_000_000


def add_inventory_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory",
        metavar="S3_URL",
        help="read an S3 Inventory report (s3://BUCKET/PATH/manifest.json) instead of listing "
        "the bucket; --bucket is then optional and must be the report's source bucket",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        help=f"with --inventory: data files read at once, each by a process with its own "
        f"database connection (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="with --inventory: where the finished data files are recorded (default: "
        ".size-recorder-COMMAND-HASH.json in the current directory); the same command run "
        "again resumes from it, a complete run removes it",
    )


def refuse_inventory_flags(args: argparse.Namespace) -> str | None:
    """Why the flags cannot go together without --inventory, or None."""
    if args.inventory is None and (args.workers is not None or args.state is not None):
        return "--workers and --state go with --inventory"
    return None


def run(
    args: argparse.Namespace,
    *,
    mode: Mode,
    report_drift: Callable[[Report, Drift], None] = lambda report, drift: None,
    report_unfilled: Callable[[Report, Unfilled], None] = lambda report, unfilled: None,
) -> int:
    """`backfill --inventory` or `check --inventory`: exit 0 when complete, 1 when something is
    left or the run was interrupted, 2 on errors (with the command that resumes, once a data
    file is done)."""
    workers = args.workers or DEFAULT_WORKERS
    state: Path | None = None
    try:
        with row_session(f"{mode} --inventory (MB read)") as (settings, rows, bar):
            client = s3.s3_client(connections=workers + 2)
            manifest = read_manifest(client, args.inventory)
            if args.bucket and args.bucket != manifest.source_bucket:
                raise CommandError(
                    f"{args.inventory} is a report of bucket {manifest.source_bucket!r},"
                    f" not of --bucket {args.bucket!r}"
                )
            fix = mode == "check" and args.fix
            identity = run_identity(
                manifest, mode=mode, prefix=args.prefix, fix=fix, dry_run=args.dry_run
            )
            state = args.state or default_state_path(identity)
            report = Report(as_json=args.json, write=bar.print_line)
            result = run_inventory(
                settings=settings,
                rows=rows,
                client=client,
                manifest=manifest,
                mode=mode,
                state_path=state,
                prefix=args.prefix,
                fix=fix,
                dry_run=args.dry_run,
                workers=workers,
                should_stop=StopFlag().install(),
                on_progress=lambda p: bar(round(p.done_bytes / _MB), -(-p.total_bytes // _MB)),
                on_drift=lambda drift: report_drift(report, drift),
                on_newer=lambda newer: report_newer(report, newer),
                on_unfilled=lambda unfilled: report_unfilled(report, unfilled),
            )
    except (CommandError, ScopeError, InventoryError) as exc:
        if state is not None and state.exists():
            resume = _resume(args, mode, state, workers)
            return fail(f"{exc}; the data files finished are kept: resume with {resume}")
        return fail(str(exc))
    notes = []
    totals = result.totals
    if totals.nothing_matched:
        notes.append(
            nothing_matched_note(
                settings,
                listed=totals.objects_in_scope,
                bucket=manifest.source_bucket,
                prefix=args.prefix,
            )
        )
    if totals.rows_newer_than_report:
        notes.append(
            f"{totals.rows_newer_than_report:,} row(s) name objects changed after the report was"
            f" taken ({manifest.report_time:%Y-%m-%d %H:%M} UTC): left to the next report"
        )
    if mode == "backfill" and totals.rows_not_in_report:
        notes.append(
            f"{totals.rows_not_in_report:,} NULL row(s) name objects the report does not list"
            " (uploaded after it, outside its filter, or gone): --method head asks S3 for each"
        )
    if mode == "backfill" and totals.rows_null_after_delete:
        notes.append(
            f"{totals.rows_null_after_delete:,} row(s) are NULL after a recorded delete: the"
            " report may predate the delete, so only --method head fills those whose object exists"
        )
    if result.interrupted:
        notes.append(
            f"interrupted after {result.files_done} of {len(manifest.files)} data file(s):"
            f" resume with {_resume(args, mode, state, workers)}"
        )
    report.summary(mode, summary(args, result, workers=workers, state=state), notes=notes)
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def report_newer(report: Report, newer: NewerThanReport) -> None:
    record = {
        "type": "newer_than_report",
        "key": newer.key,
        "recorded": newer.recorded,
        "actual": newer.actual,
        "last_modified": newer.last_modified.isoformat(),
    }
    text = (
        f"newer than the report: {newer.key} (modified {newer.last_modified:%Y-%m-%d %H:%M:%S}):"
        " left to the next report"
    )
    report.item(record, text, always=False)


def summary(
    args: argparse.Namespace, result: InventoryResult, *, workers: int, state: Path
) -> dict[str, Any]:
    """The summary, in the snake_case keys documented in docs/operations.md."""
    manifest, totals = result.manifest, result.totals
    fields: dict[str, Any] = {
        "inventory": manifest.url,
        "bucket": manifest.source_bucket,
        "prefix": args.prefix,
        "report_time": manifest.report_time.isoformat(),
        "file_format": manifest.file_format,
    }
    if result.mode == "backfill":
        fields["method"] = "inventory"
    else:
        fields["fix"] = result.fix
    fields |= {
        "dry_run": result.dry_run,
        "workers": workers,
        "data_files": len(manifest.files),
        "data_files_done": result.files_done,
        "data_files_resumed": result.files_resumed,
        "objects_in_report": totals.objects_in_report,
        "objects_not_latest": totals.objects_not_latest,
        "objects_delete_markers": totals.objects_delete_markers,
        "objects_folder_markers": totals.objects_folder_markers,
        "objects_outside_prefix": totals.objects_outside_prefix,
        "objects_routed_nowhere": totals.objects_routed_nowhere,
        "objects_in_scope": totals.objects_in_scope,
        "objects_matched": totals.objects_matched,
    }
    if result.mode == "backfill":
        fields |= {
            "would_fill" if result.dry_run else "filled": totals.filled,
            "rows_not_in_report": totals.rows_not_in_report,
            "rows_null_after_delete": totals.rows_null_after_delete,
        }
    else:
        fields |= {
            "rows_differing": totals.rows_differing,
            "rows_object_gone": totals.rows_object_gone,
            "rows_still_null": totals.rows_still_null,
            "rows_newer_than_report": totals.rows_newer_than_report,
            "rows_not_in_report": totals.rows_not_in_report,
            "would_fix" if result.dry_run else "fixed": totals.fixed,
            "rows_changed_since_read": totals.rows_changed_since_read,
        }
    return fields | {
        "s3_requests": totals.s3_requests,
        "nothing_matched": totals.nothing_matched,
        "interrupted": result.interrupted,
        "state": str(state) if result.interrupted else None,
        "complete": result.complete,
    }


def _resume(args: argparse.Namespace, mode: Mode, state: Path, workers: int) -> str:
    """The command that resumes this run: the same report and options, the same state file."""
    argv = ["size-recorder", mode, "--inventory", args.inventory]
    if args.bucket:
        argv += ["--bucket", args.bucket]
    if args.prefix:
        argv += ["--prefix", args.prefix]
    if mode == "check" and args.fix:
        argv.append("--fix")
    if args.dry_run:
        argv.append("--dry-run")
    argv += ["--workers", str(workers), "--state", str(state.resolve())]
    if args.json:
        argv.append("--json")
    return shlex.join(argv)
