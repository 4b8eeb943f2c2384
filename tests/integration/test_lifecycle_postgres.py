"""The object lifecycle against a real Postgres: folder markers, deletions and versions, and a
sequencer its column cannot hold (issue 13's defects 1 and 5, and the delete behaviour)."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder
from tests.support.events import load_event, s3_body, s3_record
from tests.support.postgres import DocumentsTable, recorder_env

MakeRecorder = Callable[[dict[str, str]], Recorder]
OLDER, NEWER = "0055AED6DCD90281E5", "0055AED6DCD90282"


def messages(*bodies: str) -> list[Message]:
    return [Message(f"m{i}", body) for i, body in enumerate(bodies)]


def removal(key: str, sequencer: str | None, event_name: str = "ObjectRemoved:Delete") -> str:
    record = s3_record(key, 0, sequencer)
    record["eventName"] = event_name
    del record["s3"]["object"]["size"]  # type: ignore[index]
    return json.dumps({"Records": [record]})


@pytest.fixture
def sequenced(documents: DocumentsTable, make_recorder: MakeRecorder) -> Recorder:
    return make_recorder(recorder_env(documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"})


def test_console_create_folder_leaves_rows_with_a_blank_file_unsized(
    documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """The S3 console's "Create folder" PUTs a zero-byte `media/`: its name is "", which every
    optional FileField left blank holds."""
    recorder = make_recorder(recorder_env(documents))
    documents.insert("", "")
    documents.insert("uploads/a.pdf")
    batch = recorder.record(messages(s3_body("media/", 0), s3_body("media/uploads/", 0)))
    assert [r.outcome for m in batch.messages for r in m.records] == [Outcome.SKIPPED] * 2
    assert batch.failed == ()
    with psycopg.connect(documents.url) as conn:
        sizes = conn.execute(f"SELECT size_bytes FROM {documents.qualified}").fetchall()
    assert sizes == [(None,), (None,), (None,)]


def test_deleting_an_object_leaves_its_row_unknown_until_a_newer_upload(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("uploads/red flower.jpg", size=1024, sequencer="0055AED6DCD90281E0")
    batch = sequenced.record(messages(load_event("s3_delete.json")))  # sequencer ...81E5
    assert batch.failed == ()
    assert documents.row("uploads/red flower.jpg") == (None, OLDER)
    sequenced.record(messages(load_event("s3_put_newer_shorter_sequencer.json")))
    assert documents.row("uploads/red flower.jpg") == (4096, NEWER)


def test_delete_marker_on_a_versioned_bucket_leaves_the_row_unknown(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("k.bin", size=10, sequencer=OLDER)
    body = removal("media/k.bin", NEWER, "ObjectRemoved:DeleteMarkerCreated")
    assert sequenced.record(messages(body)).failed == ()
    assert documents.row("k.bin") == (None, NEWER)


def test_an_upload_delivered_after_its_deletion_is_stale(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("k.bin")
    sequenced.record(messages(removal("media/k.bin", NEWER)))
    batch = sequenced.record(messages(s3_body("media/k.bin", 10, OLDER)))
    assert [r.outcome for r in batch.messages[0].records] == [Outcome.STALE]
    assert documents.row("k.bin") == (None, NEWER)


def test_deleting_a_file_whose_row_the_app_already_deleted_is_acknowledged(
    sequenced: Recorder,
) -> None:
    batch = sequenced.record(messages(removal("media/gone.bin", NEWER)))
    assert batch.failed == ()
    assert [r.outcome for r in batch.messages[0].records] == [Outcome.SKIPPED]


def test_without_a_sequencer_column_a_deletion_keeps_the_size(
    documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(recorder_env(documents))
    documents.insert("k.bin", size=10)
    batch = recorder.record(messages(removal("media/k.bin", NEWER)))
    assert batch.failed == ()
    assert documents.sizes() == {"k.bin": 10}


def test_one_long_sequencer_in_a_batch_fails_alone_and_the_rest_is_written(
    documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """`varchar(64)`, as docs/django.md declares the sequencer column: before, a longer hex
    string failed the batch's single statement and took every good message with it."""
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {documents.qualified} ALTER size_sequencer TYPE varchar(64)")
    recorder = make_recorder(recorder_env(documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"})
    documents.insert("a.bin", "b.bin", "c.bin")
    batch = recorder.record(
        messages(
            s3_body("media/a.bin", 1, OLDER),
            s3_body("media/b.bin", 2, "F" * 65),
            s3_body("media/c.bin", 3, NEWER),
        )
    )
    assert [m.message_id for m in batch.failed] == ["m1"]
    assert batch.failed[0].reason() == (
        f"invalid: sequencer has 65 characters; {documents.qualified}.size_sequencer"
        " holds at most 64"
    )
    assert documents.sizes() == {"a.bin": 1, "b.bin": None, "c.bin": 3}
