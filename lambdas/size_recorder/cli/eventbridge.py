"""`size-recorder enable-eventbridge`: turn on a bucket's events to EventBridge, keeping every
notification it already has (the deploy guide's EventBridge mode for an existing bucket)."""

from __future__ import annotations

import argparse
from typing import Any

from size_recorder.adapters import s3
from size_recorder.cli.common import EXIT_INCOMPLETE, EXIT_OK, CommandError, fail, print_summary
from size_recorder.cli.tools import finish_parser, operator_errors


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "enable-eventbridge",
        help="send a bucket's events to EventBridge, keeping its other notifications",
        description="Read the bucket's notification configuration, add EventBridge and write "
        "it back with every queue, topic and Lambda notification it held, then read it again "
        "to confirm. A bucket already sending to EventBridge is left as it is. Run it while "
        "nothing else edits the bucket's notifications: S3 has no conditional write for them.",
    )
    parser.add_argument("--bucket", required=True, help="the bucket whose uploads are recorded")
    finish_parser(parser, run=run, dry_run="read and report, change nothing")


def run(args: argparse.Namespace) -> int:
    try:
        with operator_errors():
            change = s3.enable_eventbridge(s3.s3_client(), bucket=args.bucket, dry_run=args.dry_run)
    except CommandError as exc:
        return fail(str(exc))
    except s3.NotificationsChangedError as exc:
        print(f"size-recorder enable-eventbridge: {exc}")
        return EXIT_INCOMPLETE
    print_summary(
        "size-recorder enable-eventbridge", summary(change, detailed=args.json), as_json=args.json
    )
    if not args.json:
        for kept in change.kept:
            print(f"  kept: {describe(kept)}")
    return EXIT_OK


def summary(change: s3.EventBridgeChange, *, detailed: bool) -> dict[str, Any]:
    """The result, with the same snake_case keys in text and JSON; `detailed` (for --json) adds
    each kept notification, which text prints as lines below the table."""
    rows: dict[str, Any] = {
        "bucket": change.bucket,
        "dry_run": change.dry_run,
        "eventbridge_before": change.enabled_before,
        "eventbridge_after": change.enabled_after,
        "would_enable": change.dry_run and not change.enabled_before,
        "changed": change.changed,
        "notifications_kept": len(change.kept),
    }
    if detailed:
        rows["kept"] = [
            {
                "kind": kept.kind,
                "id": kept.id,
                "destination": kept.destination,
                "events": list(kept.events),
                "filter_rules": [{"name": n, "value": v} for n, v in kept.filter_rules],
            }
            for kept in change.kept
        ]
    return rows


def describe(kept: s3.KeptNotification) -> str:
    filters = " ".join(f"{name.lower()}={value}" for name, value in kept.filter_rules)
    return " ".join(
        part
        for part in (
            kept.kind,
            kept.destination,
            ",".join(kept.events),
            filters,
            f"(id {kept.id})" if kept.id else "",
        )
        if part
    )
