"""Empty a dead-letter queue safely: back to its source queue, or straight into Postgres.

Two ways out of the DLQ, for the two situations an operator meets:
- **redrive** (the function works again, or the rows now exist): move the messages back to the
  source queue so the deployed function records them. By default each message is read first and
  only those that can be recorded are moved: a body or record that is invalid would fail again,
  return to the DLQ under a new id and fire the alarm again, so it stays, with its reason. The
  copy loop sends each message to the source queue and deletes it from the DLQ only after SQS
  accepted the copy; a crash between the two leaves a duplicate, never a loss, and the
  recorder's writes are idempotent. `move_all` moves everything unread, with SQS's native move
  task where the endpoint has one (moto and some emulators do not: they get the copy loop).
- **direct** (the function itself is broken, or you are inside the VPC with no function): the
  messages go through the same `Recorder.record` as the Lambda, and only the messages the core
  acknowledged (recorded, stale, skipped) are deleted. The rest stay in the DLQ, listed with the
  reason the core gave.

A message in the DLQ was refused by the function that sent it there, so a record this process
skips only because its own configuration routes it nowhere (`RecordResult.for_configuration`)
was not skipped there: the operator's settings differ from the function's. Deleting it would
lose the last copy of that event, so it stays and the reason names the setting to check.

Messages that stay are hidden while the run goes on (so one run never handles them twice) and
made visible again at the end, so the DLQ and its alarm look exactly as they did, minus what was
repaired. A dry run reads the same way, changes nothing, and leaves the same messages a real run
would (short of asking the database whether rows exist).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from size_recorder.adapters import sqs
from size_recorder.core.config import Settings
from size_recorder.core.events import Invalid, ObjectCreated, ParsedEntry
from size_recorder.core.recorder import Message, Recorder
from size_recorder.ops.dlq import (
    NotADeadLetterQueue,
    Progress,
    Reading,
    dead_letter_sources,
    invalid_reason,
    parse,
    read_held,
    routing_setting,
)

# Replay's name for the progress every run over the DLQ reports.
ReplayProgress = Progress

# Records counted by what happened (or would happen) to them: the core's outcomes, plus these.
ROUTED_NOWHERE = "routed nowhere"  # skipped only because this configuration has no target
TO_WRITE = "to write"  # dry run: routed to a target, the write not attempted


class ReplayMode(StrEnum):
    REDRIVE = "redrive"
    DIRECT = "direct"


class ReplayError(Exception):
    """The replay cannot start: the queue is not a DLQ, or no single source queue to redrive to."""


@dataclass(frozen=True, slots=True)
class FailingMessage:
    """A message left in the DLQ, and why (`MessageResult.reason()`, or the send failure)."""

    message_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReplayResult:
    mode: ReplayMode
    method: str  # "move task", "copy", "direct" (with "dry run" when nothing was changed)
    dry_run: bool
    in_dlq_before: int
    destination: str | None = None
    received: int = 0
    # redrive: messages now on the source queue, in flight until the function records them
    # (in a dry run: the messages that would be moved)
    moved: int = 0
    recorded: int = 0  # direct: messages acknowledged by the core and deleted from the DLQ
    # Left in the DLQ because they cannot be recorded now (invalid, no row, database error) or
    # SQS refused a send or delete.
    still_failing: tuple[FailingMessage, ...] = ()
    # Left in the DLQ because this process's configuration routes them nowhere (direct only).
    kept_for_configuration: tuple[FailingMessage, ...] = ()
    outcomes: Mapping[str, int] = field(default_factory=dict)
    drained: bool = False  # the run saw the DLQ empty of new messages (or the task completed)
    task_handle: str | None = None  # to cancel a move task still running
    task_status: str | None = None
    task_failure: str | None = None

    @property
    def complete(self) -> bool:
        """Every message was (or, in a dry run, would be) moved or recorded, and none is left.

        The same for a dry run as for the real one, so `--dry-run` never changes an exit status.
        """
        return self.drained and not self.still_failing and not self.kept_for_configuration


@dataclass(slots=True)
class _Run(Reading):
    """What a running replay has seen so far; becomes a `ReplayResult` at the end."""

    moved: int = 0
    recorded: int = 0
    failing: dict[str, FailingMessage] = field(default_factory=dict)
    for_configuration: dict[str, FailingMessage] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)

    def keep(self, message: sqs.ReceivedMessage, reason: str) -> None:
        self.failing[message.message_id] = FailingMessage(message.message_id, reason)

    def keep_for_configuration(self, message: sqs.ReceivedMessage, reason: str) -> None:
        self.for_configuration[message.message_id] = FailingMessage(message.message_id, reason)


def replay_dlq(
    *,
    client: Any,
    dlq_url: str,
    mode: ReplayMode | str = ReplayMode.REDRIVE,
    to_queue_url: str | None = None,
    recorder: Recorder | None = None,
    move_all: bool = False,
    limit: int | None = None,
    dry_run: bool = False,
    batch_size: int = sqs.SQS_BATCH_LIMIT,
    wait_seconds: int = 1,
    poll_interval_s: float = 2.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayResult:
    """Replay the DLQ at `dlq_url`; `recorder` is required for `ReplayMode.DIRECT`.

    `move_all` (redrive only) moves invalid messages too, and lets SQS's native move task do it.
    `limit` caps the messages handled in this run (a native move task cannot be capped, so a
    limit makes redrive use the copy loop). Interrupting with `should_stop` or `limit` and
    running again continues where the first run stopped.
    """
    mode = ReplayMode(mode)  # also accepts "redrive" / "direct"
    direct: _Handler | None = None
    if mode is ReplayMode.DIRECT:
        if recorder is None:
            raise ValueError("direct replay needs a recorder")
        if move_all:
            raise ReplayError("--all applies to redrive only: direct replay keeps what fails")
        direct = _peek_handler(recorder.settings) if dry_run else _direct_handler(recorder)
    sources = _dead_letter_sources(
        client, dlq_url, needed=mode is ReplayMode.REDRIVE and to_queue_url is None
    )
    before = sqs.visible_count(client, dlq_url)
    progress = on_progress or (lambda _: None)
    total = before if limit is None else min(before, limit)

    destination = None
    if direct is not None:
        handle, method = direct, "direct"
    else:
        destination = to_queue_url or _only_source(dlq_url, sources)
        if move_all and limit is None and not dry_run:
            task = _move_task(
                client,
                dlq_url=dlq_url,
                to_queue_url=to_queue_url,
                before=before,
                destination=destination,
                poll_interval_s=poll_interval_s,
                should_stop=should_stop,
                progress=progress,
                sleep=sleep,
            )
            if task is not None:
                return task
        handle = _redrive_handler(destination, move_all=move_all, dry_run=dry_run)
        method = "copy"
    run = _drain(
        client,
        dlq_url,
        handle=handle,
        limit=limit,
        batch_size=batch_size,
        wait_seconds=wait_seconds,
        should_stop=should_stop,
        on_progress=lambda run: progress(ReplayProgress(run.received, total)),
    )
    return _result(run, mode, method, dry_run, before, destination)


_Handler = Callable[[Any, str, list[sqs.ReceivedMessage], _Run], None]


def _drain(
    client: Any,
    dlq_url: str,
    *,
    handle: _Handler,
    limit: int | None,
    batch_size: int,
    wait_seconds: int,
    should_stop: Callable[[], bool],
    on_progress: Callable[[_Run], None],
) -> _Run:
    """Receive batches until the DLQ has nothing new, the limit is reached, or a stop."""
    run = _Run()
    read_held(
        client,
        dlq_url,
        run,
        handle=lambda fresh: handle(client, dlq_url, fresh, run),
        limit=limit,
        batch_size=batch_size,
        wait_seconds=wait_seconds,
        should_stop=should_stop,
        on_progress=lambda: on_progress(run),
    )
    return run


def _peek_handler(settings: Settings) -> _Handler:
    """Direct dry run: read each message, say which ones would stay, change nothing.

    Whether a row exists is not checked (that would need the write); invalid bodies and records
    are listed, because no replay can repair those, and so are records this configuration
    routes nowhere, which the real run would keep too.
    """

    def handle(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage], run: _Run) -> None:
        for message in messages:
            entries = parse(message.body)
            verdicts = [_would(settings, entry) for entry in entries]
            run.outcomes.update(verdicts)
            invalid = invalid_reason(entries)
            nowhere = [
                (e.bucket, e.key)
                for e, verdict in zip(entries, verdicts, strict=True)
                if isinstance(e, ObjectCreated) and verdict == ROUTED_NOWHERE
            ]
            if invalid:
                run.keep(message, invalid)
            elif nowhere:
                run.keep_for_configuration(message, _configuration_reason(settings, nowhere))

    return handle


def _would(settings: Settings, entry: ParsedEntry) -> str:
    """What the core would do with a parsed entry, short of asking the database."""
    if isinstance(entry, Invalid):
        return "invalid"
    if not isinstance(entry, ObjectCreated):
        return "skipped"
    if settings.route(entry.bucket, entry.key) is None:
        return ROUTED_NOWHERE
    return TO_WRITE


def _direct_handler(recorder: Recorder) -> _Handler:
    settings = recorder.settings

    def handle(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage], run: _Run) -> None:
        batch = recorder.record([Message(m.message_id, m.body, m.receive_count) for m in messages])
        by_id = {m.message_id: m for m in messages}
        done: list[sqs.ReceivedMessage] = []
        for result in batch.messages:
            message = by_id[result.message_id]
            nowhere = [(r.bucket, r.key) for r in result.records if r.for_configuration]
            run.outcomes.update(
                ROUTED_NOWHERE if r.for_configuration else str(r.outcome) for r in result.records
            )
            if not result.acknowledged:
                run.keep(message, result.reason())
            elif nowhere:
                run.keep_for_configuration(message, _configuration_reason(settings, nowhere))
            else:
                done.append(message)
        refused = set(sqs.delete(client, dlq_url, [m.receipt_handle for m in done]))
        for message in done:
            if message.receipt_handle in refused:
                # Recorded, but the delete failed: a later replay finds it and records it again.
                run.keep(message, "recorded, but SQS refused to delete it from the DLQ")
            else:
                run.recorded += 1
                run.deleted(message)

    return handle


def _configuration_reason(
    settings: Settings, objects: Iterable[tuple[str | None, str | None]]
) -> str:
    """Why a message routed nowhere stays, naming the variable the operator should check."""
    where = ", ".join(f"s3://{bucket}/{key}" for bucket, key in objects)
    variable, here = routing_setting(settings)
    return (
        f"routed nowhere: {where} reaches no row under {here} here, but the function that sent"
        f" it to the DLQ did not skip it; check {variable} against the function's (kept in the"
        " DLQ)"
    )


def _redrive_handler(destination: str, *, move_all: bool, dry_run: bool) -> _Handler:
    def handle(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage], run: _Run) -> None:
        movable: list[sqs.ReceivedMessage] = []
        for message in messages:
            reason = None if move_all else invalid_reason(parse(message.body))
            if reason is None:
                movable.append(message)
            else:
                run.keep(message, reason)
        if dry_run:
            run.moved += len(movable)
        else:
            _copy(client, dlq_url, destination, movable, run)

    return handle


def _copy(
    client: Any, dlq_url: str, destination: str, messages: list[sqs.ReceivedMessage], run: _Run
) -> None:
    # The copy must exist before the original goes: send first, delete only what was sent.
    refused = set(sqs.send(client, destination, [m.body for m in messages]))
    sent = [m for i, m in enumerate(messages) if i not in refused]
    not_deleted = set(sqs.delete(client, dlq_url, [m.receipt_handle for m in sent]))
    run.moved += len(sent) - len(not_deleted)
    for index in sorted(refused):
        run.keep(messages[index], f"SQS refused to send it to {destination}")
    for message in sent:
        if message.receipt_handle in not_deleted:
            # Already copied: the duplicate is harmless, the recorder's writes are idempotent.
            run.keep(message, "copied, but SQS refused to delete it from the DLQ")
        else:
            run.deleted(message)


def _move_task(
    client: Any,
    *,
    dlq_url: str,
    to_queue_url: str | None,
    before: int,
    destination: str,
    poll_interval_s: float,
    should_stop: Callable[[], bool],
    progress: Callable[[ReplayProgress], None],
    sleep: Callable[[float], None],
) -> ReplayResult | None:
    """Run SQS's native move task and follow it; None when the endpoint lacks it."""
    dlq_arn = sqs.queue_arn(client, dlq_url)
    destination_arn = None if to_queue_url is None else sqs.queue_arn(client, to_queue_url)
    handle = sqs.start_move_task(client, source_arn=dlq_arn, destination_arn=destination_arn)
    if handle is None:
        return None
    task = sqs.latest_move_task(client, dlq_arn)
    while task is not None and not task.finished and not should_stop():
        progress(ReplayProgress(task.moved, task.to_move or before))
        sleep(poll_interval_s)
        task = sqs.latest_move_task(client, dlq_arn)
    if task is not None:
        progress(ReplayProgress(task.moved, task.to_move or before))
    return ReplayResult(
        ReplayMode.REDRIVE,
        "move task",
        False,
        before,
        destination,
        moved=0 if task is None else task.moved,
        drained=task is not None and task.status == "COMPLETED",
        task_handle=handle,
        task_status=None if task is None else task.status,
        task_failure=None if task is None else task.failure_reason,
    )


def _dead_letter_sources(client: Any, dlq_url: str, *, needed: bool) -> list[str]:
    """The queues that use `dlq_url` as their DLQ; refuses a source queue passed as the DLQ."""
    try:
        return dead_letter_sources(client, dlq_url, needed=needed)
    except NotADeadLetterQueue as exc:
        raise ReplayError(str(exc)) from None


def _only_source(dlq_url: str, sources: list[str]) -> str:
    if len(sources) == 1:
        return sources[0]
    if not sources:
        raise ReplayError(f"no queue names {dlq_url} as its dead-letter queue; pass --to-queue-url")
    raise ReplayError(
        f"several queues use {dlq_url} as their dead-letter queue ({', '.join(sources)});"
        " pass --to-queue-url"
    )


def _result(
    run: _Run,
    mode: ReplayMode,
    method: str,
    dry_run: bool,
    before: int,
    destination: str | None,
) -> ReplayResult:
    return ReplayResult(
        mode,
        "dry run" if dry_run else method,
        dry_run,
        before,
        destination,
        received=run.received,
        moved=run.moved,
        recorded=run.recorded,
        still_failing=tuple(run.failing.values()),
        kept_for_configuration=tuple(run.for_configuration.values()),
        outcomes=dict(run.outcomes),
        drained=run.drained,
    )
