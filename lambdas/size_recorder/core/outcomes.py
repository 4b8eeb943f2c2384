"""What happened to each record and what that means for its message.

A message is acknowledged only when every record in it was recorded, found stale, or skipped on
purpose; anything else fails that message alone, so SQS redelivers it and, after the queue's
maxReceiveCount, moves it to the DLQ where an operator can see it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from size_recorder import constants as c


class Outcome(StrEnum):
    RECORDED = "recorded"  # the size is in Postgres (written now, or already there)
    # The row already holds this event or a newer one; or, with the sequencer ledger, its key
    # had a newer one (RecordResult.by_ledger says which).
    STALE = "stale"
    SKIPPED = "skipped"  # deliberately not written: test event, deletion, outside every prefix
    UNMATCHED = "unmatched"  # no row holds this key yet; retried soon, then the DLQ
    INVALID = "invalid"  # the body or record cannot be used; retried, then the DLQ
    FAILED = "failed"  # the write did not happen (database error, no time left); retried

    @property
    def acknowledged(self) -> bool:
        return self in _ACKNOWLEDGED

    @property
    def metric(self) -> str:
        return _METRICS[self]


_ACKNOWLEDGED = frozenset({Outcome.RECORDED, Outcome.STALE, Outcome.SKIPPED})
_METRICS = {
    Outcome.RECORDED: c.METRIC_RECORDED,
    Outcome.STALE: c.METRIC_STALE,
    Outcome.SKIPPED: c.METRIC_SKIPPED,
    Outcome.UNMATCHED: c.METRIC_UNMATCHED,
    Outcome.INVALID: c.METRIC_INVALID,
    Outcome.FAILED: c.METRIC_FAILED,
}


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The outcome of one record (or of a whole unreadable body), and why if not recorded."""

    outcome: Outcome
    reason: str | None = None
    bucket: str | None = None
    key: str | None = None
    size: int | None = None
    table: str | None = None
    # SKIPPED because of how this process's configuration routes the key: no target takes it,
    # or (for a removal) the name it derives is in no row. Another process with other settings
    # (the function that sent a message to the DLQ) may record it, so `replay` keeps such
    # messages instead of deleting them.
    for_configuration: bool = False
    # STALE because the sequencer ledger holds a newer event for the key, which the row itself
    # never saw (it took the name after that event): the row alone would have taken this one.
    by_ledger: bool = False


@dataclass(frozen=True, slots=True)
class MessageResult:
    message_id: str
    receive_count: int
    records: tuple[RecordResult, ...]

    @property
    def acknowledged(self) -> bool:
        return all(record.outcome.acknowledged for record in self.records)

    @property
    def failures(self) -> tuple[RecordResult, ...]:
        return tuple(r for r in self.records if not r.outcome.acknowledged)

    @property
    def only_unmatched(self) -> bool:
        """Failed only because rows are missing: worth retrying soon, not after the full timeout."""
        failures = self.failures
        return bool(failures) and all(r.outcome is Outcome.UNMATCHED for r in failures)

    def reason(self) -> str:
        """One line for logs and the DLQ summary: why this message was not acknowledged."""
        return "; ".join(f"{r.outcome}: {r.reason}" for r in self.failures)


@dataclass(frozen=True, slots=True)
class BatchResult:
    messages: tuple[MessageResult, ...]

    @property
    def failed(self) -> tuple[MessageResult, ...]:
        """The messages to leave on the queue (the partial batch response lists them)."""
        return tuple(m for m in self.messages if not m.acknowledged)

    @property
    def acknowledged(self) -> tuple[MessageResult, ...]:
        return tuple(m for m in self.messages if m.acknowledged)

    def counts(self) -> Counter[Outcome]:
        return Counter(record.outcome for m in self.messages for record in m.records)

    def stale_by_ledger(self) -> int:
        """How many of the stale records the sequencer ledger refused (`RecordResult.by_ledger`)."""
        return sum(record.by_ledger for m in self.messages for record in m.records)
