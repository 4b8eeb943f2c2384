"""Postgres: the one place that speaks SQL.

One connection per process, opened lazily and reused while the process is warm. Each batch is
one transaction sent as one pipelined round trip: set the timeouts, run one UPDATE per target
(rows given as one JSON parameter, so a 10,000-row batch is still one parameter), commit.

Identifiers come from validated configuration and are quoted with `psycopg.sql`; every value is
a parameter.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from size_recorder.core.config import ConfigError, Target
from size_recorder.core.recorder import SizeWrite, StoreError, WriteStatus

# Types that hold any S3 object's size (up to 5 TiB). An `integer` column would fail the whole
# batch's UPDATE on the first file of 2 GiB, so it is refused at start-up instead.
_SIZE_TYPES = frozenset({"bigint", "numeric"})
_TEXT_TYPES = ("text", "character varying", "character")

# Below this much of the write's time budget, a retry on a new connection is not attempted.
_MIN_RETRY_MS = 100

_STATUS = {status.value: status for status in WriteStatus}


class PostgresStore:
    """The recorder's `SizeStore` on a real Postgres connection."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        targets: Sequence[Target],
        *,
        connect_timeout_s: int,
    ) -> None:
        self._conninfo = conninfo
        self._targets = tuple(targets)
        self._connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        self._verified = False
        # Rendered to text once: the identifiers are plain ASCII (config refuses anything else),
        # so their quoting does not depend on the connection, and no batch composes them again
        # (about 120 Python calls per batch).
        self._statements = {t: _update_statement(t).as_string() for t in self._targets}
        self._locks = {t: _lock_statement(t).as_string() for t in self._targets}

    def write(
        self, writes: Mapping[Target, Sequence[SizeWrite]], *, timeout_ms: int
    ) -> dict[Target, dict[str, WriteStatus]]:
        # `timeout_ms` bounds the whole write, retry included: the recorder derives it from the
        # function's remaining time, so a retry must not start a fresh timeout of its own.
        deadline = time.monotonic() + timeout_ms / 1000
        conn, reused = self._connection()
        try:
            return self._write(conn, writes, timeout_ms)
        except psycopg.Error as exc:
            if not conn.broken or not reused:
                self._discard_if_broken()
                raise StoreError(_describe(exc)) from exc
            lost = exc
        # A reused connection died under us: after a Lambda freeze/thaw the socket is often
        # gone. The write is idempotent, so one retry on a fresh connection is safe.
        self._discard_if_broken()
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms < _MIN_RETRY_MS:
            raise StoreError(f"{_describe(lost)}; no time left to retry") from lost
        conn, _ = self._connection(
            connect_timeout_s=min(self._connect_timeout_s, max(2, math.ceil(left_ms / 1000)))
        )
        try:
            return self._write(conn, writes, left_ms)
        except psycopg.Error as exc:
            self._discard_if_broken()
            raise StoreError(_describe(exc)) from exc

    def verify(self) -> None:
        """Connect now and check the targets' tables and columns; ConfigError names the variable."""
        self._connection()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(
        self, *, connect_timeout_s: int | None = None
    ) -> tuple[psycopg.Connection[Any], bool]:
        if self._conn is not None and not self._conn.closed:
            return self._conn, True
        try:
            conninfo = self._conninfo()
        except ConfigError:
            raise
        except Exception as exc:  # the secret fetch: any failure means "retry later"
            raise StoreError(f"cannot read database credentials: {exc}") from exc
        try:
            conn = psycopg.connect(
                conninfo,
                connect_timeout=connect_timeout_s or self._connect_timeout_s,
                # Server-side prepared statements break behind RDS Proxy and PgBouncer.
                prepare_threshold=None,
                application_name="size-recorder",
                # Notice a peer that vanished (failover, NAT timeout) instead of waiting forever.
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            # `from None`: the cause's message can quote the connection string, password and all.
            raise StoreError(
                f"cannot connect to Postgres: {_connect_failure(exc, conninfo)}"
            ) from None
        if not self._verified:
            try:
                _verify_targets(conn, self._targets)
            except psycopg.Error as exc:  # Postgres going down mid-check is an outage, not config
                conn.close()
                raise StoreError(f"cannot check the configured tables: {_describe(exc)}") from exc
            except BaseException:
                conn.close()
                raise
            self._verified = True
        self._conn = conn
        return conn, False

    def _discard_if_broken(self) -> None:
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            self._conn.close()
            self._conn = None

    def _write(
        self,
        conn: psycopg.Connection[Any],
        writes: Mapping[Target, Sequence[SizeWrite]],
        timeout_ms: int,
    ) -> dict[Target, dict[str, WriteStatus]]:
        statuses: dict[Target, dict[str, WriteStatus]] = {}
        cursors = []
        with conn.pipeline(), conn.transaction():
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('lock_timeout', %s, true)",
                (str(timeout_ms), str(timeout_ms)),
            )
            for target, rows in writes.items():
                # One JSON document for all rows: json.dumps runs in C, where psycopg's array
                # dumper makes about a dozen Python calls per row.
                rows_json = json.dumps(
                    [{"name": w.name, "size": w.size, "seq": w.sequencer} for w in rows]
                )
                conn.execute(self._locks[target], (rows_json,))
                cursors.append((target, conn.execute(self._statements[target], (rows_json,))))
        for target, cursor in cursors:
            # fetchall and a subscript: no Python call per row (iterating a cursor costs five).
            statuses[target] = {name: _STATUS[status] for name, status in cursor.fetchall()}
        return statuses


def _lock_statement(target: Target) -> sql.Composed:
    """Lock the batch's rows in key order before updating them.

    The UPDATE's join locks rows in whatever order its plan visits them, so two recorders
    (concurrent Lambdas) writing overlapping keys could each hold a row the other waits for:
    a deadlock that fails both batches. Taking the locks in one global order first cannot
    deadlock. Needs no more than the recorder's grant (SELECT on the key, UPDATE on a column).
    """
    table = sql.Identifier(*target.table)
    key = sql.Identifier(target.key_column)
    return sql.SQL(
        "SELECT 1 FROM {table} AS t"
        " WHERE t.{key} IN (SELECT name FROM json_to_recordset(%s::json) AS v(name text))"
        " ORDER BY t.{key} FOR UPDATE OF t"
    ).format(table=table, key=key)


def _update_statement(target: Target) -> sql.Composed:
    """UPDATE every row whose key is in the batch; report updated / unchanged / missing per key."""
    table = sql.Identifier(*target.table)
    key = sql.Identifier(target.key_column)
    size = sql.Identifier(target.size_column)
    guard: sql.Composable
    # The statement reads only the key and sequencer columns, so the recorder's role needs
    # SELECT on those alone: rewriting an equal size costs less than a wider grant.
    if target.sequencer_column is None:
        assignments = sql.SQL("{size} = v.size").format(size=size)
        guard = sql.SQL("true")
    else:
        seq = sql.Identifier(target.sequencer_column)
        assignments = sql.SQL("{size} = v.size, {seq} = COALESCE(v.seq, t.{seq})").format(
            size=size, seq=seq
        )
        # Newer means: right-pad the shorter hex sequencer with zeros, compare as bytes.
        guard = sql.SQL(
            "CASE WHEN t.{seq} IS NULL THEN true"
            # An event without a sequencer has no order: it never beats one that has one.
            " WHEN v.seq IS NULL THEN false"
            " ELSE rpad(t.{seq}, greatest(length(t.{seq}), length(v.seq)), '0') COLLATE \"C\""
            " < rpad(v.seq, greatest(length(t.{seq}), length(v.seq)), '0') COLLATE \"C\" END"
        ).format(seq=seq)
    return sql.SQL(
        "WITH v AS ("
        " SELECT * FROM json_to_recordset(%s::json) AS v(name text, size bigint, seq text)),"
        " updated AS ("
        " UPDATE {table} AS t SET {assignments} FROM v"
        " WHERE t.{key} = v.name AND {guard}"
        " RETURNING t.{key} AS name)"
        " SELECT v.name, CASE"
        " WHEN v.name IN (SELECT name FROM updated) THEN 'updated'"
        " WHEN EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = v.name) THEN 'unchanged'"
        " ELSE 'missing' END"
        " FROM v"
    ).format(table=table, assignments=assignments, key=key, guard=guard)


def _verify_targets(conn: psycopg.Connection[Any], targets: Sequence[Target]) -> None:
    """Fail at start-up, naming the variable, instead of failing every message later."""
    for target in targets:
        regclass = sql.Identifier(*target.table).as_string(conn)
        columns = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
                " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                (regclass,),
            ).fetchall()
        )
        conn.rollback()
        if not columns:
            raise ConfigError(
                f"{target.variable('table')}: table {target.table_name!r} does not exist"
            )
        _check_column(target, columns, "key_column", _TEXT_TYPES)
        _check_column(target, columns, "size_column", tuple(_SIZE_TYPES))
        if target.sequencer_column is not None:
            _check_column(target, columns, "sequencer_column", _TEXT_TYPES)


def _check_column(
    target: Target, columns: dict[str, str], field: str, types: tuple[str, ...]
) -> None:
    name = getattr(target, field)
    where = f"{target.variable(field)}: column {name!r}"
    if name not in columns:
        raise ConfigError(f"{where} does not exist in table {target.table_name!r}")
    if columns[name] not in types:
        raise ConfigError(
            f"{where} of {target.table_name!r} is {columns[name]},"
            f" expected one of {', '.join(sorted(types))}"
        )


def _describe(exc: psycopg.Error) -> str:
    """The server's message without the connection string (which may hold a password)."""
    lines = str(exc).strip().splitlines()
    text = exc.diag.message_primary or (lines[0] if lines else type(exc).__name__)
    return f"{text} (SQLSTATE {exc.sqlstate})" if exc.sqlstate else text


def _connect_failure(exc: psycopg.Error, conninfo: str) -> str:
    """Why a connection failed, with no trace of the password.

    libpq's parse errors quote the token they choke on (`invalid percent-encoded token:
    "<password>%zz"`, or the whole URI for a bad IPv6 literal), and that token can be the
    password: for a string libpq cannot parse, say only that it is malformed.
    """
    try:
        password = conninfo_to_dict(conninfo).get("password")
    except psycopg.Error:
        return (
            "the connection string (DATABASE_URL or the secret) is malformed;"
            " libpq's message is withheld because it can quote the password"
        )
    text = _describe(exc)
    if password:
        for form in {str(password), quote(str(password), safe="")}:
            text = text.replace(form, "***")
    return text
