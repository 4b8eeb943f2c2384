"""Empty a dead-letter queue safely: back to its source queue, or straight into Postgres.

Two ways out of the DLQ, for the two situations an operator meets:
- **redrive** (the function works again, or the rows now exist): move the messages back to the
  source queue so the deployed function records them. SQS's native move task does this inside
  SQS; endpoints without it (moto, some emulators) get a copy loop that sends each message to the
  source queue and deletes it from the DLQ only after SQS accepted the copy. A crash between the
  two leaves a duplicate, never a loss, and the recorder's writes are idempotent.
- **direct** (the function itself is broken, or you are inside the VPC with no function): the
  messages go through the same `Recorder.record` as the Lambda, and only the messages the core
  acknowledged (recorded, stale, skipped) are deleted. The rest stay in the DLQ, listed with the
  reason the core gave.

Messages that stay are first hidden (so one run never processes them twice) and made visible
again at the end, so the DLQ and its alarm look exactly as they did, minus what was repaired.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from size_recorder.adapters import sqs
from size_recorder.core.config import Settings
from size_recorder.core.events import (
    EventParseError,
    Invalid,
    ObjectCreated,
    ParsedEntry,
    parse_body,
)
from size_recorder.core.recorder import Message, Recorder

# Messages that stay in the DLQ are hidden this long while a run goes on, so a run that lasts
# longer than the DLQ's visibility timeout does not pick them up again. Released at the end.
HOLD_S = 900


class ReplayMode(StrEnum):
    REDRIVE = "redrive"
    DIRECT = "direct"


class ReplayError(Exception):
    """The replay cannot start: no source queue to redrive to, or an ambiguous one."""


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """Reported after each batch (or task poll) so a caller can draw a progress bar."""

    done: int
    total: int | None


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
    moved: int = 0  # redrive: messages now back on the source queue
    recorded: int = 0  # direct: messages acknowledged by the core and deleted from the DLQ
    still_failing: tuple[FailingMessage, ...] = ()
    outcomes: Mapping[str, int] = field(default_factory=dict)
    drained: bool = False  # the run saw the DLQ empty of new messages (or the task completed)
    task_handle: str | None = None  # to cancel a move task still running
    task_status: str | None = None
    task_failure: str | None = None

    @property
    def complete(self) -> bool:
        """Nothing is left unrepaired: every message was moved or recorded, and none remain."""
        return not self.dry_run and self.drained and not self.still_failing


@dataclass(slots=True)
class _Run:
    """What a running replay has seen so far; becomes a `ReplayResult` at the end."""

    received: int = 0
    moved: int = 0
    recorded: int = 0
    seen: set[str] = field(default_factory=set)
    failing: dict[str, FailingMessage] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # message id → receipt handle to release
    outcomes: Counter[str] = field(default_factory=Counter)
    drained: bool = False

    def keep(self, message: sqs.ReceivedMessage, reason: str) -> None:
        self.failing[message.message_id] = FailingMessage(message.message_id, reason)

    def deleted(self, message: sqs.ReceivedMessage) -> None:
        self.held.pop(message.message_id, None)


def replay_dlq(
    *,
    client: Any,
    dlq_url: str,
    mode: ReplayMode | str = ReplayMode.REDRIVE,
    to_queue_url: str | None = None,
    recorder: Recorder | None = None,
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

    `limit` caps the messages handled in this run (a native move task cannot be capped, so a
    limit makes redrive use the copy loop). Interrupting with `should_stop` or `limit` and
    running again continues where the first run stopped.
    """
    mode = ReplayMode(mode)  # also accepts "redrive" / "direct"
    before = sqs.visible_count(client, dlq_url)
    progress = on_progress or (lambda _: None)
    total = before if limit is None else min(before, limit)

    def drain(handle: _Handler, done: Callable[[_Run], int]) -> _Run:
        return _drain(
            client,
            dlq_url,
            handle=handle,
            limit=limit,
            batch_size=batch_size,
            wait_seconds=wait_seconds,
            should_stop=should_stop,
            on_progress=lambda run: progress(ReplayProgress(done(run), total)),
        )

    if mode is ReplayMode.DIRECT:
        if recorder is None:
            raise ValueError("direct replay needs a recorder")
        handle = _peek_handler(recorder.settings) if dry_run else _direct_handler(recorder)
        run = drain(handle, lambda run: run.received)
        return _result(run, ReplayMode.DIRECT, "direct", dry_run, before, None)

    destination = to_queue_url or _source_queue(client, dlq_url)
    if dry_run:
        return ReplayResult(ReplayMode.REDRIVE, "dry run", True, before, destination)
    if limit is None:
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
    run = drain(_copy_handler(destination), lambda run: run.moved)
    return _result(run, ReplayMode.REDRIVE, "copy", False, before, destination)


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
    try:
        while not should_stop():
            room = batch_size if limit is None else min(batch_size, limit - run.received)
            if room <= 0:
                break
            received = sqs.receive(client, dlq_url, max_messages=room, wait_seconds=wait_seconds)
            # Until a handler deletes them, received messages are released when the run ends
            # (one seen again after its hold expired comes with a new receipt handle).
            run.held.update({m.message_id: m.receipt_handle for m in received})
            fresh = [m for m in received if m.message_id not in run.seen]
            if not fresh:
                run.drained = True
                break
            run.seen.update(m.message_id for m in fresh)
            run.received += len(fresh)
            handle(client, dlq_url, fresh, run)
            on_progress(run)
    finally:
        # Whatever stays in the DLQ becomes visible again now, as it was before the run.
        sqs.change_visibility(client, dlq_url, [(h, 0) for h in run.held.values()])
    return run


def _peek_handler(settings: Settings) -> _Handler:
    """Dry run: read each message, say which ones cannot be recorded as they are, change nothing.

    Whether a row exists is not checked (that would need the write); bodies that do not parse
    and records that are invalid are listed, because no replay can repair those.
    """

    def handle(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage], run: _Run) -> None:
        for message in messages:
            try:
                entries = parse_body(message.body)
            except EventParseError as exc:
                run.keep(message, f"invalid: {exc}")
                run.outcomes["invalid"] += 1
                continue
            invalid = [e.reason for e in entries if isinstance(e, Invalid)]
            if invalid:
                run.keep(message, "; ".join(f"invalid: {reason}" for reason in invalid))
            run.outcomes.update(_would(settings, entry) for entry in entries)

    return handle


def _would(settings: Settings, entry: ParsedEntry) -> str:
    """What the core would do with a parsed entry, short of asking the database."""
    if isinstance(entry, Invalid):
        return "invalid"
    if isinstance(entry, ObjectCreated) and settings.route(entry.bucket, entry.key) is not None:
        return "to write"
    return "skipped"


def _direct_handler(recorder: Recorder) -> _Handler:
    def handle(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage], run: _Run) -> None:
        batch = recorder.record([Message(m.message_id, m.body, m.receive_count) for m in messages])
        by_id = {m.message_id: m for m in messages}
        acknowledged = [by_id[m.message_id] for m in batch.acknowledged]
        refused = set(sqs.delete(client, dlq_url, [m.receipt_handle for m in acknowledged]))
        for message in acknowledged:
            if message.receipt_handle in refused:
                # Recorded, but the delete failed: a later replay finds it and records it again.
                run.keep(message, "recorded, but SQS refused to delete it from the DLQ")
            else:
                run.recorded += 1
                run.deleted(message)
        for result in batch.failed:
            run.keep(by_id[result.message_id], result.reason())
        run.outcomes.update({str(outcome): n for outcome, n in batch.counts().items()})
        _hold(client, dlq_url, [by_id[m.message_id] for m in batch.failed])

    return handle


def _copy_handler(destination: str) -> _Handler:
    def handle(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage], run: _Run) -> None:
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
        _hold(client, dlq_url, [messages[i] for i in refused])

    return handle


def _hold(client: Any, dlq_url: str, messages: list[sqs.ReceivedMessage]) -> None:
    if messages:
        sqs.change_visibility(client, dlq_url, [(m.receipt_handle, HOLD_S) for m in messages])


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


def _source_queue(client: Any, dlq_url: str) -> str:
    sources = sqs.dead_letter_sources(client, dlq_url)
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
        outcomes=dict(run.outcomes),
        drained=run.drained,
    )
