"""The core's decisions, against an in-memory store: what is written, and what each record and
message comes to (recorded, stale, unmatched, failed)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from size_recorder import constants as c
from size_recorder.core.config import Settings, Target
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder, SizeWrite, StoreError, WriteStatus
from tests.support.events import load_event, s3_body, s3_record
from tests.unit.fake_store import InMemorySizeStore

DOCUMENTS = Target(
    table=("documents_document",), sequencer_column="size_sequencer", prefix="media/"
)
UNSEQUENCED = Target(table=("documents_document",), prefix="media/")

OLDER, NEWER = "0055AED6DCD90281E5", "0055AED6DCD90282"  # NEWER is shorter: right-padded, later


def recorder_on(store: InMemorySizeStore, target: Target = DOCUMENTS) -> Recorder:
    return Recorder(Settings(targets=(target,), database_url="postgresql://unused"), store)


def messages(*bodies: str) -> list[Message]:
    return [Message(f"m{i}", body) for i, body in enumerate(bodies)]


def outcomes(recorder: Recorder, *bodies: str) -> list[list[Outcome]]:
    batch = recorder.record(messages(*bodies))
    return [[r.outcome for r in m.records] for m in batch.messages]


def test_duplicates_in_one_batch_are_written_once_with_the_newest_sequencer() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf")
    batch = recorder_on(store).record(
        messages(s3_body("media/a.pdf", 20, NEWER), s3_body("media/a.pdf", 10, OLDER))
    )
    assert [m.records[0].outcome for m in batch.messages] == [Outcome.RECORDED, Outcome.STALE]
    assert batch.messages[1].records[0].reason == "superseded by a newer event in the same batch"
    assert store.sizes(DOCUMENTS) == {"a.pdf": 20}
    assert len(store.timeouts_ms) == 1


def test_duplicates_without_sequencers_leave_the_later_one_in_the_row() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf")
    recorder = recorder_on(store)
    assert outcomes(recorder, s3_body("media/a.pdf", 10), s3_body("media/a.pdf", 20)) == [
        [Outcome.RECORDED],
        [Outcome.RECORDED],
    ]
    assert store.sizes(DOCUMENTS) == {"a.pdf": 20}


def test_an_event_older_than_the_rows_sequencer_is_stale_and_acknowledged() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf", size=20, sequencer=NEWER)
    batch = recorder_on(store).record(messages(s3_body("media/a.pdf", 10, OLDER)))
    (record,) = batch.messages[0].records
    assert (record.outcome, record.reason) == (
        Outcome.STALE,
        "row already holds this or a newer event",
    )
    assert batch.failed == ()
    assert store.sizes(DOCUMENTS) == {"a.pdf": 20}


def test_an_event_without_a_sequencer_never_replaces_a_sequenced_row() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf", size=20, sequencer=OLDER)
    batch = recorder_on(store).record(messages(s3_body("media/a.pdf", 10)))
    (record,) = batch.messages[0].records
    assert (record.outcome, record.reason) == (
        Outcome.STALE,
        "row holds an event with a sequencer",
    )
    assert store.sizes(DOCUMENTS) == {"a.pdf": 20}


def test_a_newer_event_replaces_the_size_even_with_a_shorter_sequencer() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "uploads/red flower.jpg", size=1024, sequencer=OLDER)
    recorder = recorder_on(store)
    assert outcomes(recorder, load_event("s3_put_newer_shorter_sequencer.json")) == [
        [Outcome.RECORDED]
    ]
    assert store.rows[DOCUMENTS]["uploads/red flower.jpg"].sequencer == NEWER
    assert store.sizes(DOCUMENTS) == {"uploads/red flower.jpg": 4096}


def test_without_a_sequencer_column_every_event_overwrites_the_row() -> None:
    store = InMemorySizeStore()
    store.insert(UNSEQUENCED, "a.pdf", size=20)
    recorder = recorder_on(store, UNSEQUENCED)
    assert outcomes(recorder, s3_body("media/a.pdf", 10, OLDER)) == [[Outcome.RECORDED]]
    assert store.sizes(UNSEQUENCED) == {"a.pdf": 10}


def test_a_key_with_no_row_is_unmatched_and_retried_soon() -> None:
    store = InMemorySizeStore()
    recorder = recorder_on(store)
    batch = recorder.record([Message("m0", s3_body("media/a.pdf", 10), receive_count=3)])
    (failed,) = batch.failed
    assert failed.records[0].outcome is Outcome.UNMATCHED
    assert failed.reason() == ("unmatched: no row with file = 'a.pdf' in documents_document")
    assert recorder.retry_delays(batch) == {"m0": 8}  # 2 s doubled per receive after the first


def test_no_time_left_fails_every_record_without_writing() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf", "b.pdf")
    batch = recorder_on(store).record(
        messages(s3_body("media/a.pdf", 10), s3_body("media/b.pdf", 20)),
        remaining_ms=lambda: 1_500,
    )
    assert [m.reason() for m in batch.failed] == ["failed: no time left to write"] * 2
    assert store.timeouts_ms == []
    assert store.sizes(DOCUMENTS) == {"a.pdf": None, "b.pdf": None}


def test_the_write_gets_the_time_left_less_a_margin_when_that_is_shorter() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf")
    recorder_on(store).record(messages(s3_body("media/a.pdf", 10)), remaining_ms=lambda: 3_000)
    assert store.timeouts_ms == [2_000]


def test_a_store_error_fails_every_record_that_needed_a_write() -> None:
    store = InMemorySizeStore(error=StoreError("connection refused"))
    store.insert(DOCUMENTS, "a.pdf", "b.pdf")
    batch = recorder_on(store).record(
        messages(
            s3_body("media/a.pdf", 10),
            s3_body("media/b.pdf", 20),
            load_event("s3_test_event.json"),
        )
    )
    assert [m.message_id for m in batch.failed] == ["m0", "m1"]
    assert {m.reason() for m in batch.failed} == {"failed: database error: connection refused"}
    assert [m.message_id for m in batch.acknowledged] == ["m2"]  # nothing to write: skipped
    assert store.sizes(DOCUMENTS) == {"a.pdf": None, "b.pdf": None}


def test_a_message_is_acknowledged_only_when_every_record_in_it_is() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf", "b.pdf", "c.pdf")
    both_rows = json.dumps(
        {"Records": [s3_record("media/a.pdf", 1, OLDER), s3_record("media/b.pdf", 2, OLDER)]}
    )
    one_row = json.dumps(
        {"Records": [s3_record("media/c.pdf", 3, OLDER), s3_record("media/gone.pdf", 4, OLDER)]}
    )
    batch = recorder_on(store).record(messages(both_rows, one_row))
    assert [m.message_id for m in batch.acknowledged] == ["m0"]
    (failed,) = batch.failed
    assert [r.outcome for r in failed.records] == [Outcome.RECORDED, Outcome.UNMATCHED]
    assert store.sizes(DOCUMENTS) == {"a.pdf": 1, "b.pdf": 2, "c.pdf": 3}


def test_an_unreadable_body_fails_its_own_message_only() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf")
    batch = recorder_on(store).record(messages("{broken", s3_body("media/a.pdf", 10)))
    (failed,) = batch.failed
    assert failed.message_id == "m0"
    assert failed.reason().startswith("invalid: body is not JSON")
    assert store.sizes(DOCUMENTS) == {"a.pdf": 10}


@pytest.mark.parametrize(
    "body",
    [s3_body("elsewhere/a.pdf", 10), s3_body("media/", 0), s3_body("media/scans/", 0)],
    ids=["outside every prefix", "a folder marker at the prefix", "a folder marker below it"],
)
def test_records_with_nothing_to_write_are_skipped_without_a_write(body: str) -> None:
    store = InMemorySizeStore()
    batch = recorder_on(store).record(messages(body))
    assert [r.outcome for r in batch.messages[0].records] == [Outcome.SKIPPED]
    assert batch.failed == ()
    assert store.timeouts_ms == []


def test_a_folder_marker_at_the_prefix_leaves_every_blank_row_alone() -> None:
    """The S3 console's "Create folder" PUTs `media/`: its name is "", what a blank FileField
    holds, and writing it would set every such row's size to 0."""
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "", "a.pdf")
    batch = recorder_on(store).record(messages(s3_body("media/", 0)))
    (record,) = batch.messages[0].records
    assert record.outcome is Outcome.SKIPPED
    assert record.reason is not None
    assert record.reason.startswith("folder marker")
    assert store.sizes(DOCUMENTS) == {"": None, "a.pdf": None}


def test_a_deletion_sets_the_size_to_unknown_and_keeps_its_sequencer() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf", size=10, sequencer=OLDER)
    batch = recorder_on(store).record(messages(removal_body("media/a.pdf", NEWER)))
    assert [r.outcome for r in batch.messages[0].records] == [Outcome.RECORDED]
    assert store.rows[DOCUMENTS]["a.pdf"].size is None
    assert store.rows[DOCUMENTS]["a.pdf"].sequencer == NEWER


def test_a_create_older_than_a_recorded_deletion_is_stale() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf")
    recorder = recorder_on(store)
    recorder.record(messages(removal_body("media/a.pdf", NEWER)))
    assert outcomes(recorder, s3_body("media/a.pdf", 10, OLDER)) == [[Outcome.STALE]]
    assert store.sizes(DOCUMENTS) == {"a.pdf": None}


def test_a_deletion_older_than_the_recorded_create_changes_nothing() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf", size=10, sequencer=NEWER)
    assert outcomes(recorder_on(store), removal_body("media/a.pdf", OLDER)) == [[Outcome.STALE]]
    assert store.sizes(DOCUMENTS) == {"a.pdf": 10}


def test_a_deletion_and_a_newer_create_in_one_batch_leave_the_new_size() -> None:
    store = InMemorySizeStore()
    store.insert(DOCUMENTS, "a.pdf")
    result = outcomes(
        recorder_on(store), s3_body("media/a.pdf", 7, NEWER), removal_body("media/a.pdf", OLDER)
    )
    assert result == [[Outcome.RECORDED], [Outcome.STALE]]
    assert store.sizes(DOCUMENTS) == {"a.pdf": 7}


def test_without_a_sequencer_column_a_deletion_is_skipped_naming_the_variable() -> None:
    store = InMemorySizeStore()
    store.insert(UNSEQUENCED, "a.pdf", size=10)
    batch = recorder_on(store, UNSEQUENCED).record(messages(removal_body("media/a.pdf", NEWER)))
    (record,) = batch.messages[0].records
    assert record.outcome is Outcome.SKIPPED
    assert record.reason is not None
    assert c.ENV_SEQUENCER_COLUMN in record.reason
    assert store.sizes(UNSEQUENCED) == {"a.pdf": 10}
    assert store.timeouts_ms == []


def test_a_sequencer_longer_than_its_column_fails_alone_and_the_batch_is_written() -> None:
    store = InMemorySizeStore(widths={DOCUMENTS: 20})
    store.insert(DOCUMENTS, "a.pdf", "b.pdf")
    batch = recorder_on(store).record(
        messages(s3_body("media/a.pdf", 1, "A" * 21), s3_body("media/b.pdf", 2, NEWER))
    )
    assert [m.message_id for m in batch.acknowledged] == ["m1"]
    (failed,) = batch.failed
    assert failed.reason() == (
        "invalid: sequencer has 21 characters; documents_document.size_sequencer holds at most 20"
    )
    assert store.sizes(DOCUMENTS) == {"a.pdf": None, "b.pdf": 2}


def test_a_deletion_of_a_key_no_row_holds_is_acknowledged_not_retried() -> None:
    store = InMemorySizeStore()
    assert outcomes(recorder_on(store), removal_body("media/gone.pdf", NEWER)) == [
        [Outcome.SKIPPED]
    ]


def removal_body(key: str, sequencer: str, event_name: str = "ObjectRemoved:Delete") -> str:
    record = s3_record(key, 0, sequencer)
    record["eventName"] = event_name
    del record["s3"]["object"]["size"]  # type: ignore[index]
    return json.dumps({"Records": [record]})


class LedgerRefusingStore(InMemorySizeStore):
    """Answers every key as the Postgres store does when its row would take the event but the
    sequencer ledger holds a newer one (SUPERSEDED), writing nothing."""

    def write(
        self, writes: Mapping[Target, Sequence[SizeWrite]], *, timeout_ms: int
    ) -> dict[Target, dict[str, WriteStatus]]:
        self.timeouts_ms.append(timeout_ms)
        return {t: {w.name: WriteStatus.SUPERSEDED for w in ws} for t, ws in writes.items()}


def test_an_event_the_ledger_refused_is_stale_with_the_ledgers_reason_and_acknowledged() -> None:
    store = LedgerRefusingStore()
    store.insert(DOCUMENTS, "a.pdf")

    batch = recorder_on(store).record(messages(s3_body("media/a.pdf", 10, OLDER)))

    (record,) = batch.messages[0].records
    assert (record.outcome, record.by_ledger) == (Outcome.STALE, True)
    assert record.reason is not None
    assert record.reason.startswith("the sequencer ledger holds a newer event for this key")
    assert batch.failed == ()
    assert (batch.counts()[Outcome.STALE], batch.stale_by_ledger()) == (1, 1)


def test_an_older_event_in_the_batch_keeps_the_batchs_reason_when_the_ledger_refused() -> None:
    store = LedgerRefusingStore()
    store.insert(DOCUMENTS, "a.pdf")

    batch = recorder_on(store).record(
        messages(s3_body("media/a.pdf", 20, NEWER), s3_body("media/a.pdf", 10, OLDER))
    )

    newest, older = (m.records[0] for m in batch.messages)
    assert newest.by_ledger
    assert (older.reason, older.by_ledger) == (
        "superseded by a newer event in the same batch",
        False,
    )
