"""Reading a dead-letter queue without losing track of it: what replay, discard and status share.

- `read_held` receives the DLQ's messages batch by batch, hides each fresh one for the rest of
  the run (so one run never takes the same message twice, nor mistakes a message it already
  holds for the end of the queue), and makes whatever the caller did not delete visible again
  when the run ends, however it ends, so the DLQ and its alarm look as they did before.
- `Progress` is what a run over the DLQ reports after each batch.
- `dead_letter_sources` refuses a source queue passed as the DLQ: every receive from it would
  count towards its messages' maxReceiveCount and push them into the real DLQ.
- `parse`, `invalid_reason` and `routing_setting` say what the core would make of a message
  short of asking the database, in the core's own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.core.config import Settings
from size_recorder.core.events import EventParseError, Invalid, ParsedEntry, parse_body

# Messages read and not deleted are hidden this long while a run goes on, so a run that lasts
# longer than the DLQ's visibility timeout does not pick them up again. Released at the end.
HOLD_S = 900


class NotADeadLetterQueue(Exception):
    """The URL given as the DLQ is a source queue; the message names its DLQ."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after each batch (or task poll) so a caller can draw a progress bar: messages
    done of `total` (None: not known)."""

    done: int
    total: int | None


@dataclass(slots=True)
class Reading:
    """What a run has received from a queue so far, and what it still holds."""

    received: int = 0
    seen: set[str] = field(default_factory=set)
    held: dict[str, str] = field(default_factory=dict)  # message id → receipt handle to release
    drained: bool = False  # a receive found nothing this run had not seen

    def deleted(self, message: sqs.ReceivedMessage) -> None:
        """The caller deleted it: nothing to release."""
        self.held.pop(message.message_id, None)


def read_held(
    client: Any,
    queue_url: str,
    reading: Reading,
    *,
    handle: Callable[[list[sqs.ReceivedMessage]], None],
    limit: int | None,
    batch_size: int,
    wait_seconds: int,
    should_stop: Callable[[], bool],
    on_progress: Callable[[], None],
) -> None:
    """Receive batches and `handle` the fresh messages until the queue has nothing new, `limit`
    messages were received, or `should_stop`; then release every message not deleted."""
    try:
        while not should_stop():
            room = batch_size if limit is None else min(batch_size, limit - reading.received)
            if room <= 0:
                break
            received = sqs.receive(client, queue_url, max_messages=room, wait_seconds=wait_seconds)
            # Until the caller deletes them, received messages are released when the run ends
            # (one seen again after its hold expired comes with a new receipt handle).
            reading.held.update({m.message_id: m.receipt_handle for m in received})
            fresh = [m for m in received if m.message_id not in reading.seen]
            if not fresh:
                reading.drained = True
                break
            reading.seen.update(m.message_id for m in fresh)
            reading.received += len(fresh)
            handle(fresh)
            # What stays is hidden for the rest of the run: were it to reappear, the run would
            # take it for the end of the queue (nothing fresh) and stop early.
            staying = [reading.held[m.message_id] for m in fresh if m.message_id in reading.held]
            if staying:
                sqs.change_visibility(client, queue_url, [(h, HOLD_S) for h in staying])
            on_progress()
    finally:
        # Whatever stays in the queue becomes visible again now, as it was before the run.
        sqs.change_visibility(client, queue_url, [(h, 0) for h in reading.held.values()])


def dead_letter_sources(client: Any, dlq_url: str, *, needed: bool) -> list[str]:
    """The queues that use `dlq_url` as their DLQ (listed when `needed` or to check the queue);
    raises `NotADeadLetterQueue` for a source queue passed as the DLQ.

    A queue with a redrive policy of its own that no queue uses as its DLQ is a source queue:
    reading it would move or delete messages the function has yet to see. (A DLQ with a DLQ
    of its own is still somebody's DLQ, and is accepted.) A queue without a redrive policy is
    not listed unless needed, so reading a DLQ needs no sqs:ListDeadLetterSourceQueues.
    """
    own_dlq = sqs.dead_letter_target(client, dlq_url)
    if own_dlq is None and not needed:
        return []
    sources = sqs.dead_letter_sources(client, dlq_url)
    if own_dlq is not None and not sources:
        own_dlq_url = sqs.queue_url_from_arn(client, own_dlq)
        raise NotADeadLetterQueue(
            f"{dlq_url} is the source queue (its redrive policy sends failures to {own_dlq_url});"
            f" pass its dead-letter queue: --dlq-url {own_dlq_url}"
        )
    return sources


def parse(body: str) -> list[ParsedEntry]:
    """The body's entries; a body that does not parse is one `Invalid` entry."""
    try:
        return parse_body(body)
    except EventParseError as exc:
        return [Invalid(str(exc))]


def invalid_reason(entries: Iterable[ParsedEntry]) -> str | None:
    """Why no replay can record this message (its body or a record is invalid), or None."""
    reasons = [f"invalid: {e.reason}" for e in entries if isinstance(e, Invalid)]
    return "; ".join(reasons) or None


def routing_setting(settings: Settings) -> tuple[str, str]:
    """The variable that decides which keys reach a table, and how it reads here, e.g.
    (`SIZE_RECORDER_KEY_PREFIX`, `SIZE_RECORDER_KEY_PREFIX='media/'`): what to compare with the
    function's when a message routes nowhere here."""
    if all(target.origin == c.ENV_TABLE for target in settings.targets):
        return c.ENV_KEY_PREFIX, f"{c.ENV_KEY_PREFIX}={settings.targets[0].prefix!r}"
    where = ", ".join(f"s3://{t.bucket or '*'}/{t.prefix}" for t in settings.targets)
    return c.ENV_TARGETS, f"{c.ENV_TARGETS} ({where})"
