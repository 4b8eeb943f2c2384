"""The lifecycle model: every row holds its object's current size, or NULL meaning unknown,
through anything S3, SQS, the app and the operator do, in any order (issue 13).

A Hypothesis `RuleBasedStateMachine` drives, side by side, the real system and a reference
model of what it should do:
- real: `Recorder.record` on the real `PostgresStore`, `backfill`, `check` and `replay_dlq`
  on the real `RowStore`, all on the suite's Postgres; S3 and SQS are simulated
  (`simulated_s3`, `simulated_sqs`): S3 with versions, folder markers and sequencers, SQS with
  receive counts, maxReceiveCount and a DLQ;
- model: per row, the size and sequencer the intended behaviour gives, per key, the newest
  sequencer the sequencer ledger holds (`SIZE_RECORDER_SEQUENCER_LEDGER`, which the sequenced
  machine configures), per event, the copies still queued.

Invariants, after every step:
1. a non-NULL size is one the row's own key has held: never another key's, never a blank
   row's (the issue's wording, checked against the simulated bucket alone);
2. every row is exactly what the model says (name, size, sequencer as S3 orders it).
After a drain (a rule, and the end of every example): everything queued is delivered and the
DLQ replayed; then every named row holds its object's current size or NULL, and NULL only where
the model says the size is unknown (the row could not have seen the event of the current
version, or the current version arrived with no create event). Whenever a replay deletes a
message from the DLQ: its size is in Postgres (recorded, or a newer event is), it needed none,
or (redrive) it is back on the source queue.

The same machine runs without a sequencer column (`UnorderedLifecycleModel`, the default
configuration): the last write wins and removals are skipped, so after a drain a row may hold
any size its key held; invariants 1 and 2 and the NULL rule stay.

`known_defects.PENDING` lists the intended behaviour the code lacks today; see there.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from size_recorder.core.config import Settings
from size_recorder.core.outcomes import BatchResult
from size_recorder.core.recorder import Message, Recorder
from size_recorder.ops.backfill import backfill
from size_recorder.ops.check import check
from size_recorder.ops.replay import replay_dlq
from tests.model.environment import PREFIX, ModelEnv, model_settings, profile_name
from tests.model.known_defects import PENDING
from tests.model.simulated_s3 import S3Event, SimulatedBucket, SimulatedS3Client
from tests.model.simulated_sqs import (
    DLQ_URL,
    SOURCE_URL,
    QueuedMessage,
    SimulatedQueues,
    SimulatedSqsClient,
)
from tests.support.events import load_event, s3_body

BUCKET = "uploads"
# Few names, so that keys, rows and events collide often. Encoded in events: `b+c.png`,
# `d%2Be.txt`, `sub/%C3%BC.jpg`; `sub/` nests under a folder marker.
NAMES = ("a.pdf", "b c.png", "d+e.txt", "sub/ü.jpg")
KEYS = (*(PREFIX + name for name in NAMES), "static/app.css")  # the last is outside the prefix
NESTED_MARKER = f"{PREFIX}sub/"
FOLDER_MARKERS = (NESTED_MARKER, PREFIX)  # the second is the target's prefix itself
SCOPES = ("", PREFIX, NESTED_MARKER)  # prefixes an operator passes to backfill and check
MAX_RECEIVE_COUNT = 3
BATCH_LIMIT = 10  # SQS → Lambda batch size in the drain

SIZES = st.sampled_from(["fresh", "zero", "huge"])
PICK = st.integers(0, 255)  # an index into whatever list the rule picks from, modulo its length
# How a batch's write fails: not at all, lost before or after Postgres commits it (FlakyStore),
# or not started because the function has too little time left.
FAULTS = st.sampled_from([None, None, "before", "after", "no time"])
# What `remaining_ms` says for "no time": below the recorder's floor for starting a write.
TOO_LITTLE_TIME_MS = 1_500
# What lands while an operator's tool reads: an upload, a delete (a marker, when versioned), or
# the deletion of the current version (versioned: the one below comes back, silently).
CHANGES = st.sampled_from(["upload", "delete", "delete current version"])
TEST_EVENT = load_event("s3_test_event.json")


def order(sequencer: str) -> str:
    """A sequencer's place in S3's order: right-padded with zeros (hostile ones reach 80 digits),
    then compared as a string."""
    return sequencer.ljust(128, "0")


def newer(candidate: str, current: str | None) -> bool:
    return current is None or order(candidate) > order(current)


def name_of(key: str) -> str | None:
    """The row name the function's configuration gives a key, or None outside its prefix."""
    return key[len(PREFIX) :] if key.startswith(PREFIX) else None


def names_a_row(name: str | None) -> bool:
    """Whether a name can be a file's: folder markers (`sub/`, and `` for the prefix) cannot."""
    return name is not None and name != "" and not name.endswith("/")


@dataclass(slots=True)
class ModelRow:
    name: str
    size: int | None = None
    sequencer: str | None = None
    # Events of its key that were consumed (no copy left in any queue) before the row took its
    # name: the row can never see them.
    missed: frozenset[int] = frozenset()


class LifecycleModel(RuleBasedStateMachine):
    # With a sequencer column (SIZE_RECORDER_SEQUENCER_COLUMN): events are ordered, removals
    # followed, and the sequencer ledger (SIZE_RECORDER_SEQUENCER_LEDGER) keeps each key's
    # newest sequencer. Without one (the default): the last write wins and removals are skipped.
    sequenced = True

    def __init__(self, env: ModelEnv) -> None:
        super().__init__()
        self.env = env
        env.reset()
        env.stats["examples"] += 1
        self.recorder, self.store = env.recorder(sequenced=self.sequenced)
        self.bucket: SimulatedBucket | None = None
        self.queues = SimulatedQueues(MAX_RECEIVE_COUNT)
        self.rows: dict[int, ModelRow] = {}
        self.carried: dict[str, S3Event | None] = {}  # body → its event (None: test event)
        # The ledger: key → the newest sequencer a committed write brought, row or no row.
        self.ledger: dict[str, str] = {}
        self.hostile: set[str] = set()  # bodies of hand-made records no column can hold
        self.first_sent = 0  # the bucket's first event S3 sent (see `create_bucket`)

    # ---- S3 -----------------------------------------------------------------------------------

    @initialize(
        versioned=st.booleans(),
        rng=st.randoms(use_true_random=False),
        objects=st.lists(st.tuples(st.sampled_from(NAMES), SIZES), max_size=6),
        rows=st.lists(st.sampled_from(NAMES), max_size=4),
    )
    def create_bucket(
        self,
        versioned: bool,
        rng: random.Random,
        objects: list[tuple[str, str]],
        rows: list[str],
    ) -> None:
        """The bucket as the recorder finds it: objects uploaded before its notification existed
        (their events are gone) and rows whose size is unknown (backfill's and check's work),
        then the s3:TestEvent S3 sends when the notification is configured."""
        self.bucket = SimulatedBucket(BUCKET, versioned, rng)
        for name, size in objects:
            self.bucket.put(PREFIX + name, self.bucket.fresh_size(size))  # no event reaches us
        for name in rows:
            self._insert(name, None)
        self.first_sent = len(self.bucket.events)
        self._send(TEST_EVENT, None)

    @rule(
        key=st.sampled_from(KEYS),
        size=SIZES,
        how=st.sampled_from(["Put", "CompleteMultipartUpload"]),
    )
    def upload(self, key: str, size: str, how: str) -> None:
        """A PUT or a multipart upload, new or over an existing object (size 0 included)."""
        bucket = self._bucket
        self._emit(bucket.put(key, bucket.fresh_size(size), how))

    @rule(source=st.sampled_from(KEYS), destination=st.sampled_from(KEYS))
    def copy(self, source: str, destination: str) -> None:
        self._emit(self._bucket.copy(source, destination))

    @rule(marker=st.sampled_from(FOLDER_MARKERS))
    def create_folder(self, marker: str) -> None:
        """The console's "Create folder": a zero-byte object whose key ends in `/`, nested, or
        equal to the target's prefix (`media/`)."""
        self._emit(self._bucket.put(marker, 0))

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        """DELETE: the object goes (unversioned) or a delete marker hides it (versioned)."""
        self._emit(self._bucket.delete(key))

    @precondition(lambda self: self.bucket is not None and self.bucket.versioned)
    @rule(key=st.sampled_from(KEYS), pick=PICK)
    def delete_version(self, key: str, pick: int) -> None:
        """DELETE ?versionId=: the version below becomes current, and S3 says nothing of it."""
        self._emit(self._bucket.delete_version(key, pick))

    # ---- delivery -------------------------------------------------------------------------------

    @precondition(lambda self: self.queues.source)
    @rule()
    def deliver_oldest(self) -> None:
        """One Lambda batch of the oldest visible messages, as SQS mostly hands them out."""
        self._deliver_visible(range(BATCH_LIMIT), None)

    @precondition(lambda self: self.queues.source)
    @rule(picks=st.lists(PICK, min_size=1, max_size=BATCH_LIMIT), fault=FAULTS)
    def deliver(self, picks: list[int], fault: str | None) -> None:
        """One Lambda batch: any visible messages, in any order; the write may fail."""
        self._deliver_visible(picks, fault)

    @rule(key=st.sampled_from(KEYS), pick=PICK)
    def duplicate(self, key: str, pick: int) -> None:
        """At-least-once: an event of the key, however old, arrives once more. Only an event S3
        sent: the estate's uploads predate the notification, so none of theirs ever arrives."""
        events = [e for e in self._bucket.events[self.first_sent :] if e.key == key]
        if events:
            self._emit(events[pick % len(events)])

    @precondition(lambda self: self.queues.source)
    @rule(pick=PICK, deliveries=st.integers(1, 4))
    def delay(self, pick: int, deliveries: int) -> None:
        """A message sits out the next few batches (a visibility timeout, a slow S3 event)."""
        source = self.queues.source
        source[pick % len(source)].delayed = deliveries

    @precondition(lambda self: self.sequenced and self.bucket is not None)
    @rule(name=st.sampled_from(NAMES), extra=st.integers(1, 16))
    def send_a_sequencer_longer_than_the_column(self, name: str, extra: int) -> None:
        """A hand-made record whose hex sequencer cannot fit varchar(64): invalid on its own."""
        body = s3_body(
            quote_plus(PREFIX + name, safe="/"),
            self._bucket.fresh_size("fresh"),  # a size no key holds: recording it shows
            "F" * (64 + extra),
        )
        self.hostile.add(body)
        self._send(body, None)

    @precondition(lambda self: self.queues.dlq)
    @rule()
    def replay_direct(self) -> None:
        self._replay_direct(PREFIX)

    @precondition(lambda self: self.queues.dlq)
    @rule()
    def replay_direct_without_the_prefix(self) -> None:
        """The operator forgot SIZE_RECORDER_KEY_PREFIX: every key names no row."""
        self._replay_direct("")

    @precondition(lambda self: self.queues.dlq)
    @rule()
    def replay_direct_with_another_prefix(self) -> None:
        """The operator's SIZE_RECORDER_KEY_PREFIX is not the function's: every key is outside."""
        self._replay_direct("uploads/")

    @precondition(lambda self: self.queues.dlq)
    @rule(move_all=st.booleans())
    def replay_redrive(self, move_all: bool) -> None:
        """Back to the source queue through replay's copy loop (no native move task here)."""
        before = [m.body for m in self.queues.dlq]
        waiting = len(self.queues.source)
        replay_dlq(
            client=SimulatedSqsClient(self.queues),
            dlq_url=DLQ_URL,
            mode="redrive",
            to_queue_url=SOURCE_URL,
            move_all=move_all,
            wait_seconds=0,
        )
        self.env.stats["replays"] += 1
        assert not any(m.in_flight for m in self.queues.dlq), "replay left messages hidden"
        kept = [m.body for m in self.queues.dlq]
        moved = [m.body for m in self.queues.source[waiting:]]
        # Every message was moved or kept (none lost); ours all parse, so all are moved.
        assert sorted(kept + moved) == sorted(before)
        assert not kept, f"redrive kept {[self._describe(b) for b in kept]}"

    @rule(batch_size=st.sampled_from([BATCH_LIMIT, 1]))
    def drain(self, batch_size: int) -> None:
        """Deliver everything in batches of `batch_size` (the event source mapping's setting),
        replay the DLQ, then check the end state. Teardown drains too."""
        self._drain_and_check(batch_size)

    # ---- the app ----------------------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES))
    def insert_row(self, name: str) -> None:
        """A row for a file uploaded (or about to be) with a presigned URL: size unknown."""
        self._insert(name, None)

    @rule(name=st.sampled_from(NAMES), size=SIZES)
    def upload_through_the_app(self, name: str, size: str) -> None:
        """`Document.objects.create(file=upload)`: the file goes to S3, then the row, whose
        size Django sets from the content (no sequencer)."""
        event = self._bucket.put(PREFIX + name, self._bucket.fresh_size(size))
        self._emit(event)
        self._insert(name, event.size)

    @precondition(lambda self: self._named_rows())
    @rule(pick=PICK, size=SIZES)
    def overwrite_through_the_app(self, pick: int, size: str) -> None:
        """`doc.file.save(doc.file.name, content)` over the same key: Django sets the size and
        keeps the sequencer, so an older event arriving late still loses."""
        row_id, row = self._pick(self._named_rows(), pick)
        event = self._bucket.put(PREFIX + row.name, self._bucket.fresh_size(size))
        self._emit(event)
        self._sql(
            f"UPDATE {self.env.qualified} SET size_bytes = %s WHERE id = %s", event.size, row_id
        )
        row.size = event.size

    @precondition(lambda self: self.rows)
    @rule(pick=PICK, name=st.sampled_from(NAMES))
    def rename_row(self, pick: int, name: str) -> None:
        """The row points at another key, through the field or through `file.name`: either way
        (issue 13, defect 4) Django saves the new name with NULL size and sequencer."""
        row_id, row = self._pick(list(self.rows.items()), pick)
        if row.name == name:
            return  # Django changes nothing when the name stays
        self._sql(
            f"UPDATE {self.env.qualified} SET file = %s, size_bytes = NULL,"
            " size_sequencer = NULL WHERE id = %s",
            name,
            row_id,
        )
        self.rows[row_id] = ModelRow(name, missed=self._missed(name))

    @precondition(lambda self: self.rows)
    @rule(pick=PICK)
    def blank_row(self, pick: int) -> None:
        """An optional FileField cleared (`doc.file = None`): empty name, NULL size."""
        row_id, _ = self._pick(list(self.rows.items()), pick)
        self._sql(
            f"UPDATE {self.env.qualified} SET file = '', size_bytes = NULL,"
            " size_sequencer = NULL WHERE id = %s",
            row_id,
        )
        self.rows[row_id] = ModelRow("")

    @precondition(lambda self: self.rows)
    @rule(pick=PICK)
    def delete_row(self, pick: int) -> None:
        row_id, _ = self._pick(list(self.rows.items()), pick)
        self._sql(f"DELETE FROM {self.env.qualified} WHERE id = %s", row_id)
        del self.rows[row_id]

    @precondition(lambda self: self._named_rows())
    @rule(pick=PICK)
    def replace_row(self, pick: int) -> None:
        """The app deletes a row and creates another for the same file (a re-import)."""
        row_id, row = self._pick(self._named_rows(), pick)
        self._sql(f"DELETE FROM {self.env.qualified} WHERE id = %s", row_id)
        del self.rows[row_id]
        self._insert(row.name, None)

    # ---- the operator -----------------------------------------------------------------------

    @rule(
        method=st.sampled_from(["list", "head"]),
        prefix=st.sampled_from(SCOPES),
        page_size=st.sampled_from([1, 2, 1000]),
        dry_run=st.booleans(),
    )
    def run_backfill(self, method: str, prefix: str, page_size: int, dry_run: bool) -> None:
        """`size-recorder backfill`: NULL rows whose object exists get its size."""
        self._backfill(method, prefix, page_size, dry_run, SimulatedS3Client(self._bucket))

    @rule(
        name=st.sampled_from(NAMES),
        change=CHANGES,
        size=SIZES,
        method=st.sampled_from(["list", "head"]),
    )
    def backfill_while_an_event_lands(self, name: str, change: str, size: str, method: str) -> None:
        """While backfill lists (or makes its first HEAD), an object changes and its event is
        recorded: what S3 told backfill may predate that event, so its row must be left alone."""
        client = SimulatedS3Client(self._bucket, during_read=self._meanwhile(name, change, size))
        self._backfill(method, "", 1000, False, client)

    @rule(
        fix=st.booleans(),
        dry_run=st.booleans(),
        prefix=st.sampled_from(SCOPES),
        page_size=st.sampled_from([1, 2, 1000]),
    )
    def run_check(self, fix: bool, dry_run: bool, prefix: str, page_size: int) -> None:
        """`size-recorder check [--fix]`: drift reported by kind; sizes that differ repaired."""
        self._check(fix, dry_run, prefix, page_size, SimulatedS3Client(self._bucket))

    @rule(name=st.sampled_from(NAMES), change=CHANGES, size=SIZES)
    def check_fix_while_an_event_lands(self, name: str, change: str, size: str) -> None:
        """check --fix lists the bucket; meanwhile an object changes and its event is recorded.
        The fix must leave that row alone: what it listed is older (issue 13, defect 2)."""
        client = SimulatedS3Client(self._bucket, during_read=self._meanwhile(name, change, size))
        self._check(True, False, "", 1000, client)

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def rows_hold_only_sizes_their_own_key_held(self) -> None:
        """The issue's invariant, from the bucket alone: never another key's size, never a
        blank row's."""
        if self.bucket is None:
            return
        self.env.stats["steps"] += 1
        for row_id, (name, size, _) in self.env.table_rows().items():
            if size is None:
                continue
            assert name, f"blank row {row_id} holds size {size}"
            assert size in self.bucket.held.get(PREFIX + name, ()), (
                f"row {row_id} ({name!r}) holds {size}, a size its key never held"
            )

    @invariant()
    def rows_are_what_the_model_says(self) -> None:
        if self.bucket is None:
            return
        table = self.env.table_rows()
        actual = {i: (name, size, _ordered(seq)) for i, (name, size, seq) in table.items()}
        expected = {i: (r.name, r.size, _ordered(r.sequencer)) for i, r in self.rows.items()}
        assert actual == expected, _differences(actual, expected)

    def teardown(self) -> None:
        # Teardown also runs after a failed step: drain only after a clean run, so that the
        # first failure is the one reported.
        if self.bucket is not None and sys.exc_info()[0] is None:
            self._drain_and_check()

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def _bucket(self) -> SimulatedBucket:
        assert self.bucket is not None
        return self.bucket

    def _send(self, body: str, event: S3Event | None) -> QueuedMessage:
        self.carried[body] = event
        return self.queues.send(body)

    def _emit(self, event: S3Event | None) -> QueuedMessage | None:
        if event is None:
            return None
        return self._send(event.body(BUCKET), event)

    def _deliver_visible(self, picks: Iterable[int], fault: str | None) -> None:
        """A batch of visible messages chosen by index; delayed ones count one batch down."""
        visible = [m for m in self.queues.source if not m.delayed]
        for message in self.queues.source:
            message.delayed = max(0, message.delayed - 1)
        if visible:
            chosen = dict.fromkeys(p % len(visible) for p in picks)
            self._deliver([visible[i] for i in chosen], fault)

    def _deliver(self, messages: list[QueuedMessage | None], fault: str | None) -> None:
        """Receive the messages (some may move to the DLQ instead) and record them as one batch."""
        received = [m for m in messages if m is not None and self.queues.receive(m)]
        self.env.stats["moved to the DLQ"] += sum(m is not None for m in messages) - len(received)
        if not received:
            return
        self.store.fail = fault if fault in ("before", "after") else None
        batch = self.recorder.record(
            [Message(m.message_id, m.body, m.receive_count) for m in received],
            remaining_ms=(lambda: TOO_LITTLE_TIME_MS) if fault == "no time" else None,
        )
        self.store.fail = None  # a batch with nothing to write never reached the store
        self.env.stats["batches"] += 1
        self.env.stats["messages delivered"] += len(received)
        results = {result.message_id: result for result in batch.messages}
        written: list[S3Event] = []
        for message in received:
            result = results[message.message_id]
            allowed, event = self._expected(message.body, fault)
            assert result.acknowledged in allowed, (
                f"{self._describe(message.body)} was {'' if result.acknowledged else 'not '}"
                f"acknowledged ({result.records}); fault={fault}"
            )
            if event is not None:
                written.append(event)
            if result.acknowledged:
                self.queues.source.remove(message)
        if fault in (None, "after"):
            self._apply(written)

    def _expected(self, body: str, fault: str | None) -> tuple[set[bool], S3Event | None]:
        """Whether the message may be acknowledged, and the event it writes (if any)."""
        if body in self.hostile:
            return {False}, None
        event = self.carried[body]
        if event is None:  # the s3:TestEvent
            return {True}, None
        name = name_of(event.key)
        if name is None:
            return {True}, None
        if not names_a_row(name):
            return {True}, None  # a folder marker names no row: skipped
        if not (event.created or self.sequenced):
            return {True}, None  # no order against creates without a sequencer: skipped
        if fault is not None:
            return {False}, event
        if any(row.name == name for row in self.rows.values()):
            return {True}, event
        # A create waits for its row; a removal with no row has nothing to forget. Either way
        # the write reaches the ledger.
        return {not event.created}, event

    def _apply(self, events: list[S3Event], prefix: str = PREFIX) -> None:
        """The intended write of one committed batch, recorded with `prefix`: per name its
        newest event; the ledger keeps each key's newest; per row, that event if it is newer
        than the row's and no newer one of its key reached the ledger before (sequenced), or
        whatever the batch brings (not)."""
        newest: dict[str, S3Event] = {}
        for event in events:
            assert event.key.startswith(prefix)
            name = event.key[len(prefix) :]
            held = newest.get(name)
            if newer(event.sequencer, None if held is None else held.sequencer):
                newest[name] = event
        if self.sequenced:
            for name, winner in list(newest.items()):
                seen = self.ledger.get(winner.key)
                if newer(winner.sequencer, seen):
                    self.ledger[winner.key] = winner.sequencer
                elif seen is not None and newer(seen, winner.sequencer):
                    del newest[name]  # stale: a newer event of the key was written before
        for row in self.rows.values():
            winner = newest.get(row.name)
            if winner is None:
                continue
            if not self.sequenced:
                row.size = winner.size
            elif newer(winner.sequencer, row.sequencer):
                if winner.number in row.missed:
                    self.env.stats["older events reaching a renamed or new row"] += 1
                row.size, row.sequencer = winner.size, winner.sequencer

    def _replay_direct(self, prefix: str) -> None:
        """`replay --mode direct` with the operator's prefix; only the function's records."""
        recorder = _BatchLog(self.env.recorder(prefix, sequenced=self.sequenced)[0])
        before = {m.message_id: m.body for m in self.queues.dlq}
        replay_dlq(
            client=SimulatedSqsClient(self.queues),
            dlq_url=DLQ_URL,
            mode="direct",
            recorder=recorder,  # type: ignore[arg-type]
            wait_seconds=0,
        )
        self.env.stats["replays"] += 1
        assert not any(m.in_flight for m in self.queues.dlq), "replay left messages hidden"
        kept = {m.message_id for m in self.queues.dlq}
        deleted = [body for message_id, body in before.items() if message_id not in kept]
        for batch in recorder.batches:  # one write per batch: without order, the last wins
            # Every record routed to a name is written (and reaches the ledger), whether its
            # message is then deleted or kept: a create under another prefix names no row.
            self._apply(
                [
                    e
                    for b in batch
                    if (e := self.carried[b])
                    and e.key.startswith(prefix)
                    and names_a_row(e.key[len(prefix) :])
                    and (e.created or self.sequenced)
                ],
                prefix,
            )
        table = self.env.table_rows().values()
        for body in deleted:
            assert self._needed_none(body) or self._in_postgres(body, table), (
                f"replay (prefix {prefix!r}) deleted {self._describe(body)} from the DLQ,"
                " but its size is not in Postgres"
            )

    def _needed_none(self, body: str) -> bool:
        if body in self.hostile:
            return False
        event = self.carried[body]
        if event is None or not names_a_row(name_of(event.key)):
            return True  # a test event, a folder marker, a key outside the function's prefix
        if self.sequenced and newer(self.ledger.get(event.key, event.sequencer), event.sequencer):
            return True  # stale: a newer event of its key was written
        # A removal with no row to forget
        return not event.created and not any(
            r.name == name_of(event.key) for r in self.rows.values()
        )

    def _in_postgres(self, body: str, table: Iterable[tuple[str, int | None, str | None]]) -> bool:
        event = self.carried[body]
        assert event is not None
        name = name_of(event.key)
        return any(
            row_name == name
            and (not self.sequenced or (seq is not None and not newer(event.sequencer, seq)))
            for row_name, _, seq in table
        )

    def _drain_and_check(self, batch_size: int = BATCH_LIMIT) -> None:
        self.env.stats["drains"] += 1
        for message in self.queues.source:
            message.delayed = 0
        while self.queues.source:
            self._deliver(list(self.queues.source[:batch_size]), None)
        if self.queues.dlq:
            self._replay_direct(PREFIX)
        for message in self.queues.dlq:
            event = self.carried[message.body]
            assert message.body in self.hostile or (
                event is not None
                and not any(r.name == name_of(event.key) for r in self.rows.values())
            ), f"a replay with the function's settings left {self._describe(message.body)}"
        for row_id, (name, size, seq) in self.env.table_rows().items():
            if name:
                self._check_final_size(row_id, name, size, seq)

    def _check_final_size(self, row_id: int, name: str, size: int | None, seq: str | None) -> None:
        """Everything delivered: the current size, or NULL where the model says unknown."""
        key = PREFIX + name
        current = self._bucket.current_size(key)
        if size == current:
            return
        row = self.rows[row_id]
        events = [e for e in self._bucket.events if e.key == key]
        newest = max(events, key=lambda e: order(e.sequencer), default=None)
        if size is None:
            assert not (
                newest is not None and newest.created and newest.number not in row.missed
            ), (
                f"row {row_id} ({name!r}) is NULL, but the event of the current version"
                f" ({newest}) was queued while the row held this name"
            )
            return
        if not self.sequenced:
            return  # without order the last write wins: any size its key held (invariant 1)
        raise AssertionError(
            f"row {row_id} ({name!r}) holds {size} (sequencer {seq}); the object's current size"
            f" is {current}; newest event {newest}; missed {sorted(row.missed)}"
        )

    def _meanwhile(self, name: str, change: str, size: str) -> Callable[[], None]:
        """An S3 change to `name`'s object and the delivery of its event, to run mid-read."""

        def land() -> None:
            bucket, key = self._bucket, PREFIX + name
            event: S3Event | None
            if change == "upload":
                event = bucket.put(key, bucket.fresh_size(size))
            elif change == "delete":
                event = bucket.delete(key)
            else:
                event = bucket.delete_version(key, -1)  # the current one: the one below returns
            self._deliver([self._emit(event)], None)

        return land

    def _backfill(
        self, method: str, prefix: str, page_size: int, dry_run: bool, client: SimulatedS3Client
    ) -> None:
        """Run backfill. It fills the NULL rows whose object S3 showed it, with that size
        (`list`: only rows whose sequencer is NULL too: after a delete the listing may predate
        it), and leaves alone a row that an event changed while S3 was being asked: what S3 said
        may predate that event. `head` may then read such a row again (keyset pages: its new
        sequencer sorts after the page read) and fill it from a HEAD sent after the change."""
        before = {row_id: (r.size, r.sequencer) for row_id, r in self.rows.items()}
        result = backfill(
            settings=self.recorder.settings,
            rows=self.env.rows(sequenced=self.sequenced),
            client=client,
            bucket=BUCKET,
            prefix=prefix,
            method=method,
            dry_run=dry_run,
            page_size=page_size,
        )
        self.env.stats["backfills"] += 1
        table = self.env.table_rows()
        fills = []
        for row_id, row in self._in_scope(prefix):
            size = client.seen.get(PREFIX + row.name)
            if row.size is not None or size is None:
                continue
            if before[row_id] != (row.size, row.sequencer):  # changed while S3 was asked
                if method == "head" and table[row_id][1] in (size, None):
                    self.env.stats["rows read again by backfill head"] += 1
                    if table[row_id][1] == size:
                        fills.append((row, size))
            elif method == "head" or row.sequencer is None:
                fills.append((row, size))
        assert result.filled == len(fills), (result, fills)
        if not dry_run:
            self.env.stats["rows filled by backfill"] += len(fills)
            for row, size in fills:
                row.size = size

    def _check(
        self, fix: bool, dry_run: bool, prefix: str, page_size: int, client: SimulatedS3Client
    ) -> None:
        """Run check: drift is the rows as read (before the listing) against the listing; a fix
        sets the listed size only on rows that differed and still hold what was read."""
        read = {row_id: (r.size, r.sequencer) for row_id, r in self._in_scope(prefix)}
        result = check(
            settings=self.recorder.settings,
            rows=self.env.rows(sequenced=self.sequenced),
            client=client,
            bucket=BUCKET,
            prefix=prefix,
            fix=fix,
            dry_run=dry_run,
            page_size=page_size,
        )
        self.env.stats["checks"] += 1
        listed = client.seen
        kinds: dict[str, list[int]] = {"differs": [], "gone": [], "still null": []}
        for row_id, (size, _) in read.items():
            actual = listed.get(PREFIX + self.rows[row_id].name)
            if actual is None:
                kinds["gone"].append(row_id)
            elif size is None:
                kinds["still null"].append(row_id)
            elif size != actual:
                kinds["differs"].append(row_id)
        fixes = [
            row_id
            for row_id in kinds["differs"]
            if self._holds(self.rows[row_id].name) == self._holds(self.rows[row_id].name, read)
        ]
        assert {k: result.counts[k] for k in kinds} == {k: len(v) for k, v in kinds.items()}
        assert result.fixed == (len(fixes) if fix else 0), (result, fixes)
        if fix and not dry_run:
            self.env.stats["rows fixed by check"] += len(fixes)
            for row_id in fixes:
                row = self.rows[row_id]
                row.size = listed[PREFIX + row.name]

    def _holds(
        self, name: str, read: dict[int, tuple[int | None, str | None]] | None = None
    ) -> list[tuple[int | None, str | None]]:
        """What the rows holding `name` hold now (or as `read`), as a multiset: a fix needs all
        of them unchanged, since one row changed by an event can look like another as read."""
        held = [
            read[row_id] if read is not None else (row.size, row.sequencer)
            for row_id, row in self.rows.items()
            if row.name == name
        ]
        return sorted(held, key=repr)

    def _insert(self, name: str, size: int | None) -> None:
        row_id = self.env.app.execute(
            f"INSERT INTO {self.env.qualified} (file, size_bytes) VALUES (%s, %s) RETURNING id",
            (name, size),
        ).fetchone()[0]  # type: ignore[index]
        self.rows[row_id] = ModelRow(name, size, missed=self._missed(name))

    def _missed(self, name: str) -> frozenset[int]:
        queued = {m.body for m in (*self.queues.source, *self.queues.dlq)}
        return frozenset(
            e.number
            for e in self._bucket.events
            if e.key == PREFIX + name and e.body(BUCKET) not in queued
        )

    def _sql(self, statement: str, *params: object) -> None:
        self.env.app.execute(statement, params)

    def _named_rows(self) -> list[tuple[int, ModelRow]]:
        return [(row_id, row) for row_id, row in self.rows.items() if row.name]

    def _in_scope(self, prefix: str) -> list[tuple[int, ModelRow]]:
        """Named rows whose keys are under `prefix` (the scope backfill and check walk)."""
        return [
            (row_id, row)
            for row_id, row in self._named_rows()
            if (PREFIX + row.name).startswith(prefix)
        ]

    @staticmethod
    def _pick(items: list[tuple[int, ModelRow]], pick: int) -> tuple[int, ModelRow]:
        return items[pick % len(items)]

    def _describe(self, body: str) -> str:
        if body in self.hostile:
            return "a record with a sequencer longer than the column"
        event = self.carried[body]
        return "the s3:TestEvent" if event is None else repr(event)


class _BatchLog:
    """The recorder `replay_dlq` drives, noting the bodies of each batch it records."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.batches: list[list[str]] = []

    @property
    def settings(self) -> Settings:
        return self.recorder.settings

    def record(self, messages: Sequence[Message], **kwargs: Any) -> BatchResult:
        self.batches.append([m.body for m in messages])
        return self.recorder.record(messages, **kwargs)


def _ordered(sequencer: str | None) -> str | None:
    return None if sequencer is None else order(sequencer)


def _differences(
    actual: dict[int, tuple[str, int | None, str | None]],
    expected: dict[int, tuple[str, int | None, str | None]],
) -> str:
    lines = [
        f"row {i}: table {actual.get(i)}, model {expected.get(i)}"
        for i in sorted(set(actual) | set(expected))
        if actual.get(i) != expected.get(i)
    ]
    return "rows differ from the model (name, size, padded sequencer):\n" + "\n".join(lines)


class UnorderedLifecycleModel(LifecycleModel):
    sequenced = False


# The deep run takes hours: the suite's per-test timeout would cut it short.
NO_TIMEOUT_WHEN_DEEP = pytest.mark.timeout(0 if profile_name() == "deep" else None)


@pytest.mark.slow
@NO_TIMEOUT_WHEN_DEEP
def test_every_row_holds_its_objects_current_size_through_any_lifecycle(
    model_env: ModelEnv,
) -> None:
    run(LifecycleModel, model_env)


@pytest.mark.slow
@NO_TIMEOUT_WHEN_DEEP
def test_without_a_sequencer_column_rows_hold_the_last_size_written_and_skip_removals(
    model_env: ModelEnv,
) -> None:
    run(UnorderedLifecycleModel, model_env)


def run(machine: type[LifecycleModel], env: ModelEnv) -> None:
    profile = model_settings()
    started = time.monotonic()
    run_state_machine_as_test(lambda: machine(env), settings=profile)
    stats = env.stats
    examples = stats.pop("examples")
    steps = stats.pop("steps")
    print(
        f"\n{machine.__name__} ({profile_name()}): {examples} examples, {steps} steps"
        f" ({steps / max(examples, 1):.1f} per example, at most {profile.stateful_step_count}),"
        f" {time.monotonic() - started:.1f} s; "
        + ", ".join(f"{count} {what}" for what, count in sorted(stats.items()))
        + f"; pending defects stepped around: {', '.join(sorted(PENDING)) or 'none'}"
    )
