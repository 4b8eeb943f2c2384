"""Remove poison from a dead-letter queue, archiving each message before it is deleted.

Some dead letters can never be recorded: a body that is not an S3 event, a record without a
usable key or size, an event for a prefix no table takes. Replay leaves them in the DLQ (moving
them would only bring them back under new ids), and they keep its alarm firing. `discard_dlq`
reads the DLQ with replay's loop, `dlq.read_held` (messages hidden while the run goes on, the
rest visible again at the end), selects messages by category, key or id, and for each selected
message appends a JSON line to the archive and fsyncs it *before* asking SQS to delete the
message. A crash between the two leaves the message in the DLQ and in the archive, never in
neither.

A message's category comes from the core's parser and the operator's settings, never from the
database, so a run writes nothing but the archive:
- `invalid`: the body cannot be read, or a record in it is invalid (no replay can record it);
- `routed_nowhere`: every object in it is outside every target of this shell's settings;
- `skipped`: nothing in it to write (S3's `s3:TestEvent`), which the recorder acknowledges;
- `routed`: an object in it routes to a table; whether it can be recorded depends on the row
  (unmatched until the app inserts it), which only a write would tell: select such messages by
  key or id.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, BinaryIO

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.core.config import Settings
from size_recorder.core.events import ObjectChange, ObjectCreated, ObjectRemoved, ParsedEntry

# The DLQ loop replay and status read with too: it holds messages while a run goes on and
# releases whatever was not deleted when it ends, and its check refuses a source queue passed as
# the DLQ.
from size_recorder.ops.dlq import (
    NotADeadLetterQueue,
    Progress,
    Reading,
    dead_letter_sources,
    invalid_reason,
    parse,
    read_held,
)


class Category(StrEnum):
    INVALID = "invalid"
    ROUTED_NOWHERE = "routed_nowhere"
    SKIPPED = "skipped"
    ROUTED = "routed"


# What `--reason` may select: the categories that say the recorder cannot (or need not) record
# the message. `routed` messages may still be recorded once their row exists.
SELECTABLE = (Category.INVALID, Category.ROUTED_NOWHERE, Category.SKIPPED)


class DiscardError(Exception):
    """The run cannot start: no selector, a selector beside --all, an archive it cannot write,
    a source queue passed as the DLQ."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the recorder would make of a message, short of asking the database."""

    category: Category
    reason: str
    keys: tuple[str, ...]  # every S3 key the message names, decoded


def classify(body: str, settings: Settings) -> Verdict:
    """The message's category and reason; the most severe category wins (an invalid record
    makes the message invalid, one routed object makes it `routed`)."""
    entries = parse(body)
    keys = tuple(dict.fromkeys(e.key for e in entries if e.key is not None))
    invalid = invalid_reason(entries)
    if invalid:
        return Verdict(Category.INVALID, invalid, keys)
    changes = [e for e in entries if isinstance(e, ObjectCreated | ObjectRemoved)]
    tables = sorted(
        {route.target.table_name for e in changes if (route := settings.route(e.bucket, e.key))}
    )
    if tables:
        reason = (
            f"routed to {', '.join(tables)}: whether it can be recorded depends on the row"
            " (unmatched until the app inserts it)"
        )
        return Verdict(Category.ROUTED, reason, keys)
    if changes:
        return Verdict(Category.ROUTED_NOWHERE, _nowhere_reason(settings, changes), keys)
    skipped = "; ".join(_skip_reasons(entries)) or "no records"
    return Verdict(Category.SKIPPED, f"skipped: {skipped}", keys)


def _skip_reasons(entries: Iterable[ParsedEntry]) -> list[str]:
    return [e.reason for e in entries if not isinstance(e, ObjectCreated | ObjectRemoved)]


def _nowhere_reason(settings: Settings, changes: Sequence[ObjectChange]) -> str:
    """Name the setting that decided, with its value: the function's may differ from it."""
    where = ", ".join(f"s3://{e.bucket}/{e.key}" for e in changes)
    (first, *others) = settings.targets
    if first.origin == c.ENV_TABLE and not others:
        setting = f"{c.ENV_KEY_PREFIX}={first.prefix!r}"
    else:
        setting = f"{c.ENV_TARGETS} ({', '.join(t.describe() for t in settings.targets)})"
    return f"routed nowhere: {where} is outside {setting} here"


@dataclass(frozen=True, slots=True)
class Selection:
    """Which messages to discard: every selector given must match (`--reason invalid --key
    'media/tmp/*'` is the invalid messages about tmp keys); repeating one widens it."""

    categories: frozenset[Category] = frozenset()
    key_patterns: tuple[str, ...] = ()  # fnmatch globs on the full S3 key; a plain key is exact
    message_ids: frozenset[str] = frozenset()
    everything: bool = False

    def __post_init__(self) -> None:
        given = bool(self.categories or self.key_patterns or self.message_ids)
        if self.everything and given:
            raise DiscardError("--all selects every message: give it alone, without selectors")
        if not self.everything and not given:
            raise DiscardError(
                "nothing selected: give --reason, --key or --message-id"
                " (or --all to discard every message in the DLQ)"
            )
        not_selectable = self.categories - set(SELECTABLE)
        if not_selectable:
            raise DiscardError(
                f"--reason {', '.join(sorted(not_selectable))} cannot be selected by reason"
                f" (choose from {', '.join(SELECTABLE)}); select such messages by --key or"
                " --message-id"
            )

    def matches(self, message_id: str, verdict: Verdict) -> bool:
        if self.everything:
            return True
        return (
            (not self.categories or verdict.category in self.categories)
            and (
                not self.key_patterns
                or any(fnmatchcase(k, p) for k in verdict.keys for p in self.key_patterns)
            )
            and (not self.message_ids or message_id in self.message_ids)
        )


class Archive:
    """JSON lines appended to a file that is never truncated; each batch of lines is fsynced
    before the caller deletes its messages.

    The path is checked when the archive is made (so a bad path stops the run before anything is
    read) and the file is created, readable by its owner only (bodies name users' files), at
    the first write: a run that discards nothing leaves no empty file behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.lines = 0
        self._file: BinaryIO | None = None
        if self.path.is_dir():
            raise DiscardError(f"--archive {path} is a directory; name a file")
        if not self.path.parent.is_dir():
            raise DiscardError(f"--archive {path}: the directory {self.path.parent} does not exist")
        writable = self.path if self.path.exists() else self.path.parent
        if not os.access(writable, os.W_OK):
            raise DiscardError(f"--archive {path}: {writable} is not writable")

    def append(self, lines: Sequence[Mapping[str, Any]]) -> None:
        """Write and fsync `lines`; on an error, cut off what was half written, then raise it, so
        the file stays whole JSON lines."""
        file = self._open()
        data = b"".join(json.dumps(line).encode("ascii") + b"\n" for line in lines)
        start = file.seek(0, os.SEEK_END)
        try:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                file.truncate(start)
            raise
        self.lines += len(lines)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            created = not self.path.exists()
            self._file = open(self.path, "ab", opener=_private)  # noqa: SIM115 - kept open for the run
            if created:
                # The new file's directory entry must survive a crash as well as its lines.
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        return self._file


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


@dataclass(frozen=True, slots=True)
class Selected:
    """A message the selection matched. `left` says why it is still in the DLQ, or is None:
    discarded (in a dry run: would be)."""

    message_id: str
    receive_count: int
    verdict: Verdict
    left: str | None = None


@dataclass(frozen=True, slots=True)
class DiscardResult:
    dry_run: bool
    archive: Path | None  # None on a dry run
    received: int  # messages read
    selected: tuple[Selected, ...]
    categories: Mapping[Category, int]  # every message read, by category
    not_found: tuple[str, ...] = ()  # ids asked for (or confirmed) that the run did not read
    drained: bool = False  # read to the end of the DLQ
    interrupted: bool = False
    archive_error: str | None = None  # the archive failed: the run stopped there

    @property
    def discarded(self) -> int:
        """Deleted from the DLQ (in a dry run: would be)."""
        return sum(s.left is None for s in self.selected)

    @property
    def not_discarded(self) -> tuple[Selected, ...]:
        return tuple(s for s in self.selected if s.left is not None)

    @property
    def kept(self) -> int:
        """Read, not selected, and visible again."""
        return self.received - len(self.selected)

    @property
    def complete(self) -> bool:
        """Every selected message was (in a dry run: would be) archived and deleted, every id
        asked for was found, and the run read to the end; the same for a dry run."""
        return (
            self.drained
            and not self.interrupted
            and not self.not_found
            and not self.not_discarded
            and self.archive_error is None
        )


@dataclass(slots=True)
class _Discarding:
    """What a running discard has seen besides the DLQ's `Reading`."""

    selected: list[Selected] = field(default_factory=list)
    categories: Counter[Category] = field(default_factory=Counter)
    archive_error: str | None = None


def discard_dlq(
    *,
    client: Any,
    dlq_url: str,
    settings: Settings,
    selection: Selection,
    archive: Archive | None,
    only: Collection[str] | None = None,
    batch_size: int = sqs.SQS_BATCH_LIMIT,
    wait_seconds: int = 1,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[Progress], None] | None = None,
) -> DiscardResult:
    """Archive, then delete, the messages in the DLQ at `dlq_url` that `selection` matches.

    Without `archive` it is a dry run: the same reading and selecting, nothing written or
    deleted. `only` restricts the deletes to these message ids: the ones a person confirmed
    after a dry run, so a message that arrived since is not discarded unseen.
    """
    try:
        dead_letter_sources(client, dlq_url, needed=False)
    except NotADeadLetterQueue as exc:
        raise DiscardError(str(exc)) from None
    total = sqs.visible_count(client, dlq_url)
    state = _Discarding()
    wanted = set(selection.message_ids) | set(only or ())

    reading = Reading()

    def handle(messages: list[sqs.ReceivedMessage]) -> None:
        chosen: list[tuple[sqs.ReceivedMessage, Verdict]] = []
        for message in messages:
            verdict = classify(message.body, settings)
            state.categories[verdict.category] += 1
            if selection.matches(message.message_id, verdict) and (
                only is None or message.message_id in only
            ):
                chosen.append((message, verdict))
        if archive is None:
            state.selected.extend(_selected(m, v) for m, v in chosen)
        elif chosen:
            _archive_and_delete(client, dlq_url, archive, chosen, reading, state)

    progress = on_progress or (lambda _: None)
    read_held(
        client,
        dlq_url,
        reading,
        handle=handle,
        limit=None,
        batch_size=batch_size,
        wait_seconds=wait_seconds,
        # The archive failing stops the run: nothing more may be deleted without its copy.
        should_stop=lambda: should_stop() or state.archive_error is not None,
        on_progress=lambda: progress(Progress(reading.received, total)),
    )
    return DiscardResult(
        dry_run=archive is None,
        archive=None if archive is None else archive.path,
        received=reading.received,
        selected=tuple(state.selected),
        categories=dict(state.categories),
        not_found=tuple(sorted(wanted - reading.seen)),
        drained=reading.drained,
        interrupted=should_stop(),
        archive_error=state.archive_error,
    )


def _archive_and_delete(
    client: Any,
    dlq_url: str,
    archive: Archive,
    chosen: Sequence[tuple[sqs.ReceivedMessage, Verdict]],
    reading: Reading,
    state: _Discarding,
) -> None:
    try:
        archive.append([archive_line(m, v, dlq_url) for m, v in chosen])
    except OSError as exc:
        state.archive_error = f"{archive.path}: {exc}"
        left = f"not archived ({exc.strerror or exc}), so not deleted"
        state.selected.extend(_selected(m, v, left) for m, v in chosen)
        return
    refused = set(sqs.delete(client, dlq_url, [m.receipt_handle for m, _ in chosen]))
    for message, verdict in chosen:
        if message.receipt_handle in refused:
            left = "archived, but SQS refused to delete it: still in the DLQ"
            state.selected.append(_selected(message, verdict, left))
        else:
            state.selected.append(_selected(message, verdict))
            reading.deleted(message)


def _selected(message: sqs.ReceivedMessage, verdict: Verdict, left: str | None = None) -> Selected:
    return Selected(message.message_id, message.receive_count, verdict, left)


def archive_line(message: sqs.ReceivedMessage, verdict: Verdict, dlq_url: str) -> dict[str, Any]:
    """One archive line: the body exactly as SQS held it, and enough to know why and whence."""
    return {
        "message_id": message.message_id,
        "body": message.body,
        "receive_count": message.receive_count,
        "category": str(verdict.category),
        "reason": verdict.reason,
        "discarded_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "dlq_url": dlq_url,
    }
