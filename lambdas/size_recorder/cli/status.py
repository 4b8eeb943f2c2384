"""`size-recorder status`: the queue, the DLQ's messages by reason, the alarms, the last
reconciliation, and the fixes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from size_recorder import constants as c
from size_recorder.adapters import s3, sqs
from size_recorder.adapters.cloudformation import (
    StackNotFound,
    cloudformation_client,
    stack_outputs,
)
from size_recorder.adapters.cloudwatch import cloudwatch_client
from size_recorder.adapters.postgres.lookup import RowLookup
from size_recorder.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandError,
    StopFlag,
    fail,
    load_settings,
)
from size_recorder.cli.tools import operator_errors, positive_int, progress_bar
from size_recorder.core.config import ConfigError, Settings
from size_recorder.ops.status import (
    DEFAULT_RECONCILIATION_MAX_AGE_S,
    DeadLetterGroup,
    QueueState,
    ReconciliationState,
    Status,
    StatusError,
    locate,
    status,
)

DEFAULT_PEEK = 100
DEFAULT_MAX_AGE_S = 900


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="the queue, the DLQ's messages by reason, the alarms, and the command for each fix",
        description="Report the recorder's queue and dead-letter queue (counts, oldest "
        "message), the DLQ's messages grouped by what the recorder would do with them now "
        "(peeked, visible again at once), the stack's alarms, the nightly reconciliation's "
        "last run, and for each problem the command that fixes it. Changes nothing. Exit 0 "
        "all clear, 1 something needs attention, 2 usage or configuration error.",
    )
    parser.add_argument(
        "--stack",
        help="the CloudFormation stack whose outputs name the queues, function, alarm topic "
        "and bucket",
    )
    parser.add_argument("--queue-url", help="the source queue (default: the stack's QueueUrl)")
    parser.add_argument(
        "--dlq-url", help="the dead-letter queue (default: the stack's DeadLetterQueueUrl)"
    )
    parser.add_argument(
        "--alarm-prefix",
        help="read the alarms whose names start with this (default with --stack: 'STACK-')",
    )
    parser.add_argument(
        "--peek",
        type=positive_int,
        default=DEFAULT_PEEK,
        metavar="N",
        help=f"read at most N DLQ messages (default {DEFAULT_PEEK})",
    )
    parser.add_argument(
        "--max-age-seconds",
        type=positive_int,
        default=DEFAULT_MAX_AGE_S,
        metavar="S",
        help="the queue's oldest message this old or older needs attention (default "
        f"{DEFAULT_MAX_AGE_S}, the QueueOldestMessage alarm's default)",
    )
    parser.add_argument(
        "--reconciliation-summary",
        metavar="S3_URL",
        help="the reconciliation's latest-summary.json (default: the stack's "
        f"{c.OUTPUT_RECONCILE_SUMMARY_URL})",
    )
    parser.add_argument(
        "--max-reconciliation-age-hours",
        type=positive_int,
        default=DEFAULT_RECONCILIATION_MAX_AGE_S // 3600,
        metavar="H",
        help="the reconciliation's last run ended longer ago than this needs attention (default "
        f"{DEFAULT_RECONCILIATION_MAX_AGE_S // 3600}: a daily report's run missed a night)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows: RowLookup | None = None
    try:
        _check_flags(args)
        settings = _settings()
        rows = None if settings is None else RowLookup.from_settings(settings)
        with operator_errors():
            outputs = stack_outputs(cloudformation_client(), args.stack) if args.stack else {}
            where = locate(
                stack=args.stack,
                outputs=outputs,
                queue_url=args.queue_url,
                dlq_url=args.dlq_url,
                reconciliation_summary=args.reconciliation_summary,
            )
            with progress_bar("status: peeking at the DLQ") as bar:
                result = status(
                    where=where,
                    sqs_client=sqs.sqs_client(),
                    cloudwatch_client=cloudwatch_client(),
                    settings=settings,
                    rows=rows,
                    s3_client=s3.s3_client() if where.reconciliation_summary else None,
                    alarm_prefix=args.alarm_prefix,
                    peek=args.peek,
                    max_age_s=args.max_age_seconds,
                    reconciliation_max_age_s=args.max_reconciliation_age_hours * 3600,
                    now=datetime.now(UTC),
                    on_peek=lambda done: bar(done, None),
                    # Ctrl-C ends the peek early (what was read is reported, and released).
                    should_stop=StopFlag().install(),
                )
    except (CommandError, StatusError, StackNotFound) as exc:
        return fail(str(exc))
    except ConfigError as exc:
        return fail(f"configuration error: {exc}")
    finally:
        if rows is not None:
            rows.close()
    if args.json:
        json.dump(json_report(result), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_report(result)
    return EXIT_INCOMPLETE if result.needs_attention else EXIT_OK


def _check_flags(args: argparse.Namespace) -> None:
    """An empty value (an unset variable in a pasted command) is named, not silently replaced by
    the stack's output."""
    for flag, value in (
        ("--stack", args.stack),
        ("--queue-url", args.queue_url),
        ("--dlq-url", args.dlq_url),
        ("--alarm-prefix", args.alarm_prefix),
        ("--reconciliation-summary", args.reconciliation_summary),
    ):
        if value is not None and not value.strip():
            raise CommandError(f"{flag} is empty (is the variable it was pasted from set?)")


def _settings() -> Settings | None:
    """The recorder's settings when this shell has them (a table or targets): without them only
    AWS is read, and the dead letters are parsed but not routed."""
    if not (os.environ.get(c.ENV_TABLE) or os.environ.get(c.ENV_TARGETS)):
        return None
    return load_settings()


# ---- JSON ------------------------------------------------------------------------------------


def json_report(result: Status) -> dict[str, Any]:
    """One object for scripts, in stable snake_case keys (docs/operations.md lists them)."""
    where = result.where
    dead = result.dead_letters
    return {
        "command": "status",
        "stack": where.stack,
        "function_name": where.function_name,
        "bucket": where.bucket,
        "alarm_topic_arn": where.alarm_topic_arn,
        "queue": _queue_json(result.queue),
        "dlq": _queue_json(result.dlq),
        "dead_letters": {
            "peeked": dead.peeked,
            "peek_limit": dead.peek_limit,
            "read_to_end": dead.read_to_end,
            "routing_checked": dead.routing_checked,
            "rows_checked": dead.rows_checked,
            "groups": [
                {
                    "kind": str(group.kind),
                    "reason": group.reason,
                    "messages": group.messages,
                    "sample_message_id": group.sample_message_id,
                    "sample_bucket": group.sample_bucket,
                    "sample_key": group.sample_key,
                    "sample_reason": group.sample_reason,
                }
                for group in dead.groups
            ],
        },
        "alarms": {
            "checked": result.alarms.name_prefix is not None,
            "name_prefix": result.alarms.name_prefix,
            "alarms": [
                {
                    "name": alarm.name,
                    "state": alarm.state,
                    "reason": alarm.reason,
                    "updated": _iso(alarm.updated),
                    "runbook_row": alarm.runbook_row,
                }
                for alarm in result.alarms.alarms
            ],
        },
        "database": {"checked": result.database.checked, "error": result.database.error},
        "reconciliation": _reconciliation_json(result),
        "max_age_seconds": result.max_age_s,
        "problems": [
            {"kind": problem.kind, "summary": problem.summary, "fix": problem.fix}
            for problem in result.problems
        ],
        "not_checked": list(result.not_checked),
        "needs_attention": result.needs_attention,
    }


def _reconciliation_json(result: Status) -> dict[str, Any]:
    state: ReconciliationState = result.reconciliation
    last = state.last
    return {
        "configured": state.configured,
        "summary_url": state.summary_url,
        "state_machine_arn": result.where.state_machine_arn,
        "note": result.reconciliation_note,
        "error": state.error,
        "age_seconds": state.age_s,
        "max_age_seconds": state.max_age_s,
        "stale": state.stale,
        "last_run": None
        if last is None
        else {
            "finished": _iso(last.finished),
            "inventory": last.inventory,
            "report_time": _iso(last.report_time),
            "fix": last.fix,
            "rows_checked": last.rows_checked,
            "drifted": last.drifted,
            "fixed": last.fixed,
            "missing_object": last.missing_object,
            "newer_than_report": last.newer_than_report,
            "batches_failed": last.batches_failed,
            "batches_pending": last.batches_pending,
            "complete": last.complete,
        },
    }


def _queue_json(state: QueueState) -> dict[str, Any]:
    return {
        "url": state.url,
        "visible": state.counts.visible,
        "in_flight": state.counts.in_flight,
        "delayed": state.counts.delayed,
        "oldest_age_seconds": None if state.oldest is None else int(state.oldest.value),
        "oldest_age_at": None if state.oldest is None else _iso(state.oldest.at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


# ---- text ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Section:
    """A titled table on a terminal; off one, a title line and a `header: value; ...` line per
    row, whole and unwrapped, so `status > report.txt` keeps every word."""

    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    empty: str | None = "none"  # shown without rows; None: the section is left out


def print_report(result: Status) -> None:
    out = Console()
    for section in sections(result):
        if out.is_terminal:
            _print_table(out, section)
        else:
            _print_lines(section)


def sections(result: Status) -> list[_Section]:
    where = result.where
    dead = result.dead_letters
    origin = f"stack {where.stack}" if where.stack else "the queue URLs given (no stack)"
    peeked = (
        f"dead letters: {dead.peeked} peeked"
        + ("" if dead.read_to_end else f" (stopped at --peek {dead.peek_limit})")
        + ", visible again at once"
        + (
            ""
            if dead.rows_checked
            else "; rows not checked"
            if dead.routing_checked
            else "; not routed (no recorder settings here)"
        )
    )
    alarms = (
        _Section(
            "alarms", ("state",), [("not checked: pass --stack NAME or --alarm-prefix PREFIX",)]
        )
        if result.alarms.name_prefix is None
        else _Section(
            f"alarms named {result.alarms.name_prefix}*",
            ("state", "alarm", "since", "runbook"),
            [
                (a.state, a.name, _iso(a.updated) or "", a.runbook_row or "")
                for a in result.alarms.alarms
            ],
        )
    )
    database = (
        "not checked (no recorder settings here)"
        if not result.database.checked
        else result.database.error or "reachable; the targets' tables and columns checked"
    )
    verdict = (
        f"needs attention: {len(result.problems)} problem(s)"
        if result.problems
        else "all clear" + (" in what was checked" if result.not_checked else "")
    )
    return [
        _Section("size-recorder status", ("from",), [(origin,)]),
        _Section(
            "queues",
            ("queue", "url", "visible", "in flight", "delayed", "oldest message"),
            [_queue_row("queue", result.queue), _queue_row("DLQ", result.dlq)],
        ),
        _Section(
            peeked,
            ("kind", "messages", "reason", "sample"),
            [
                (
                    str(g.kind),
                    f"{g.messages:,}",
                    g.reason,
                    _sample(g),
                )
                for g in dead.groups
            ],
        ),
        alarms,
        _Section("database", ("state",), [(database,)]),
        _Section("reconciliation", ("state",), [(result.reconciliation_note,)]),
        _Section(
            "needs attention",
            ("problem", "fix"),
            [(p.summary, p.fix) for p in result.problems],
            empty=None,
        ),
        _Section("not checked", ("what",), [(item,) for item in result.not_checked], empty=None),
        _Section("status", ("verdict",), [(verdict,)]),
    ]


def _queue_row(name: str, state: QueueState) -> tuple[str, ...]:
    oldest = (
        "unknown (no CloudWatch datapoint)"
        if state.oldest is None
        else f"{int(state.oldest.value):,} s at {_iso(state.oldest.at)}"
    )
    counts = state.counts
    return (
        name,
        state.url,
        f"{counts.visible:,}",
        f"{counts.in_flight:,}",
        f"{counts.delayed:,}",
        oldest,
    )


def _sample(group: DeadLetterGroup) -> str:
    """The sample's object and message, and the core's reason for it where the group's reason
    leaves out a detail (the name looked up, say)."""
    parts = [group.sample_object or "no object", f"message {group.sample_message_id}"]
    if group.sample_reason and group.sample_reason != group.reason:
        parts.append(group.sample_reason)
    return ", ".join(parts)


def _print_table(out: Console, section: _Section) -> None:
    # Text, never markup: keys and reasons may hold "[...]", which rich would take for styles.
    if len(section.headers) < 2 or not section.rows:
        for line in _lines(section):
            title, _, rest = line.partition(":")
            out.print(Text.assemble((title, "bold"), f":{rest}" if rest else ""), soft_wrap=True)
        return
    table = Table(title=section.title, title_justify="left", title_style="bold")
    for header in section.headers:
        table.add_column(header)
    for row in section.rows:
        table.add_row(*(Text(cell) for cell in row))
    out.print(table)


def _print_lines(section: _Section) -> None:
    if len(section.headers) < 2 or not section.rows:
        lines = _lines(section)
    else:
        lines = [f"{section.title}:"] + [
            "  " + "; ".join(f"{h}: {v}" for h, v in zip(section.headers, row, strict=True))
            for row in section.rows
        ]
    for line in lines:
        sys.stdout.write(line + "\n")


def _lines(section: _Section) -> list[str]:
    """A section that is one value per row, or empty: `title: value` lines."""
    if not section.rows:
        return [] if section.empty is None else [f"{section.title}: {section.empty}"]
    return [f"{section.title}: {row[0]}" for row in section.rows]
