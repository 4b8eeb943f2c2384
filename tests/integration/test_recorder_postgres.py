"""The core against a real Postgres: every outcome, ordering, batching and database failures."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.adapters.wiring import postgres_store
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder
from tests.support.events import load_event, s3_body
from tests.support.postgres import DocumentsTable, recorder_env

MakeRecorder = Callable[[dict[str, str]], Recorder]


def messages(*bodies: str) -> list[Message]:
    return [Message(f"m{i}", body) for i, body in enumerate(bodies)]


@pytest.fixture
def env(documents: DocumentsTable) -> dict[str, str]:
    return recorder_env(documents)


@pytest.fixture
def recorder(env: dict[str, str], make_recorder: MakeRecorder) -> Recorder:
    return make_recorder(env)


@pytest.fixture
def sequenced(env: dict[str, str], make_recorder: MakeRecorder) -> Recorder:
    return make_recorder({**env, c.ENV_SEQUENCER_COLUMN: "size_sequencer"})


def outcomes(recorder: Recorder, *bodies: str) -> list[Outcome]:
    batch = recorder.record(messages(*bodies))
    return [r.outcome for m in batch.messages for r in m.records]


def test_record_writes_the_size_into_the_matching_row(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("uploads/red flower.jpg")
    assert outcomes(recorder, load_event("s3_put.json")) == [Outcome.RECORDED]
    assert documents.sizes() == {"uploads/red flower.jpg": 1024}


def test_record_matches_keys_with_spaces_plus_percent_quotes_and_unicode(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    name = "uploads/café menu + prices% 'quoted'.pdf"
    documents.insert(name)
    assert outcomes(recorder, load_event("s3_put_odd_key.json")) == [Outcome.RECORDED]
    assert documents.sizes() == {name: 2048}


def test_record_updates_every_row_holding_the_key(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("shared.pdf", "shared.pdf")
    recorder.record(messages(s3_body("media/shared.pdf", 5)))
    with psycopg.connect(documents.url) as conn:
        sizes = conn.execute(f"SELECT size_bytes FROM {documents.qualified}").fetchall()
    assert sizes == [(5,), (5,)]


def test_record_reports_a_missing_row_as_unmatched_and_fails_the_message(
    recorder: Recorder,
) -> None:
    batch = recorder.record(messages(s3_body("media/not-yet.pdf", 3)))
    (message,) = batch.failed
    assert message.only_unmatched
    assert "no row with file = 'not-yet.pdf'" in message.reason()


def test_retry_delays_cover_only_unmatched_messages(recorder: Recorder) -> None:
    batch = recorder.record(
        [Message("late", s3_body("media/late.pdf", 3), receive_count=3), Message("bad", "{")]
    )
    assert recorder.retry_delays(batch) == {"late": 8}


def test_record_skips_keys_outside_the_prefix_and_acknowledges_them(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("static/app.css")
    batch = recorder.record(messages(s3_body("static/app.css", 3)))
    assert batch.messages[0].acknowledged
    assert batch.messages[0].records[0].reason == "key is outside every configured prefix"
    assert documents.sizes() == {"static/app.css": None}


def test_record_acknowledges_the_s3_test_event(recorder: Recorder) -> None:
    assert outcomes(recorder, load_event("s3_test_event.json")) == [Outcome.SKIPPED]


def test_record_fails_exactly_the_bad_messages_of_a_mixed_batch(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("a.txt", "b.txt")
    batch = recorder.record(
        [
            Message("good-1", s3_body("media/a.txt", 1)),
            Message("not-json", "{nope"),
            Message("unknown-shape", '{"detail": {}}'),
            Message("no-size", s3_body("media/b.txt", None)),
            Message("good-2", s3_body("media/b.txt", 2)),
            Message("unmatched", s3_body("media/c.txt", 3)),
        ]
    )
    assert sorted(m.message_id for m in batch.failed) == [
        "no-size",
        "not-json",
        "unknown-shape",
        "unmatched",
    ]
    assert documents.sizes() == {"a.txt": 1, "b.txt": 2}


def test_record_twice_changes_nothing(recorder: Recorder, documents: DocumentsTable) -> None:
    documents.insert("uploads/red flower.jpg")
    body = load_event("s3_put.json")
    first = outcomes(recorder, body)
    second = outcomes(recorder, body)
    assert (first, second) == ([Outcome.RECORDED], [Outcome.RECORDED])
    assert documents.sizes() == {"uploads/red flower.jpg": 1024}


def test_record_accepts_a_float_size(recorder: Recorder, documents: DocumentsTable) -> None:
    documents.insert("f.bin")
    recorder.record(messages(s3_body("media/f.bin", 4096.0)))
    assert documents.sizes() == {"f.bin": 4096}


def test_record_keeps_the_newest_event_of_a_batch(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("k.bin")
    batch = sequenced.record(
        messages(
            s3_body("media/k.bin", 30, "0000000000000003"),
            s3_body("media/k.bin", 10, "0000000000000001"),
        )
    )
    assert [m.records[0].outcome for m in batch.messages] == [Outcome.RECORDED, Outcome.STALE]
    assert documents.row("k.bin") == (30, "0000000000000003")


def test_record_never_lets_an_older_event_overwrite_a_newer_one(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("uploads/red flower.jpg")
    sequenced.record(messages(load_event("s3_put.json")))
    assert outcomes(sequenced, load_event("s3_put_older.json")) == [Outcome.STALE]
    assert documents.row("uploads/red flower.jpg") == (1024, "0055AED6DCD90281E5")


def test_record_orders_sequencers_of_different_lengths_by_right_padding(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("uploads/red flower.jpg")
    sequenced.record(messages(load_event("s3_put.json")))
    assert outcomes(sequenced, load_event("s3_put_newer_shorter_sequencer.json")) == [
        Outcome.RECORDED
    ]
    assert documents.row("uploads/red flower.jpg") == (4096, "0055AED6DCD90282")


def test_record_reports_a_redelivered_duplicate_as_stale(
    sequenced: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("uploads/red flower.jpg")
    sequenced.record(messages(load_event("s3_put.json")))
    assert outcomes(sequenced, load_event("s3_put.json")) == [Outcome.STALE]


def test_record_fails_the_messages_a_database_error_touches(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE {documents.qualified} ADD CONSTRAINT small CHECK (size_bytes < 1000)"
        )
    documents.insert("huge.iso")
    batch = recorder.record(
        [
            Message("huge", s3_body("media/huge.iso", 2**40)),
            Message("test-event", load_event("s3_test_event.json")),
        ]
    )
    (failed,) = batch.failed
    assert failed.message_id == "huge"
    assert failed.records[0].outcome is Outcome.FAILED
    assert "violates check constraint" in failed.reason()


def test_record_reconnects_after_the_connection_is_killed(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("a.txt", "b.txt")
    recorder.record(messages(s3_body("media/a.txt", 1)))
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'size-recorder'"
        )
    assert outcomes(recorder, s3_body("media/b.txt", 2)) == [Outcome.RECORDED]


def test_record_gives_up_on_a_locked_row_after_the_statement_timeout(
    env: dict[str, str], make_recorder: MakeRecorder, documents: DocumentsTable
) -> None:
    documents.insert("locked.txt")
    recorder = make_recorder({**env, c.ENV_STATEMENT_TIMEOUT_MS: "300"})
    with psycopg.connect(documents.url) as blocker:
        blocker.execute(f"SELECT * FROM {documents.qualified} FOR UPDATE")
        batch = recorder.record(messages(s3_body("media/locked.txt", 1)))
    (failed,) = batch.failed
    assert failed.records[0].outcome is Outcome.FAILED
    assert "lock timeout" in failed.reason() or "statement timeout" in failed.reason()


def test_record_fails_the_batch_when_no_time_is_left(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    documents.insert("a.txt")
    batch = recorder.record(messages(s3_body("media/a.txt", 1)), remaining_ms=lambda: 1500)
    assert batch.failed[0].reason() == "failed: no time left to write"
    assert documents.sizes() == {"a.txt": None}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({c.ENV_TABLE: "public.no_such_table"}, "SIZE_RECORDER_TABLE: table"),
        ({c.ENV_KEY_COLUMN: "path"}, "SIZE_RECORDER_KEY_COLUMN: column 'path' does not"),
        (
            {c.ENV_SIZE_COLUMN: "file"},
            "SIZE_RECORDER_SIZE_COLUMN: .* is character varying",
        ),
        ({c.ENV_SEQUENCER_COLUMN: "seq"}, "SIZE_RECORDER_SEQUENCER_COLUMN: column 'seq'"),
    ],
)
def test_verify_names_the_variable_of_a_missing_table_or_column(
    env: dict[str, str], override: dict[str, str], message: str
) -> None:
    store = postgres_store(Settings.from_env({**env, **override}))
    with pytest.raises(ConfigError, match=message):
        store.verify()


def test_verify_refuses_an_integer_size_column_that_cannot_hold_2_gib(
    env: dict[str, str], documents: DocumentsTable
) -> None:
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {documents.qualified} ALTER size_bytes TYPE integer")
    store = postgres_store(Settings.from_env(env))
    with pytest.raises(
        ConfigError, match=r"SIZE_RECORDER_SIZE_COLUMN: column 'size_bytes' .* is integer"
    ):
        store.verify()
