"""Security posture: the recorder runs under a role that can only fill its columns, honours
libpq's TLS settings (verify-full never falls back to plaintext), and never lets a password
into a log line, a batch reason or an exception.
"""

from __future__ import annotations

import io
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from size_recorder import constants as c
from size_recorder.adapters.wiring import postgres_store
from size_recorder.aws_lambda import handler
from size_recorder.core.config import Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder, StoreError
from tests.reliability.postgres import PASSWORD_GROUP, PrivatePostgres, TlsFront
from tests.support.events import s3_body, sqs_event
from tests.support.lambda_context import LambdaContext
from tests.support.postgres import DocumentsTable, recorder_env

PASSWORD = "Sup3r-S3cret-Pa55"


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    password: str
    socket_url: str


@pytest.fixture
def make_role(private_postgres: PrivatePostgres) -> Iterator[Callable[..., Role]]:
    """Roles that must log in with their password (scram-sha-256), dropped afterwards."""
    made: list[str] = []

    def make(grants: str, password: str = PASSWORD) -> Role:
        name = f"recorder_{uuid.uuid4().hex[:8]}"
        made.append(name)
        with psycopg.connect(private_postgres.url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {PASSWORD_GROUP}")
            for statement in grants.format(role=name).split(";"):
                if statement.strip():
                    conn.execute(statement)
        url = (
            f"postgresql://{name}:{password}@/postgres"
            f"?host={private_postgres.socket_dir}&port={private_postgres.port}"
        )
        return Role(name=name, password=password, socket_url=url)

    yield make
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP OWNED BY {name}")
            conn.execute(f"DROP ROLE {name}")


def readme_grant(table: DocumentsTable, *, ordering: bool) -> str:
    """The README's grant, for the table in its own schema."""
    select = "file, size_sequencer" if ordering else "file"
    update = "size_bytes, size_sequencer" if ordering else "size_bytes"
    return (
        "GRANT CONNECT ON DATABASE postgres TO {role};"
        f' GRANT USAGE ON SCHEMA "{table.schema}" TO {{role}};'
        f" GRANT SELECT ({select}), UPDATE ({update}) ON {table.qualified} TO {{role}}"
    )


def test_recorder_under_the_readme_grant_records_sizes(
    private_documents: DocumentsTable,
    make_role: Callable[..., Role],
    make_recorder: Callable[..., Recorder],
) -> None:
    """Exactly `SELECT (file), UPDATE (size_bytes)`: start-up check and batched UPDATE work."""
    role = make_role(readme_grant(private_documents, ordering=False))
    private_documents.insert("a.pdf", "b.pdf")
    recorder = make_recorder(
        {**recorder_env(private_documents), c.ENV_DATABASE_URL: role.socket_url}
    )
    batch = recorder.record(
        [Message("a", s3_body("media/a.pdf", 1)), Message("c", s3_body("media/c.pdf", 3))]
    )
    assert [r.outcome for m in batch.messages for r in m.records] == [
        Outcome.RECORDED,
        Outcome.UNMATCHED,
    ]
    assert private_documents.sizes() == {"a.pdf": 1, "b.pdf": None}


def test_recorder_under_the_readme_grant_keeps_events_in_order(
    private_documents: DocumentsTable,
    make_role: Callable[..., Role],
    make_recorder: Callable[..., Recorder],
) -> None:
    """With ordering on, `SELECT (file, size_sequencer), UPDATE (size_bytes, size_sequencer)`
    is enough to record, and to refuse an older event."""
    role = make_role(readme_grant(private_documents, ordering=True))
    private_documents.insert("a.pdf")
    env = recorder_env(private_documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"}
    recorder = make_recorder({**env, c.ENV_DATABASE_URL: role.socket_url})
    newer = recorder.record([Message("n", s3_body("media/a.pdf", 20, "00B2"))])
    older = recorder.record([Message("o", s3_body("media/a.pdf", 10, "00B1"))])
    assert newer.messages[0].records[0].outcome is Outcome.RECORDED
    assert older.messages[0].records[0].outcome is Outcome.STALE
    assert private_documents.row("a.pdf") == (20, "00B2")


def test_recorder_missing_a_grant_fails_loudly_and_writes_nothing(
    private_documents: DocumentsTable,
    make_role: Callable[..., Role],
    make_recorder: Callable[..., Recorder],
) -> None:
    """The grant without ordering, used with a sequencer column: every message fails with
    "permission denied" (retried, then the DLQ), none is acknowledged or written."""
    role = make_role(readme_grant(private_documents, ordering=False))
    private_documents.insert("a.pdf")
    env = recorder_env(private_documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"}
    recorder = make_recorder({**env, c.ENV_DATABASE_URL: role.socket_url})
    batch = recorder.record([Message("m", s3_body("media/a.pdf", 20, "00B2"))])
    (failed,) = batch.failed
    assert "permission denied" in failed.reason()
    assert private_documents.row("a.pdf") == (None, None)


FORBIDDEN = [
    "UPDATE {table} SET file = 'forged'",
    "UPDATE {table} SET id = id + 1000",
    "SELECT size_bytes FROM {table}",
    "SELECT * FROM {table}",
    "INSERT INTO {table} (file) VALUES ('forged')",
    "DELETE FROM {table}",
    "TRUNCATE {table}",
    "ALTER TABLE {table} ADD COLUMN evil text",
    "DROP TABLE {table}",
    "CREATE TABLE {schema}.evil (x int)",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_recorder_role_cannot_do_anything_else(
    private_documents: DocumentsTable, make_role: Callable[..., Role], statement: str
) -> None:
    """The role can reach no other column and no other operation on the table or schema."""
    role = make_role(readme_grant(private_documents, ordering=True))
    private_documents.insert("a.pdf")
    sql = statement.format(table=private_documents.qualified, schema=private_documents.schema)
    with psycopg.connect(role.socket_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(sql)
    assert private_documents.sizes() == {"a.pdf": None}


def test_recorder_role_cannot_log_in_without_its_password(
    private_postgres: PrivatePostgres, make_role: Callable[..., Role]
) -> None:
    """The role really authenticates with its password here (scram-sha-256, not trust)."""
    role = make_role("")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(role.socket_url.replace(f":{PASSWORD}@", ":wrong@")).close()


def tls_recorder(
    make_recorder: Callable[..., Recorder], table: DocumentsTable, url: str
) -> Recorder:
    return make_recorder({**recorder_env(table), c.ENV_DATABASE_URL: url})


def test_store_verify_full_connects_over_tls_with_the_right_root_cert(
    private_postgres: PrivatePostgres,
    tls_front: TlsFront,
    private_documents: DocumentsTable,
    make_recorder: Callable[..., Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PGSSLMODE=verify-full and PGSSLROOTCERT (libpq's own variables) are honoured: the
    recorder connects over TLS, checking the chain and the host name, and records."""
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(private_postgres.ca_file))
    private_documents.insert("a.pdf")
    before = tls_front.tls_sessions
    recorder = tls_recorder(make_recorder, private_documents, tls_front.url())
    assert recorder.record([Message("m", s3_body("media/a.pdf", 9))]).failed == ()
    assert tls_front.tls_sessions > before
    assert private_documents.sizes() == {"a.pdf": 9}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-root-cert", "root certificate file"),
        ("wrong-host-name", "does not match host name"),
        ("untrusted-ca", "certificate verify failed"),
        ("server-without-tls", "server does not support SSL"),
    ],
)
def test_store_verify_full_refuses_what_it_cannot_verify(
    private_postgres: PrivatePostgres,
    tls_front: TlsFront,
    private_documents: DocumentsTable,
    make_recorder: Callable[..., Recorder],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    case: str,
    expected: str,
) -> None:
    """verify-full never falls back to plaintext nor to an unverified server: every message
    fails with a clear reason, and the TLS front sees no plaintext session."""
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(private_postgres.ca_file))
    url = tls_front.url()
    if case == "missing-root-cert":
        monkeypatch.setenv("PGSSLROOTCERT", "/nonexistent/root.crt")
    elif case == "wrong-host-name":
        url = tls_front.url(host="db.example.internal")
    elif case == "untrusted-ca":
        other = tmp_path / "other.crt"
        other.write_bytes((private_postgres.pgdata / "server.crt").read_bytes())
        monkeypatch.setenv("PGSSLROOTCERT", str(other))  # a leaf, not the CA that signed it
    else:
        url = private_postgres.tcp_url()
    plaintext_before = tls_front.plaintext_sessions
    recorder = tls_recorder(make_recorder, private_documents, url)
    private_documents.insert("a.pdf")

    batch = recorder.record([Message("m", s3_body("media/a.pdf", 9))])

    (failed,) = batch.failed
    assert failed.records[0].outcome is Outcome.FAILED
    assert "cannot connect to Postgres" in failed.reason()
    assert expected in failed.reason()
    assert tls_front.plaintext_sessions == plaintext_before
    assert private_documents.sizes() == {"a.pdf": None}


def test_store_over_a_unix_socket_ignores_sslmode(
    private_postgres: PrivatePostgres,
    private_documents: DocumentsTable,
    make_recorder: Callable[..., Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libpq never uses TLS on a Unix socket, even with verify-full: a local socket is not a
    network path. Documented so nobody mistakes a socket DATABASE_URL for a verified one."""
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", "/nonexistent/root.crt")
    private_documents.insert("a.pdf")
    recorder = make_recorder(recorder_env(private_documents))
    assert recorder.record([Message("m", s3_body("media/a.pdf", 4))]).failed == ()


def leaky_url(private_postgres: PrivatePostgres, make_role: Callable[..., Role], case: str) -> str:
    """A DATABASE_URL holding PASSWORD that fails to connect in the way `case` names."""
    host = f"127.0.0.1:{private_postgres.port}"
    if case == "wrong-password":  # a real role whose password is another one
        role = make_role("", password="the-real-one")
        return private_postgres.tcp_url(user=role.name, password=PASSWORD)
    return {
        "closed-port": f"postgresql://u:{PASSWORD}@127.0.0.1:1/postgres",
        "bad-percent-escape": f"postgresql://u:{PASSWORD}%zz@{host}/postgres",
        "bad-ipv6-literal": f"postgresql://u:{PASSWORD}@[::1/postgres",
        "unquoted-space-in-dsn": f"host=127.0.0.1 user=u password={PASSWORD} x dbname=postgres",
        "unterminated-quote-in-dsn": f"host=127.0.0.1 user=u password='{PASSWORD} dbname=p",
    }[case]


LEAK_CASES = [
    "wrong-password",
    "closed-port",
    "bad-percent-escape",
    "bad-ipv6-literal",
    "unquoted-space-in-dsn",
    "unterminated-quote-in-dsn",
]


@pytest.mark.parametrize("case", LEAK_CASES)
def test_store_error_never_contains_the_password(
    private_postgres: PrivatePostgres, make_role: Callable[..., Role], case: str
) -> None:
    """Neither the StoreError's message nor its traceback (causes included) holds the password,
    however the connection string is broken: libpq's parse errors quote the bad token."""
    url = leaky_url(private_postgres, make_role, case)
    store = postgres_store(Settings.from_env({c.ENV_DATABASE_URL: url, c.ENV_TABLE: "t"}))
    with pytest.raises(StoreError) as raised:
        store.verify()
    assert "cannot connect to Postgres" in str(raised.value)
    assert PASSWORD not in "".join(traceback.format_exception(raised.value))


@pytest.mark.parametrize("case", LEAK_CASES)
def test_lambda_handler_logs_never_contain_the_password(
    private_postgres: PrivatePostgres,
    make_role: Callable[..., Role],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    """A failing connection through the Lambda: every message fails, and neither the
    Powertools log lines (stdout), stderr, Python logging nor the response show the password."""
    monkeypatch.setenv(c.ENV_DATABASE_URL, leaky_url(private_postgres, make_role, case))
    monkeypatch.setenv(c.ENV_TABLE, "documents_document")
    handler.recorder.cache_clear()
    caplog.set_level(logging.DEBUG)
    # Powertools' handler keeps the stdout it found at import: read its JSON lines directly.
    log_lines = io.StringIO()
    previous = handler.logger.registered_handler.setStream(log_lines)
    try:
        response = handler.lambda_handler(
            sqs_event(s3_body("media/a.pdf", 1), s3_body("media/b.pdf", 2)), LambdaContext()
        )
    finally:
        handler.logger.registered_handler.setStream(previous)
        handler.recorder.cache_clear()
    out, err = capfd.readouterr()
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert "cannot connect to Postgres" in log_lines.getvalue()
    for text in (log_lines.getvalue(), out, err, caplog.text, str(response)):
        assert PASSWORD not in text


def test_settings_repr_does_not_show_the_password() -> None:
    """Settings end up in debug output and tracebacks; their repr must not carry the password."""
    settings = Settings.from_env(
        {
            c.ENV_DATABASE_URL: f"postgresql://u:{PASSWORD}@db/app",
            c.ENV_TABLE: "documents_document",
        }
    )
    assert PASSWORD not in repr(settings)
