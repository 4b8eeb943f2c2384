"""The core: queue messages in, one outcome per record and message out.

The Lambda handler, the `size-recorder worker` and `size-recorder replay --mode direct` all call
`Recorder.record`, so every path parses, routes, deduplicates and writes the same way. The core
knows the store only through the `SizeStore` protocol; it imports neither psycopg nor boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from size_recorder.core.config import Settings, Target
from size_recorder.core.events import (
    EventParseError,
    Invalid,
    ObjectChange,
    ObjectCreated,
    ObjectRemoved,
    Skipped,
    is_newer,
    parse_body,
)
from size_recorder.core.outcomes import BatchResult, MessageResult, Outcome, RecordResult

# Below this much remaining time a batch is not started: a write cut off by the function's
# timeout would leave the messages neither acknowledged nor reported.
MIN_TIME_FOR_WRITE_MS = 1_000


@dataclass(frozen=True, slots=True)
class Message:
    """A queue message as every entry point sees it."""

    message_id: str
    body: str
    receive_count: int = 1


@dataclass(frozen=True, slots=True)
class SizeWrite:
    """One row key to set, after deduplication within the batch (size None: a removal)."""

    name: str
    size: int | None
    sequencer: str | None


class WriteStatus(Enum):
    UPDATED = "updated"  # rows changed
    UNCHANGED = "unchanged"  # rows exist but already hold this size or a newer sequencer
    MISSING = "missing"  # no row has this key
    # Rows exist and their own sequencer would take the event, but the sequencer ledger holds a
    # newer one for the key (a store with a ledger only).
    SUPERSEDED = "superseded"


class StoreError(Exception):
    """The database did not take the write; every record in it must be retried."""


class SizeStore(Protocol):
    def sequencer_widths(self) -> Mapping[Target, int | None]:
        """The most characters each target's sequencer column holds (None: no limit).

        Asked before each write, so a record whose sequencer cannot fit fails alone instead of
        failing the batch's single statement. May connect; raises StoreError when it cannot.
        """
        ...

    def write(
        self, writes: Mapping[Target, Sequence[SizeWrite]], *, timeout_ms: int
    ) -> Mapping[Target, Mapping[str, WriteStatus]]:
        """Apply all writes in one transaction; a status per (target, name), or StoreError."""
        ...


@dataclass(frozen=True, slots=True)
class _Pending:
    """A routed record waiting for its write's status."""

    index: int
    record: ObjectChange
    target: Target
    name: str


class Recorder:
    """Records object sizes from queue messages; build once per process and reuse."""

    def __init__(self, settings: Settings, store: SizeStore) -> None:
        self._settings = settings
        self._store = store

    @property
    def settings(self) -> Settings:
        return self._settings

    def record(
        self,
        messages: Sequence[Message],
        *,
        remaining_ms: Callable[[], int] | None = None,
    ) -> BatchResult:
        """Parse, route and write a batch; never raises for bad input or a database error."""
        results: list[list[RecordResult]] = [[] for _ in messages]
        pending: list[_Pending] = []
        for index, message in enumerate(messages):
            self._parse_message(index, message, results[index], pending)

        if pending:
            for item, result in self._write(pending, remaining_ms):
                results[item.index].append(result)

        return BatchResult(
            tuple(
                MessageResult(m.message_id, m.receive_count, tuple(r))
                for m, r in zip(messages, results, strict=True)
            )
        )

    def retry_delays(self, batch: BatchResult) -> dict[str, int]:
        """Message id → seconds until an unmatched-only message is tried again.

        The app often inserts its row just after the upload finishes; waiting a few seconds,
        doubling per receive, fills it far sooner than the queue's full visibility timeout.
        """
        return {
            m.message_id: self._settings.unmatched_retry_delay(m.receive_count)
            for m in batch.failed
            if m.only_unmatched
        }

    def _parse_message(
        self,
        index: int,
        message: Message,
        results: list[RecordResult],
        pending: list[_Pending],
    ) -> None:
        try:
            entries = parse_body(message.body)
        except EventParseError as exc:
            results.append(RecordResult(Outcome.INVALID, str(exc)))
            return
        for entry in entries:
            if isinstance(entry, ObjectCreated | ObjectRemoved):
                skip = self._route(index, entry, pending)
                if skip is not None:
                    results.append(skip)
            elif isinstance(entry, Skipped):
                results.append(RecordResult(Outcome.SKIPPED, entry.reason, entry.bucket, entry.key))
            else:
                results.append(_invalid(entry))

    def _route(
        self, index: int, entry: ObjectChange, pending: list[_Pending]
    ) -> RecordResult | None:
        """Queue the entry for its target's write, or say why it is skipped."""
        route = self._settings.route(entry.bucket, entry.key)
        if route is None:
            return RecordResult(
                Outcome.SKIPPED,
                "key is outside every configured prefix",
                entry.bucket,
                entry.key,
                entry.size,
                for_configuration=True,
            )
        target = route.target
        if not route.names_a_file:
            # Writing a folder marker's empty name would size every row without a file.
            return RecordResult(
                Outcome.SKIPPED,
                f"folder marker: the name {route.name!r} cannot be a file's",
                entry.bucket,
                entry.key,
                entry.size,
                target.table_name,
            )
        if isinstance(entry, ObjectRemoved) and target.sequencer_column is None:
            return RecordResult(
                Outcome.SKIPPED,
                "a removal cannot be ordered against creates without a sequencer column; set "
                f"{target.variable('sequencer_column')} to follow deletes",
                entry.bucket,
                entry.key,
                None,
                target.table_name,
            )
        pending.append(_Pending(index, entry, target, route.name))
        return None

    def _write(
        self, pending: list[_Pending], remaining_ms: Callable[[], int] | None
    ) -> Iterable[tuple[_Pending, RecordResult]]:
        timeout_ms = self._settings.statement_timeout_ms
        if remaining_ms is not None:
            left = remaining_ms() - MIN_TIME_FOR_WRITE_MS
            if left < MIN_TIME_FOR_WRITE_MS:
                return [(p, _result(p, Outcome.FAILED, "no time left to write")) for p in pending]
            timeout_ms = min(timeout_ms, left)
        try:
            widths = self._store.sequencer_widths()
        except StoreError as exc:
            return [(p, _result(p, Outcome.FAILED, f"database error: {exc}")) for p in pending]
        oversized = [p for p in pending if _too_long(p, widths.get(p.target))]
        fitting = [p for p in pending if not _too_long(p, widths.get(p.target))]
        resolved = [(p, _oversized(p, widths.get(p.target))) for p in oversized]
        if not fitting:
            return resolved
        winners = plan_writes(fitting)
        writes = {target: list(by_name.values()) for target, by_name in winners.items()}
        try:
            statuses = self._store.write(writes, timeout_ms=timeout_ms)
        except StoreError as exc:
            return resolved + [
                (p, _result(p, Outcome.FAILED, f"database error: {exc}")) for p in fitting
            ]
        return resolved + [
            (p, _resolve(p, winners[p.target][p.name], statuses[p.target][p.name])) for p in fitting
        ]


def plan_writes(pending: Iterable[_Pending]) -> dict[Target, dict[str, SizeWrite]]:
    """One write per (target, name): the newest event wins, later in the batch on a tie."""
    newest: dict[Target, dict[str, SizeWrite]] = {}
    for item in pending:
        by_name = newest.setdefault(item.target, {})
        current = by_name.get(item.name)
        record = item.record
        if current is None or not is_newer(current.sequencer, record.sequencer):
            by_name[item.name] = SizeWrite(item.name, record.size, record.sequencer)
    return newest


def _too_long(item: _Pending, width: int | None) -> bool:
    sequencer = item.record.sequencer
    return width is not None and sequencer is not None and len(sequencer) > width


def _oversized(item: _Pending, width: int | None) -> RecordResult:
    """A record whose sequencer its target's column cannot hold: invalid on its own, so the
    rest of the batch is written (the batch's one statement would fail as a whole)."""
    target = item.target
    length = len(item.record.sequencer or "")
    return _result(
        item,
        Outcome.INVALID,
        f"sequencer has {length} characters; {target.table_name}.{target.sequencer_column}"
        f" holds at most {width}",
    )


def _resolve(item: _Pending, winner: SizeWrite, status: WriteStatus) -> RecordResult:
    record = item.record
    if status is WriteStatus.MISSING and isinstance(record, ObjectRemoved):
        # The app usually deletes the row with its file: a removal with no row has nothing to
        # forget, and retrying it would only fill the DLQ. Which row a key names depends on this
        # process's prefixes, though: `replay` keeps such a message rather than delete it.
        return RecordResult(
            Outcome.SKIPPED,
            "removal of a key no row holds: nothing to forget",
            record.bucket,
            record.key,
            None,
            item.target.table_name,
            for_configuration=True,
        )
    if status is WriteStatus.MISSING:
        reason = f"no row with {item.target.key_column} = {item.name!r} in {item.target.table_name}"
        return _result(item, Outcome.UNMATCHED, reason)
    if is_newer(winner.sequencer, record.sequencer):
        return _result(item, Outcome.STALE, "superseded by a newer event in the same batch")
    if status is WriteStatus.SUPERSEDED:
        return replace(_result(item, Outcome.STALE, _by_ledger(record)), by_ledger=True)
    # "Unchanged" only happens with a sequencer column: the row holds this event, a newer one,
    # or (for an event without a sequencer) one that has a sequencer and so wins.
    if status is WriteStatus.UNCHANGED and item.target.sequencer_column is not None:
        if record.sequencer is None:
            return _result(item, Outcome.STALE, "row holds an event with a sequencer")
        return _result(item, Outcome.STALE, "row already holds this or a newer event")
    return _result(item, Outcome.RECORDED)


def _by_ledger(record: ObjectChange) -> str:
    """Why the ledger refused an event the row itself would have taken: the row never saw its
    key's newest event, because it took the name after that event was recorded."""
    held = "an event with a sequencer" if record.sequencer is None else "a newer event"
    return (
        f"the sequencer ledger holds {held} for this key, which the row never saw: the row"
        " took this name after it (a replaced or renamed row, or one inserted after the"
        " object's deletion)"
    )


def _result(item: _Pending, outcome: Outcome, reason: str | None = None) -> RecordResult:
    record = item.record
    return RecordResult(
        outcome, reason, record.bucket, record.key, record.size, item.target.table_name
    )


def _invalid(entry: Invalid) -> RecordResult:
    return RecordResult(Outcome.INVALID, entry.reason, entry.bucket, entry.key)
