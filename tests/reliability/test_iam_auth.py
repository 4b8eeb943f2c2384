"""IAM database authentication against a real Postgres: the token is the login password, sent
only over TLS (verify-full with a named CA bundle), and never shown when the login fails.

The private server's `password_required` roles log in with scram-sha-256, so a role whose
password is a real boto3 token stands in for RDS checking the token; the TLS front plays RDS's
TLS endpoint.
"""

from __future__ import annotations

import io
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

import boto3
import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.adapters.credentials import IamAuthConninfo
from size_recorder.adapters.postgres.store import PostgresStore
from size_recorder.aws_lambda import handler
from size_recorder.core.config import Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder, StoreError
from tests.reliability.postgres import PASSWORD_GROUP, PrivatePostgres, TlsFront
from tests.support.events import s3_body, sqs_event
from tests.support.lambda_context import LambdaContext
from tests.support.postgres import DocumentsTable


@pytest.fixture
def token() -> str:
    """A real token (presigned URL: `&`, `=`, `%`, `:` and `/` inside), used as a password."""
    client = boto3.client("rds", region_name="eu-west-1")
    token: str = client.generate_db_auth_token(
        DBHostname="127.0.0.1", Port=5432, DBUsername="iam_user", Region="eu-west-1"
    )
    return token


@pytest.fixture
def iam_role(
    private_postgres: PrivatePostgres, private_documents: DocumentsTable, token: str
) -> Iterator[str]:
    """A role that logs in only with `token` and may fill the table's size column."""
    name = f"iam_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{token}' IN ROLE {PASSWORD_GROUP}")
        conn.execute(f'GRANT USAGE ON SCHEMA "{private_documents.schema}" TO {name}')
        conn.execute(
            f"GRANT SELECT (file), UPDATE (size_bytes) ON {private_documents.qualified} TO {name}"
        )
    yield name
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")


def iam_recorder(
    table: DocumentsTable, *, user: str, port: int, sign: Callable[[str, int, str], str], **env: str
) -> tuple[Recorder, PostgresStore]:
    settings = Settings.from_env(
        {
            c.ENV_TABLE: table.qualified,
            c.ENV_KEY_PREFIX: "media/",
            c.ENV_DB_IAM_USER: user,
            c.ENV_DB_HOST: "127.0.0.1",
            c.ENV_DB_PORT: str(port),
            c.ENV_DB_NAME: "postgres",
            **env,
        }
    )
    store = PostgresStore(
        IamAuthConninfo(settings, sign=sign), settings.targets, connect_timeout_s=5
    )
    return Recorder(settings, store), store


def test_iam_recorder_records_over_verified_tls(
    private_postgres: PrivatePostgres,
    tls_front: TlsFront,
    private_documents: DocumentsTable,
    iam_role: str,
    token: str,
) -> None:
    private_documents.insert("a.pdf")
    before = tls_front.tls_sessions
    recorder, store = iam_recorder(
        private_documents,
        user=iam_role,
        port=tls_front.port,
        sign=lambda host, port, user: token,
        **{c.ENV_DB_SSL_ROOT_CERT: str(private_postgres.ca_file)},
    )
    batch = recorder.record([Message("m", s3_body("media/a.pdf", 9))])
    store.close()
    assert batch.failed == ()
    assert tls_front.tls_sessions > before
    assert private_documents.sizes() == {"a.pdf": 9}


def test_iam_recorder_never_logs_in_without_tls(
    private_postgres: PrivatePostgres,
    tls_front: TlsFront,
    private_documents: DocumentsTable,
    iam_role: str,
    token: str,
) -> None:
    """The server's own port speaks no TLS: sslmode=require refuses it before any password is
    sent, although the role and token would be accepted there."""
    private_documents.insert("a.pdf")
    recorder, store = iam_recorder(
        private_documents,
        user=iam_role,
        port=private_postgres.port,
        sign=lambda host, port, user: token,
    )
    batch = recorder.record([Message("m", s3_body("media/a.pdf", 9))])
    store.close()
    (failed,) = batch.failed
    assert failed.records[0].outcome is Outcome.FAILED
    assert "server does not support SSL" in failed.reason()
    assert private_documents.sizes() == {"a.pdf": None}


def test_rejected_token_is_in_no_store_error_or_traceback(
    private_postgres: PrivatePostgres,
    tls_front: TlsFront,
    private_documents: DocumentsTable,
    iam_role: str,
    token: str,
) -> None:
    """A token the server refuses (expired, signed for another user) fails with the server's
    message; neither that token, its percent-encoded form nor its signature is in the error."""
    refused = token.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    _, store = iam_recorder(
        private_documents,
        user=iam_role,
        port=tls_front.port,
        sign=lambda host, port, user: refused,
        **{c.ENV_DB_SSL_ROOT_CERT: str(private_postgres.ca_file)},
    )
    with pytest.raises(StoreError) as raised:
        store.verify()
    shown = "".join(traceback.format_exception(raised.value))
    assert "password authentication failed" in shown
    for form in (refused, quote(refused, safe=""), refused.split("X-Amz-Signature=")[1]):
        assert form not in shown


def test_lambda_handler_logs_never_contain_the_token(
    private_postgres: PrivatePostgres,
    tls_front: TlsFront,
    private_documents: DocumentsTable,
    iam_role: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The deployed path: the handler signs a real token with boto3 (its value unknown here,
    and not the role's password), the login fails, and no output holds any part of a token."""
    for name, value in {
        c.ENV_TABLE: private_documents.qualified,
        c.ENV_KEY_PREFIX: "media/",
        c.ENV_DB_IAM_USER: iam_role,
        c.ENV_DB_HOST: "127.0.0.1",
        c.ENV_DB_PORT: str(tls_front.port),
        c.ENV_DB_NAME: "postgres",
        c.ENV_DB_SSL_ROOT_CERT: str(private_postgres.ca_file),
        c.ENV_AWS_REGION: "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(c.ENV_DATABASE_URL, raising=False)
    handler.recorder.cache_clear()
    caplog.set_level(logging.DEBUG)
    log_lines = io.StringIO()  # Powertools keeps the stdout it found at import
    previous = handler.logger.registered_handler.setStream(log_lines)
    try:
        response = handler.lambda_handler(sqs_event(s3_body("media/a.pdf", 1)), LambdaContext())
    finally:
        handler.logger.registered_handler.setStream(previous)
        handler.recorder.cache_clear()
    out, err = capfd.readouterr()
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert "password authentication failed" in log_lines.getvalue()
    for text in (log_lines.getvalue(), out, err, caplog.text):
        for part in ("X-Amz-Signature", "X-Amz-Credential", "Action=connect"):
            assert part not in text
