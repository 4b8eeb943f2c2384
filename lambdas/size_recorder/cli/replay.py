"""`size-recorder replay`: empty the DLQ back into the source queue, or straight into Postgres."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from size_recorder.adapters import sqs
from size_recorder.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandError,
    StopFlag,
    fail,
    load_settings,
    open_recorder,
    print_summary,
)
from size_recorder.cli.tools import (
    finish_parser,
    operator_errors,
    positive_int,
    print_details,
    progress_bar,
)
from size_recorder.ops.replay import (
    FailingMessage,
    ReplayError,
    ReplayMode,
    ReplayResult,
    replay_dlq,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay the dead-letter queue: redrive to the source queue, or record directly",
        description="Replay the messages in the size-recorder DLQ. 'redrive' moves the messages "
        "that can be recorded back to the source queue for the deployed function, and leaves "
        "invalid ones in the DLQ with their reason; 'direct' records them into Postgres here, "
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
        "--all",
        dest="move_all",
        action="store_true",
        help="redrive: move every message, invalid ones too, with SQS's move task where the "
        "endpoint has one (default: read each message and leave those that cannot be recorded)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        help="handle at most this many messages (redrive --all then copies instead of a move task)",
    )
    finish_parser(parser, run=run, dry_run="read and report, change nothing")


def run(args: argparse.Namespace) -> int:
    mode = ReplayMode(args.mode)
    try:
        _check_urls(args)
        # Direct mode writes to Postgres, so its configuration is checked before anything moves.
        recorder = open_recorder(load_settings()) if mode is ReplayMode.DIRECT else None
        with operator_errors(), progress_bar(f"replay ({mode})") as update:
            result = replay_dlq(
                client=sqs.sqs_client(),
                dlq_url=args.dlq_url,
                mode=mode,
                to_queue_url=args.to_queue_url,
                recorder=recorder,
                move_all=args.move_all,
                limit=args.limit,
                dry_run=args.dry_run,
                should_stop=StopFlag().install(),
                on_progress=lambda p: update(p.done, p.total),
            )
    except (CommandError, ReplayError) as exc:
        return fail(str(exc))
    if args.json:
        print_summary("size-recorder replay", json_summary(result), as_json=True)
    else:
        print_summary("size-recorder replay", summary_rows(result), as_json=False)
        kept = [*result.still_failing, *result.kept_for_configuration]
        print_details([f"{m.message_id}: {m.reason}" for m in kept], total=len(kept))
        if result.mode is ReplayMode.REDRIVE and result.moved and not result.dry_run:
            sys.stdout.write(in_flight_note(result) + "\n")
    # Not `tools.exit_status`: a dry run that finds messages the real run would leave behind
    # exits 1 like the real run (only the writes are suppressed).
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def _check_urls(args: argparse.Namespace) -> None:
    """An empty URL (an unset `$DLQ_URL` in a pasted command) is named, not sent to SQS."""
    if not args.dlq_url.strip():
        raise CommandError("--dlq-url is empty (is the variable it was pasted from set?)")
    if args.to_queue_url is not None and not args.to_queue_url.strip():
        raise CommandError("--to-queue-url is empty (is the variable it was pasted from set?)")


def in_flight_note(result: ReplayResult) -> str:
    """Moved is not repaired: say where the messages are and what happens to them next."""
    return (
        f"{result.moved} message(s) are in flight on {result.destination}: the function records "
        "them, or after the queue's maxReceiveCount they return to the DLQ. Check the DLQ again "
        "once the function has had time to process them."
    )


def summary_rows(result: ReplayResult) -> dict[str, Any]:
    """The summary table for people."""
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
    if result.task_handle is None:
        rows["received"] = result.received
    if result.mode is ReplayMode.REDRIVE:
        label = "would move to source queue" if result.dry_run else "moved to source queue"
        rows[label] = result.moved
    elif not result.dry_run:
        rows["recorded and deleted"] = result.recorded
    rows.update({f"records {name}": n for name, n in sorted(result.outcomes.items())})
    label = "messages no replay can repair" if result.dry_run else "messages still failing"
    rows[label] = len(result.still_failing)
    if result.mode is ReplayMode.DIRECT:
        rows["kept: routed nowhere by this configuration"] = len(result.kept_for_configuration)
    rows["read to the end of the DLQ"] = "yes" if result.drained else "no"
    return rows


def json_summary(result: ReplayResult) -> dict[str, Any]:
    """The summary for scripts, in stable snake_case keys (a dry run has `would_move` for
    `moved`); every message left in the DLQ is listed with its reason. `type` and `command` as
    the other tools' summaries have them, so one jq filter reads them all."""
    summary: dict[str, Any] = {
        "type": "summary",
        "command": "replay",
        "mode": str(result.mode),
        "method": result.method,
        "dry_run": result.dry_run,
        "in_dlq_before": result.in_dlq_before,
        "destination": result.destination,
        "received": result.received,
        "would_move" if result.dry_run else "moved": result.moved,
        "recorded": result.recorded,
        "records": {name.replace(" ", "_"): n for name, n in sorted(result.outcomes.items())},
        "still_failing": _messages(result.still_failing),
        "kept_for_configuration": _messages(result.kept_for_configuration),
        "drained": result.drained,
        "complete": result.complete,
    }
    if result.task_handle is not None:
        summary["move_task"] = {
            "handle": result.task_handle,
            "status": result.task_status,
            "failure": result.task_failure,
        }
    return summary


def _messages(messages: tuple[FailingMessage, ...]) -> list[dict[str, str]]:
    return [{"message_id": m.message_id, "reason": m.reason} for m in messages]
