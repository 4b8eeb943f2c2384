"""One way to connect, for the recorder and every tool, and one connection per command.

The recorder's store and the operator tools' row store both open their connection through
`adapters.postgres.connection.connect` and check the configured tables on it; a command opens
no second connection just to check them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.adapters.postgres.connection import PostgresError, connect
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.cli import main
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.scope import scopes
from tests.integration.pipeline import Pipeline
from tests.support.postgres import DocumentsTable, recorder_env

# How each command is run against the integration fixtures' bucket and queues.
COMMANDS: dict[str, Callable[[Pipeline], list[str]]] = {
    "backfill": lambda p: ["backfill", "--bucket", p.bucket],
    "check": lambda p: ["check", "--bucket", p.bucket],
    "replay-direct": lambda p: ["replay", "--dlq-url", p.dlq_url, "--mode", "direct"],
    "worker": lambda p: [
        "worker", "--queue-url", p.queue_url, "--exit-when-empty", "--wait-seconds", "0"
    ],
}  # fmt: skip


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The application name of every connection opened from now on (psycopg still connects)."""
    names: list[str] = []
    real_connect = psycopg.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        names.append(str(kwargs.get("application_name")))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counting)
    return names


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_operator_command_opens_one_postgres_connection(
    pipeline: Pipeline, operator_env: DocumentsTable, opened: list[str], command: str
) -> None:
    main(COMMANDS[command](pipeline))

    assert len(opened) == 1, opened


@pytest.mark.parametrize("command", ["backfill", "check"])
def test_backfill_or_check_names_the_variable_of_a_column_that_does_not_exist(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[str],
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.setenv(c.ENV_SIZE_COLUMN, "bytes")

    assert main(COMMANDS[command](pipeline)) == 2

    assert "SIZE_RECORDER_SIZE_COLUMN: column 'bytes' does not exist" in capsys.readouterr().err
    assert opened == ["size-recorder-tools"]  # checked on the tools' own connection


def test_a_row_store_refuses_an_integer_size_column_naming_the_variable(
    documents: DocumentsTable,
) -> None:
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {documents.qualified} ALTER size_bytes TYPE integer")
    settings = Settings.from_env(recorder_env(documents))
    rows = RowStore.from_settings(settings)

    with pytest.raises(ConfigError, match=r"SIZE_RECORDER_SIZE_COLUMN: .* is integer"):
        rows.null_count(scopes(settings, bucket="uploads")[0])


def test_a_row_store_statement_that_fails_raises_one_line_naming_what_it_was_doing(
    documents: DocumentsTable,
) -> None:
    settings = Settings.from_env(recorder_env(documents))
    rows = RowStore.from_settings(settings)
    rows.verify()
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {documents.qualified}")

    with pytest.raises(PostgresError) as raised:
        rows.null_count(scopes(settings, bucket="uploads")[0])
    rows.close()

    assert str(raised.value) == (
        f'cannot count the NULL rows: relation "{documents.qualified}" does not exist'
        " (SQLSTATE 42P01)"
    )


def test_connect_names_itself_keeps_the_socket_alive_and_prepares_nothing(
    database_url: str,
) -> None:
    conn = connect(lambda: database_url, connect_timeout_s=5, application_name="size-recorder-x")
    try:
        options = {o.keyword.decode(): (o.val or b"").decode() for o in conn.pgconn.info}
        row = conn.execute("SELECT current_setting('application_name')").fetchone()
    finally:
        conn.close()

    assert row == ("size-recorder-x",)
    assert conn.prepare_threshold is None  # RDS Proxy and PgBouncer refuse prepared statements
    assert options["keepalives"] == "1"
    assert options["keepalives_idle"] == "30"
    assert options["connect_timeout"] == "5"
    assert not conn.autocommit


def test_connect_closes_the_connection_when_its_setup_fails(database_url: str) -> None:
    kept: list[psycopg.Connection[Any]] = []

    def setup(conn: psycopg.Connection[Any]) -> None:
        kept.append(conn)
        raise ConfigError("SIZE_RECORDER_TABLE: no")

    with pytest.raises(ConfigError):
        connect(lambda: database_url, connect_timeout_s=5, application_name="x", setup=setup)

    assert kept[0].closed
