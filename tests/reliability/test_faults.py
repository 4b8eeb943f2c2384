"""Database faults: restarts, outages, locks and deadlines. Whatever happens, a message is either
recorded or reported failed (so SQS redelivers it), and after redelivery every row is right.

These run against the suite's private Postgres, which they stop, restart and lock at will.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.aws_lambda import handler
from size_recorder.core.outcomes import BatchResult, Outcome
from size_recorder.core.recorder import Message, Recorder
from tests.reliability.delivery import Delivery
from tests.reliability.postgres import PrivatePostgres, recorder_pids, wait_for_lock_wait
from tests.support.events import s3_body, s3_record, sqs_event
from tests.support.lambda_context import LambdaContext
from tests.support.postgres import DocumentsTable, recorder_env


def keyed_messages(count: int, *, size_base: int = 1000) -> list[Message]:
    """Message i sets the size of row `k{i}` to size_base + i."""
    return [Message(f"m{i}", s3_body(f"media/k{i}", size_base + i)) for i in range(count)]


def expected_sizes(count: int, *, size_base: int = 1000) -> dict[str, int | None]:
    return {f"k{i}": size_base + i for i in range(count)}


def lock_row(table: DocumentsTable, key: str) -> psycopg.Connection[tuple[object, ...]]:
    """An open transaction holding `key`'s row lock until the connection ends."""
    blocker = psycopg.connect(table.url)
    blocker.execute(f"SELECT 1 FROM {table.qualified} WHERE file = %s FOR UPDATE", (key,))
    return blocker


def outcomes_of(batch: BatchResult) -> set[Outcome]:
    return {r.outcome for m in batch.messages for r in m.records}


@pytest.fixture
def pg(private_postgres: PrivatePostgres) -> Iterator[PrivatePostgres]:
    yield private_postgres
    if not private_postgres.is_up():
        private_postgres.start()


@pytest.fixture
def table(private_documents: DocumentsTable) -> DocumentsTable:
    private_documents.insert(*(f"k{i}" for i in range(100)))
    return private_documents


def test_record_fails_a_batch_cut_by_a_postgres_shutdown_and_records_it_after_restart(
    pg: PrivatePostgres, table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """Postgres stops while a batch's UPDATE is in flight: every message of it fails, none is
    acknowledged; once Postgres is back the same recorder reconnects and the redelivery fixes
    every row."""
    recorder = make_recorder(recorder_env(table) | {c.ENV_STATEMENT_TIMEOUT_MS: "20000"})
    assert recorder.record(keyed_messages(1)).failed == ()  # a warm connection, as in Lambda
    blocker = lock_row(table, "k50")

    def stop_when_waiting() -> None:
        wait_for_lock_wait(pg.url)
        pg.stop()

    stopper = threading.Thread(target=stop_when_waiting)
    stopper.start()
    messages = keyed_messages(100)

    batch = recorder.record(messages)

    stopper.join()
    blocker.close()
    assert len(batch.failed) == 100
    assert outcomes_of(batch) == {Outcome.FAILED}
    pg.start()
    failed = {m.message_id for m in batch.failed}
    redelivered = recorder.record([m for m in messages if m.message_id in failed])
    assert redelivered.failed == ()
    assert table.sizes() == expected_sizes(100)
    print("\npostgres shutdown mid-batch: 100/100 messages failed, 0 acknowledged; 0 rows wrong")


def test_record_fails_a_batch_whose_backend_is_terminated_mid_write_then_recovers(
    pg: PrivatePostgres, table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """`pg_terminate_backend` on the recorder while it waits on a lock: the one retry on a new
    connection meets the same lock and times out, so the batch fails as a whole; the next
    delivery reconnects by itself and records everything."""
    recorder = make_recorder(recorder_env(table) | {c.ENV_STATEMENT_TIMEOUT_MS: "1000"})
    assert recorder.record(keyed_messages(1)).failed == ()
    blocker = lock_row(table, "k7")

    def terminate() -> None:
        pid = wait_for_lock_wait(pg.url)
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    killer = threading.Thread(target=terminate)
    killer.start()
    messages = keyed_messages(100)
    batch = recorder.record(messages)
    killer.join()
    blocker.close()

    assert len(batch.failed) == 100
    assert outcomes_of(batch) == {Outcome.FAILED}
    assert recorder.record(messages).failed == ()
    assert table.sizes() == expected_sizes(100)


@pytest.mark.slow
def test_record_survives_repeated_postgres_restarts_under_load(
    pg: PrivatePostgres, private_documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """5,000 messages delivered over and over while Postgres restarts five times: failed batches
    are redelivered until acknowledged, and every row ends with its size (none wrong or lost)."""
    count, planned = 5_000, 5
    private_documents.insert(*(f"k{i}" for i in range(count)))
    recorder = make_recorder(recorder_env(private_documents))
    messages = keyed_messages(count)
    restarts = 0

    def storm() -> None:
        nonlocal restarts
        for _ in range(planned):
            time.sleep(0.1)
            pg.restart()
            restarts += 1

    delivery = Delivery(recorder, batch_size=20, pause_s=0.1)
    stormer = threading.Thread(target=storm)
    stormer.start()
    try:
        # Keep batches in flight for the whole storm (redelivering everything is harmless:
        # the writes are idempotent), then let SQS's redelivery settle what is left.
        pending = delivery.once(messages)
        while stormer.is_alive():
            pending = delivery.once(messages)
        delivery.until_settled(pending, max_rounds=200)
    finally:
        stormer.join()
    assert pg.is_up()
    assert restarts == planned
    assert delivery.failures > 0  # the restarts did hit batches in flight
    assert private_documents.sizes() == expected_sizes(count)
    print(
        f"\nrestart storm: {restarts} restarts survived, {delivery.deliveries} deliveries of"
        f" {count} messages, {delivery.failures} failed and redelivered, 0 rows wrong or lost"
    )


def test_record_fails_every_message_while_postgres_is_down_and_recovers_without_rebuild(
    pg: PrivatePostgres, table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """An outage that starts before the first connection (a cold start during it): every call
    fails every message without raising, and the same recorder works once Postgres is back."""
    recorder = make_recorder(recorder_env(table))
    messages = keyed_messages(100)
    pg.stop()
    attempts = [recorder.record(messages) for _ in range(5)]
    pg.start()
    recovered = recorder.record(messages)

    for batch in attempts:
        assert len(batch.failed) == 100
        assert all("cannot connect to Postgres" in m.reason() for m in batch.failed)
    assert recovered.failed == ()
    assert table.sizes() == expected_sizes(100)
    print("\noutage: 5 deliveries x 100 messages failed, 0 acknowledged; recovered in place")


def test_lambda_handler_reports_every_message_failed_during_an_outage_without_raising(
    pg: PrivatePostgres, table: DocumentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lambda keeps answering during an outage (no crash loop): all messages listed as
    failures; the warm function records them once Postgres is back."""
    for name, value in recorder_env(table).items():
        monkeypatch.setenv(name, value)
    handler.recorder.cache_clear()
    event = sqs_event(*(m.body for m in keyed_messages(20)))
    try:
        assert handler.lambda_handler(event, LambdaContext())["batchItemFailures"] == []
        pg.stop()
        during = [handler.lambda_handler(event, LambdaContext()) for _ in range(3)]
        pg.start()
        after = handler.lambda_handler(event, LambdaContext())
    finally:
        handler.recorder.cache_clear()
    everything = [{"itemIdentifier": f"m{i}"} for i in range(20)]
    assert all(response["batchItemFailures"] == everything for response in during)
    assert after == {"batchItemFailures": []}


def test_record_fails_every_message_when_the_database_port_is_closed(
    make_recorder: Callable[..., Recorder],
) -> None:
    """DATABASE_URL pointing at a closed port: connection refused, every message fails."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recorder = make_recorder(
        {
            c.ENV_DATABASE_URL: f"postgresql://postgres@127.0.0.1:{port}/postgres",
            c.ENV_TABLE: "documents_document",
        }
    )
    batch = recorder.record(keyed_messages(10))
    assert len(batch.failed) == 10
    assert outcomes_of(batch) == {Outcome.FAILED}


def test_record_gives_up_on_a_silent_server_within_the_connect_timeout(
    make_recorder: Callable[..., Recorder],
) -> None:
    """A server that accepts TCP and never answers (a hung proxy, a black hole): every message
    fails once the connect timeout expires, instead of hanging the function."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        recorder = make_recorder(
            {
                c.ENV_DATABASE_URL: f"postgresql://postgres@127.0.0.1:{port}/postgres",
                c.ENV_TABLE: "documents_document",
                c.ENV_CONNECT_TIMEOUT_S: "2",
            }
        )
        started = time.monotonic()
        batch = recorder.record(keyed_messages(10))
        elapsed = time.monotonic() - started
    assert len(batch.failed) == 10
    assert outcomes_of(batch) == {Outcome.FAILED}
    assert elapsed < 10 * 2
    print(f"\nsilent server: 10/10 failed after {elapsed:.1f} s (connect timeout 2 s)")


def test_record_fails_a_locked_row_within_the_statement_timeout(
    pg: PrivatePostgres, table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """A long transaction holds a row: the batch fails within its timeout (bound: 10x), and the
    same connection records it once the lock is gone."""
    timeout_ms = 500
    recorder = make_recorder(recorder_env(table) | {c.ENV_STATEMENT_TIMEOUT_MS: str(timeout_ms)})
    messages = keyed_messages(100)
    others = set(recorder_pids(pg.url))
    recorder.record(messages[:1])
    (pid,) = set(recorder_pids(pg.url)) - others
    blocker = lock_row(table, "k42")
    started = time.monotonic()
    batch = recorder.record(messages)
    elapsed = time.monotonic() - started
    blocker.close()

    assert len(batch.failed) == 100
    assert all(
        "lock timeout" in m.reason() or "statement timeout" in m.reason() for m in batch.failed
    )
    assert elapsed < 10 * timeout_ms / 1000
    assert recorder.record(messages).failed == ()
    assert set(recorder_pids(pg.url)) - others == {pid}  # no reconnect after a timeout
    assert table.sizes() == expected_sizes(100)
    print(f"\nlocked row: batch failed after {elapsed * 1000:.0f} ms (timeout {timeout_ms} ms)")


def test_lambda_handler_answers_before_its_deadline_when_a_row_is_locked(
    pg: PrivatePostgres, table: DocumentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 2.5 s left and a 5 s statement timeout, the write is cut to the time left: the
    handler reports the message failed before Lambda would kill it, and writes nothing."""
    for name, value in recorder_env(table).items():
        monkeypatch.setenv(name, value)
    handler.recorder.cache_clear()
    blocker = lock_row(table, "k3")
    context = LambdaContext(timeout_ms=2_500)
    try:
        response = handler.lambda_handler(sqs_event(s3_body("media/k3", 3)), context)
        left_ms = context.get_remaining_time_in_millis()
    finally:
        blocker.close()
        handler.recorder.cache_clear()
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert left_ms > 0
    assert table.row("k3") == (None, None)
    print(f"\nlocked row under a 2.5 s deadline: reported failed with {left_ms} ms to spare")


def test_record_retry_after_a_lost_connection_stays_inside_the_deadline(
    pg: PrivatePostgres, table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """The store retries once on a new connection when a reused one dies; that retry must fit
    in what is left of the time budget, not start a fresh full timeout past the deadline.

    The first attempt waits on a lock and its backend is killed 1.2 s in; with 3 s left when
    the batch started, the answer must come before those 3 s are up.
    """
    recorder = make_recorder(recorder_env(table))
    recorder.record(keyed_messages(1))
    blocker = lock_row(table, "k9")

    def terminate() -> None:
        pid = wait_for_lock_wait(pg.url)
        time.sleep(1.2)
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    killer = threading.Thread(target=terminate)
    killer.start()
    context = LambdaContext(timeout_ms=3_000)
    batch = recorder.record(keyed_messages(20), remaining_ms=context.get_remaining_time_in_millis)
    left_ms = context.get_remaining_time_in_millis()
    killer.join()
    blocker.close()

    assert len(batch.failed) == 20
    assert left_ms > 0, "the batch outlived the function's deadline"


def test_record_fails_whole_messages_when_time_runs_out(
    table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """Too little time to write: a message whose records need a write fails as a whole, even
    the part that needed none (never half-acknowledged); a message needing no write passes."""
    recorder = make_recorder(recorder_env(table))
    deletion = s3_record("media/k1", 0)
    deletion["eventName"] = "ObjectRemoved:Delete"
    mixed = json.dumps({"Records": [deletion, s3_record("media/k2", 2)]})
    batch = recorder.record(
        [
            Message("mixed", mixed),
            Message("write", s3_body("media/k3", 3)),
            Message("test-event", '{"Event": "s3:TestEvent", "Bucket": "b"}'),
        ],
        remaining_ms=lambda: 1_500,
    )
    assert [m.message_id for m in batch.failed] == ["mixed", "write"]
    assert [r.outcome for r in batch.messages[0].records] == [Outcome.SKIPPED, Outcome.FAILED]
    assert table.sizes() == {f"k{i}": None for i in range(100)}


def test_record_fails_the_batch_when_the_start_up_check_hits_a_database_error(
    pg: PrivatePostgres, table: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """The first connection checks the configured table; a database error there (Postgres
    shutting down, as the restart storm caught) fails the batch like any outage instead of
    escaping `Recorder.record`, and the check runs again on the next connection.

    Deterministic stand-in for the shutdown: a role whose search_path puts a view named
    pg_attribute first, raising the very error a shutdown sends (57P01).
    """
    role = f"shadowed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {role}")
        conn.execute(
            f"CREATE FUNCTION {role}.shutting_down() RETURNS TABLE (attname name,"
            " atttypid oid, atttypmod int4, attrelid oid, attnum int2, attisdropped bool)"
            " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'admin_shutdown',"
            " MESSAGE = 'terminating connection due to administrator command'; END $$"
        )
        conn.execute(f"CREATE VIEW {role}.pg_attribute AS SELECT * FROM {role}.shutting_down()")
        conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
        conn.execute(f"ALTER ROLE {role} SET search_path = {role}, pg_catalog")
    url = f"postgresql://{role}@/postgres?host={pg.socket_dir}&port={pg.port}"
    recorder = make_recorder({**recorder_env(table), c.ENV_DATABASE_URL: url})
    try:
        during = recorder.record(keyed_messages(10))
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {role} RESET search_path")
        after = recorder.record(keyed_messages(10))
    finally:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {role} CASCADE")
            conn.execute(f"DROP ROLE {role}")
    assert len(during.failed) == 10
    assert all("administrator command" in m.reason() for m in during.failed)
    assert after.failed == ()
    assert table.sizes() == {**expected_sizes(10), **{f"k{i}": None for i in range(10, 100)}}
