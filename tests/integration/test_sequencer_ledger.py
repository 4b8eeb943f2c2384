"""The sequencer ledger (SIZE_RECORDER_SEQUENCER_LEDGER) on real Postgres: the start-up check
names the variable and the DDL's page; every create and delete advances the ledger, row or no
row; a row then takes only its key's newest event."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.adapters.wiring import postgres_store
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.outcomes import Outcome, RecordResult
from size_recorder.core.recorder import Message, Recorder
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env

MakeRecorder = Callable[[dict[str, str]], Recorder]
LEDGER_DDL = (
    "CREATE TABLE {ledger} (bucket text NOT NULL, key text NOT NULL, sequencer text NOT NULL,"
    " seen_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (bucket, key))"
)


def execute(table: DocumentsTable, statement: str) -> None:
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(statement)


def ledger_of(table: DocumentsTable) -> str:
    return f"{table.schema}.size_recorder_sequencers"


@pytest.fixture
def env(documents: DocumentsTable) -> dict[str, str]:
    """The recorder's variables with a sequencer column and a ledger that does not exist yet."""
    return recorder_env(
        documents,
        **{c.ENV_SEQUENCER_COLUMN: "size_sequencer", c.ENV_SEQUENCER_LEDGER: ledger_of(documents)},
    )


@pytest.fixture
def ledger(documents: DocumentsTable) -> str:
    """The ledger as docs/configuration.md creates it (dropped with the table's schema)."""
    execute(documents, LEDGER_DDL.format(ledger=ledger_of(documents)))
    return ledger_of(documents)


def entries(table: DocumentsTable) -> dict[tuple[str, str], str]:
    with psycopg.connect(table.url) as conn:
        found = conn.execute(f"SELECT bucket, key, sequencer FROM {ledger_of(table)}").fetchall()
    return {(bucket, key): sequencer for bucket, key, sequencer in found}


def results(recorder: Recorder, *bodies: str) -> list[RecordResult]:
    batch = recorder.record([Message(f"m{i}", body) for i, body in enumerate(bodies)])
    return [r for m in batch.messages for r in m.records]


def record(recorder: Recorder, *bodies: str) -> list[Outcome]:
    return [r.outcome for r in results(recorder, *bodies)]


def removal(key: str, sequencer: str) -> str:
    body = json.loads(s3_body(key, 0, sequencer))
    record_ = body["Records"][0]
    record_["eventName"] = "ObjectRemoved:Delete"
    del record_["s3"]["object"]["size"]
    return json.dumps(body)


# --- The start-up check ---------------------------------------------------------------------


def verify_error(env: dict[str, str]) -> str:
    store = postgres_store(Settings.from_env(env))
    try:
        with pytest.raises(ConfigError) as raised:
            store.verify()
    finally:
        store.close()
    return str(raised.value)


def test_verify_names_the_variable_and_the_ddl_when_the_ledger_table_is_missing(
    env: dict[str, str], documents: DocumentsTable
) -> None:
    message = verify_error(env)
    assert message == (
        f"SIZE_RECORDER_SEQUENCER_LEDGER={ledger_of(documents)!r}: the table does not exist;"
        " create it as docs/configuration.md#the-sequencer-ledger shows"
    )


@pytest.mark.parametrize(
    ("ddl", "problem"),
    [
        (
            "CREATE TABLE {ledger} (bucket text, sequencer text, PRIMARY KEY (bucket))",
            "the table has no column 'key'",
        ),
        (
            "CREATE TABLE {ledger} (bucket text, key text, sequencer bigint,"
            " PRIMARY KEY (bucket, key))",
            "column 'sequencer' is bigint, expected one of",
        ),
        (
            "CREATE TABLE {ledger} (bucket text, key text, sequencer text)",
            "no primary key or unique index on (bucket, key)",
        ),
        (
            "CREATE TABLE {ledger} (bucket text, key text, sequencer text,"
            " PRIMARY KEY (bucket, key, sequencer))",
            "no primary key or unique index on (bucket, key)",
        ),
    ],
    ids=["no key column", "sequencer not text", "no primary key", "a wider primary key"],
)
def test_verify_names_the_variable_and_the_ddl_for_a_ledger_it_cannot_use(
    env: dict[str, str], documents: DocumentsTable, ddl: str, problem: str
) -> None:
    execute(documents, ddl.format(ledger=ledger_of(documents)))

    message = verify_error(env)

    assert message.startswith(f"SIZE_RECORDER_SEQUENCER_LEDGER={ledger_of(documents)!r}: ")
    assert problem in message
    assert message.endswith("create it as docs/configuration.md#the-sequencer-ledger shows")


def test_verify_accepts_a_unique_index_instead_of_a_primary_key(
    env: dict[str, str], documents: DocumentsTable
) -> None:
    name = ledger_of(documents)
    execute(documents, f"CREATE TABLE {name} (key text, bucket text, sequencer varchar(80))")
    execute(documents, f"CREATE UNIQUE INDEX ON {name} (key, bucket)")
    store = postgres_store(Settings.from_env(env))
    try:
        store.verify()
        assert set(store.sequencer_widths().values()) == {80}
    finally:
        store.close()


def test_a_sequencer_the_ledger_cannot_hold_is_invalid_alone(
    env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """The row's column holds any length (text), the ledger's only 20 characters."""
    name = ledger_of(documents)
    execute(
        documents, LEDGER_DDL.format(ledger=name).replace("sequencer text", "sequencer varchar(20)")
    )
    documents.insert("a.pdf", "b.pdf")
    recorder = make_recorder(env)

    outcomes = record(
        recorder, s3_body("media/a.pdf", 1, "F" * 21), s3_body("media/b.pdf", 2, "0A")
    )

    assert outcomes == [Outcome.INVALID, Outcome.RECORDED]
    assert documents.sizes() == {"a.pdf": None, "b.pdf": 2}


# --- What the ledger changes ----------------------------------------------------------------


def test_an_unmatched_upload_advances_the_ledger(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(env)

    assert record(recorder, s3_body("media/a.pdf", 1, "0B")) == [Outcome.UNMATCHED]

    assert entries(documents) == {("", "media/a.pdf"): "0B"}


def test_a_removal_no_row_holds_advances_the_ledger_and_a_later_row_refuses_the_older_upload(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(env)
    assert record(recorder, removal("media/a.pdf", "0B")) == [Outcome.SKIPPED]
    documents.insert("a.pdf")

    assert record(recorder, s3_body("media/a.pdf", 1, "0A")) == [Outcome.STALE]

    assert documents.row("a.pdf") == (None, None)
    assert entries(documents) == {("", "media/a.pdf"): "0B"}


def test_a_renamed_row_refuses_an_older_event_of_its_new_key(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    documents.insert("a.pdf", "b.pdf")
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/b.pdf", 200, "0C")) == [Outcome.RECORDED]
    # The app points row a.pdf at b.pdf (and clears its size and sequencer, as the field does).
    execute(
        documents,
        f"UPDATE {documents.qualified} SET file = 'b.pdf', size_bytes = NULL,"
        " size_sequencer = NULL WHERE file = 'a.pdf'",
    )

    assert record(recorder, s3_body("media/b.pdf", 100, "0B")) == [Outcome.STALE]
    # The newest event, redelivered, sizes the renamed row too.
    assert record(recorder, s3_body("media/b.pdf", 200, "0C")) == [Outcome.RECORDED]

    with psycopg.connect(documents.url) as conn:
        rows = conn.execute(f"SELECT file, size_bytes FROM {documents.qualified}").fetchall()
    assert rows == [("b.pdf", 200), ("b.pdf", 200)]


def test_the_newest_event_within_a_batch_advances_the_ledger_once(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    documents.insert("a.pdf")
    recorder = make_recorder(env)

    outcomes = record(
        recorder,
        s3_body("media/a.pdf", 1, "0A"),
        s3_body("media/a.pdf", 3, "0C"),
        s3_body("media/a.pdf", 2, "0B"),
    )

    assert outcomes == [Outcome.STALE, Outcome.RECORDED, Outcome.STALE]
    assert entries(documents) == {("", "media/a.pdf"): "0C"}
    assert documents.row("a.pdf") == (3, "0C")


def test_the_ledger_compares_sequencers_right_padded_as_rows_do(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """`0A1` is `0A10`, newer than `0A0F`; a row created after `0A1` refuses `0A0F`."""
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/a.pdf", 2, "0A1")) == [Outcome.UNMATCHED]
    documents.insert("a.pdf")

    assert record(recorder, s3_body("media/a.pdf", 1, "0A0F")) == [Outcome.STALE]
    assert entries(documents) == {("", "media/a.pdf"): "0A1"}


def test_an_event_without_a_sequencer_loses_to_one_the_ledger_holds(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/a.pdf", 2, "0A")) == [Outcome.UNMATCHED]
    documents.insert("a.pdf")

    assert record(recorder, s3_body("media/a.pdf", 1, None)) == [Outcome.STALE]
    assert documents.row("a.pdf") == (None, None)


def test_targets_key_the_ledger_by_their_bucket_or_by_name_alone(
    ledger: str, documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """A target naming its bucket keys entries by it; one taking any bucket, by ''. A target
    without a sequencer column leaves the ledger alone."""
    table = documents.qualified
    targets = [
        {"table": table, "prefix": "media/", "sequencer_column": "size_sequencer"},
        {
            "table": table,
            "prefix": "media/",
            "bucket": "archive",
            "sequencer_column": "size_sequencer",
        },
        {"table": table, "prefix": "plain/"},
    ]
    recorder = make_recorder(
        {
            c.ENV_DATABASE_URL: documents.url,
            c.ENV_TARGETS: json.dumps(targets),
            c.ENV_SEQUENCER_LEDGER: ledger,
        }
    )
    uploads = s3_body("media/a.pdf", 1, "0A")
    archive = json.loads(s3_body("media/a.pdf", 2, "0B"))
    archive["Records"][0]["s3"]["bucket"]["name"] = "archive"

    record(recorder, uploads, json.dumps(archive), s3_body("plain/c.pdf", 3, "0C"))

    assert entries(documents) == {("", "media/a.pdf"): "0A", ("archive", "media/a.pdf"): "0B"}


# --- Which refused: the row, or the ledger --------------------------------------------------

LEDGER_REASON = (
    "the sequencer ledger holds a newer event for this key, which the row never saw: the row"
    " took this name after it (a replaced or renamed row, or one inserted after the object's"
    " deletion)"
)
ROW_REASON = "row already holds this or a newer event"


def test_an_older_event_for_a_replaced_row_is_stale_by_the_ledger(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    documents.insert("a.pdf")
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/a.pdf", 2, "0B")) == [Outcome.RECORDED]
    execute(documents, f"DELETE FROM {documents.qualified}")
    documents.insert("a.pdf")

    (result,) = results(recorder, s3_body("media/a.pdf", 1, "0A"))

    assert (result.outcome, result.reason, result.by_ledger) == (
        Outcome.STALE,
        LEDGER_REASON,
        True,
    )


def test_an_upload_older_than_a_deletion_no_row_held_is_stale_by_the_ledger(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(env)
    assert record(recorder, removal("media/a.pdf", "0B")) == [Outcome.SKIPPED]
    documents.insert("a.pdf")

    (result,) = results(recorder, s3_body("media/a.pdf", 1, "0A"))

    assert (result.outcome, result.by_ledger) == (Outcome.STALE, True)


def test_an_event_without_a_sequencer_is_stale_by_the_ledger_that_holds_one(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/a.pdf", 2, "0A")) == [Outcome.UNMATCHED]
    documents.insert("a.pdf")

    (result,) = results(recorder, s3_body("media/a.pdf", 1, None))

    assert result.outcome is Outcome.STALE
    assert result.by_ledger
    assert result.reason is not None
    assert result.reason.startswith(
        "the sequencer ledger holds an event with a sequencer for this key"
    )


def test_an_event_older_than_the_rows_is_stale_by_the_row_with_the_ledger_on(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """The ledger holds the newer event too; the row's own sequencer refuses first."""
    documents.insert("a.pdf")
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/a.pdf", 2, "0B")) == [Outcome.RECORDED]

    (result,) = results(recorder, s3_body("media/a.pdf", 1, "0A"))

    assert (result.outcome, result.reason, result.by_ledger) == (Outcome.STALE, ROW_REASON, False)


def test_a_redelivered_event_is_stale_by_the_row_with_the_ledger_on(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    documents.insert("a.pdf")
    recorder = make_recorder(env)
    assert record(recorder, s3_body("media/a.pdf", 2, "0B")) == [Outcome.RECORDED]

    (result,) = results(recorder, s3_body("media/a.pdf", 2, "0B"))

    assert (result.outcome, result.reason, result.by_ledger) == (Outcome.STALE, ROW_REASON, False)


def test_a_key_no_row_holds_stays_unmatched_when_the_ledger_holds_a_newer_event(
    ledger: str, env: dict[str, str], documents: DocumentsTable, make_recorder: MakeRecorder
) -> None:
    """Unchanged by the ledger's reason: with no row, the event waits for one, as before."""
    recorder = make_recorder(env)
    assert record(recorder, removal("media/a.pdf", "0B")) == [Outcome.SKIPPED]

    assert record(recorder, s3_body("media/a.pdf", 1, "0A")) == [Outcome.UNMATCHED]
