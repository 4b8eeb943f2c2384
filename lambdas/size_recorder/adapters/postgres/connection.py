"""Connecting to Postgres, for the recorder and every tool alike, and errors safe to log.

One place decides how a connection is opened (timeouts, keepalives, no server-side prepared
statements, an application name) and how a psycopg error becomes text: libpq's messages can
quote the connection string, password included, so no psycopg error leaves this package with
its own text. Everything becomes `PostgresError`, whose message is one line without the password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from size_recorder.core.config import ConfigError
from size_recorder.core.recorder import StoreError

# Notice a peer that vanished (failover, NAT timeout) within about a minute, instead of waiting
# on a dead socket forever.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

_MALFORMED = (
    "the connection string (DATABASE_URL or the secret) is malformed;"
    " libpq's message is withheld because it can quote the password"
)


class PostgresError(StoreError):
    """Postgres could not be reached or refused a statement; the text holds no password.

    A `StoreError`, so the recorder fails (and retries) the batch's records on it.
    """


def connect(
    conninfo: Callable[[], str],
    *,
    connect_timeout_s: int,
    application_name: str,
    autocommit: bool = False,
    setup: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> psycopg.Connection[Any]:
    """A new connection; `conninfo` is called each time, so a rotated secret is read again.

    `setup` runs on the new connection before it is returned (checking the tables, setting a
    session option); if it raises, the connection is closed. Raises `PostgresError`, or the
    `ConfigError` that the credentials or `setup` raise.
    """
    try:
        text = conninfo()
    except ConfigError:
        raise
    except Exception as exc:  # the secret fetch: any failure means "retry later"
        raise PostgresError(f"cannot read database credentials: {exc}") from exc
    conn = _open(
        text,
        autocommit=autocommit,
        connect_timeout=connect_timeout_s,
        # Server-side prepared statements break behind RDS Proxy and PgBouncer.
        prepare_threshold=None,
        application_name=application_name,
        **_KEEPALIVES,
    )
    if isinstance(conn, str):
        # Raised outside any `except`, so not even `__context__` keeps libpq's message.
        raise PostgresError(f"cannot connect to Postgres: {conn}")
    if setup is not None:
        try:
            with statement_errors("cannot prepare the connection"):
                setup(conn)
        except BaseException:
            conn.close()
            raise
    return conn


@contextmanager
def statement_errors(doing: str | None = None) -> Iterator[None]:
    """psycopg errors raised inside become `PostgresError`: one line, prefixed with `doing`."""
    try:
        yield
    except psycopg.Error as exc:
        # A statement's error carries no connection string, so the cause may stay attached.
        raise PostgresError(f"{doing}: {describe(exc)}" if doing else describe(exc)) from exc


def _open(conninfo: str, **options: Any) -> psycopg.Connection[Any] | str:
    """The connection, or why it failed in words safe to log."""
    try:
        return psycopg.connect(conninfo, **options)
    except (psycopg.Error, UnicodeError) as exc:  # a surrogate in the string: not UTF-8
        return _connect_failure(exc, conninfo)


def describe(exc: psycopg.Error) -> str:
    """The server's message without the connection string (which may hold a password)."""
    lines = str(exc).strip().splitlines()
    text = exc.diag.message_primary or (lines[0] if lines else type(exc).__name__)
    return f"{text} (SQLSTATE {exc.sqlstate})" if exc.sqlstate else text


def _connect_failure(exc: psycopg.Error | UnicodeError, conninfo: str) -> str:
    """Why a connection failed, with no trace of the password.

    libpq's parse errors quote the token they choke on (`invalid percent-encoded token:
    "<password>%zz"`, or the whole URI for a bad IPv6 literal), and that token can be the
    password: for a string libpq cannot parse, say only that it is malformed.
    """
    try:
        password = conninfo_to_dict(conninfo).get("password")
    except (psycopg.Error, UnicodeError):
        return _MALFORMED
    if isinstance(exc, UnicodeError):
        return "the connection string (DATABASE_URL or the secret) is not valid UTF-8"
    text = describe(exc)
    if password:
        for form in {str(password), quote(str(password), safe="")}:
            text = text.replace(form, "***")
    return text
