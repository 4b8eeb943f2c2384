"""`size-recorder replay`: empty the DLQ back into the source queue, or straight into Postgres."""

from __future__ import annotations

import argparse
from typing import Any

from size_recorder.adapters import sqs
from size_recorder.cli.common import (
    CommandError,
    StopFlag,
    fail,
    load_settings,
    open_recorder,
    print_summary,
)
from size_recorder.cli.tools import (
    exit_status,
    finish_parser,
    operator_errors,
    positive_int,
    print_details,
    progress_bar,
)
from size_recorder.ops.replay import ReplayError, ReplayMode, ReplayResult, replay_dlq


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay the dead-letter queue: redrive to the source queue, or record directly",
        description="Replay the messages in the size-recorder DLQ. 'redrive' moves them back to "
        "the source queue for the deployed function; 'direct' records them into Postgres here, "
        "with the same core, and deletes only the messages it acknowledged.",
    )
    parser.add_argument("--dlq-url", required=True, help="the dead-letter queue's URL")
    parser.add_argument(
        "--mode",
        choices=[m.value for m in ReplayMode],
        default=ReplayMode.REDRIVE.value,
        help="redrive (default) or direct",
    )
    parser.add_argument(
        "--to-queue-url",
        help="redrive destination (default: the queue whose redrive policy names the DLQ)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        help="handle at most this many messages (redrive then copies instead of a move task)",
    )
    finish_parser(parser, run=run, dry_run="read and report, change nothing")


def run(args: argparse.Namespace) -> int:
    mode = ReplayMode(args.mode)
    try:
        # Direct mode writes to Postgres, so its configuration is checked before anything moves.
        recorder = open_recorder(load_settings()) if mode is ReplayMode.DIRECT else None
        with operator_errors(), progress_bar(f"replay ({mode})") as update:
            result = replay_dlq(
                client=sqs.sqs_client(),
                dlq_url=args.dlq_url,
                mode=mode,
                to_queue_url=args.to_queue_url,
                recorder=recorder,
                limit=args.limit,
                dry_run=args.dry_run,
                should_stop=StopFlag().install(),
                on_progress=lambda p: update(p.done, p.total),
            )
    except (CommandError, ReplayError) as exc:
        return fail(str(exc))
    print_summary(
        "size-recorder replay", summary_rows(result, detailed=args.json), as_json=args.json
    )
    if not args.json:
        failing = [f"{m.message_id}: {m.reason}" for m in result.still_failing]
        print_details(failing, total=len(failing))
    return exit_status(dry_run=result.dry_run, complete=result.complete)


def summary_rows(result: ReplayResult, *, detailed: bool) -> dict[str, Any]:
    """The summary; `detailed` adds every still-failing message (for --json)."""
    rows: dict[str, Any] = {
        "mode": str(result.mode),
        "method": result.method,
        "in DLQ before (approx.)": result.in_dlq_before,
    }
    if result.destination is not None:
        rows["destination"] = result.destination
    if result.task_handle is not None:
        rows["move task handle"] = result.task_handle
    if result.task_status is not None:
        rows["move task status"] = result.task_status
    if result.task_failure:
        rows["move task failure"] = result.task_failure
    if result.dry_run and result.mode is ReplayMode.REDRIVE:
        return rows  # a redrive dry run only says how many and where to
    rows["received"] = result.received
    if result.mode is ReplayMode.REDRIVE:
        rows["moved to source queue"] = result.moved
    elif not result.dry_run:
        rows["recorded and deleted"] = result.recorded
    rows.update({f"records {name}": n for name, n in sorted(result.outcomes.items())})
    if result.dry_run:
        rows["messages no replay can repair"] = len(result.still_failing)
    else:
        rows["messages still failing"] = len(result.still_failing)
        rows["DLQ emptied"] = result.drained and not result.still_failing
    if detailed:
        rows["still failing"] = [
            {"message_id": m.message_id, "reason": m.reason} for m in result.still_failing
        ]
    return rows
