"""The recorder's store: the batched write of the sizes events report.

One connection per process (opened by `connection.connect`, the targets checked on it once),
opened lazily and reused while the process is warm. Each batch is
one transaction sent as one pipelined round trip: set the timeouts, advance the sequencer ledger
(when configured), run one UPDATE per target (rows given as one JSON parameter, so a 10,000-row
batch is still one parameter), commit.

The sequencer ledger (`SIZE_RECORDER_SEQUENCER_LEDGER`) keeps the newest sequencer seen per key,
whether or not a row held the key's name then. A row's own sequencer only knows the events that
reached it: a row inserted, replaced or renamed after its key's newest event was consumed holds
NULL, and would take any older event still queued. With the ledger, an event is applied only if
it is the newest its key has had.

Identifiers come from validated configuration and are quoted with `psycopg.sql`; every value is
a parameter.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from size_recorder.adapters.postgres.connection import PostgresError, connect, describe
from size_recorder.adapters.postgres.schema import verify_ledger, verify_targets
from size_recorder.core.config import Target
from size_recorder.core.events import is_newer
from size_recorder.core.recorder import SizeWrite, WriteStatus

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
        sequencer_ledger: tuple[str, ...] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._targets = tuple(targets)
        self._connect_timeout_s = connect_timeout_s
        self._ledger = sequencer_ledger
        # The ledger orders by sequencer: only targets with a sequencer column use it.
        self._ledgered = frozenset(
            t for t in self._targets if sequencer_ledger is not None and t.sequencer_column
        )
        self._conn: psycopg.Connection[Any] | None = None
        self._widths: dict[Target, int | None] | None = None  # set once the targets are checked
        # Rendered to text once: the identifiers are plain ASCII (config refuses anything else),
        # so their quoting does not depend on the connection, and no batch composes them again
        # (about 120 Python calls per batch).
        self._statements = {
            t: _update_statement(t, sequencer_ledger if t in self._ledgered else None).as_string()
            for t in self._targets
        }
        self._locks = {t: _lock_statement(t).as_string() for t in self._targets}
        self._ledger_upsert = (
            None if sequencer_ledger is None else _ledger_statement(sequencer_ledger).as_string()
        )

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
                raise PostgresError(describe(exc)) from exc
            lost = exc
        # A reused connection died under us: after a Lambda freeze/thaw the socket is often
        # gone. The write is idempotent, so one retry on a fresh connection is safe.
        self._discard_if_broken()
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms < _MIN_RETRY_MS:
            raise PostgresError(f"{describe(lost)}; no time left to retry") from lost
        conn, _ = self._connection(
            connect_timeout_s=min(self._connect_timeout_s, max(2, math.ceil(left_ms / 1000)))
        )
        try:
            return self._write(conn, writes, left_ms)
        except psycopg.Error as exc:
            self._discard_if_broken()
            raise PostgresError(describe(exc)) from exc

    def sequencer_widths(self) -> dict[Target, int | None]:
        """Read off the columns when the targets were checked, on the first connection."""
        if self._widths is None:
            self._connection()
        assert self._widths is not None  # the first connection's setup checked the targets
        return self._widths

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
        self._conn = connect(
            self._conninfo,
            connect_timeout_s=connect_timeout_s or self._connect_timeout_s,
            application_name="size-recorder",
            setup=None if self._widths is not None else self._verify,
        )
        return self._conn, False

    def _verify(self, conn: psycopg.Connection[Any]) -> None:
        widths = verify_targets(conn, self._targets)
        if self._ledger is not None:
            # A sequencer is written to the ledger too: it must fit both columns.
            ledger_width = verify_ledger(conn, self._ledger)
            for target in self._ledgered:
                fits = [w for w in (widths[target], ledger_width) if w is not None]
                widths[target] = min(fits, default=None)
        self._widths = widths

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
            if self._ledger_upsert is not None:
                # First, and for every key at once: its rows are locked in one global order.
                entries = self._ledger_entries(writes)
                if entries:
                    conn.execute(self._ledger_upsert, (json.dumps(entries),))
            for target, rows in writes.items():
                # One JSON document for all rows: json.dumps runs in C, where psycopg's array
                # dumper makes about a dozen Python calls per row.
                rows_json = json.dumps(
                    [{"name": w.name, "size": w.size, "seq": w.sequencer} for w in rows]
                )
                conn.execute(self._locks[target], (rows_json,))
                params: tuple[str, ...] = (rows_json,)
                if target in self._ledgered:
                    params = (*_ledger_key(target), rows_json)
                cursors.append((target, conn.execute(self._statements[target], params)))
        for target, cursor in cursors:
            # fetchall and a subscript: no Python call per row (iterating a cursor costs five).
            statuses[target] = {name: _STATUS[status] for name, status in cursor.fetchall()}
        return statuses

    def _ledger_entries(self, writes: Mapping[Target, Sequence[SizeWrite]]) -> list[dict[str, str]]:
        """One entry per (bucket, key) with the batch's newest sequencer for it: one upsert
        statement cannot update a ledger row twice."""
        newest: dict[tuple[str, str], str] = {}
        for target, rows in writes.items():
            if target not in self._ledgered:
                continue
            bucket, location = _ledger_key(target)
            for write in rows:
                if write.sequencer is None:
                    continue  # no order: it cannot advance the ledger
                key = (bucket, location + write.name)
                if is_newer(write.sequencer, newest.get(key)):
                    newest[key] = write.sequencer
        return [{"bucket": b, "key": k, "seq": seq} for (b, k), seq in newest.items()]


def _ledger_key(target: Target) -> tuple[str, str]:
    """The ledger's bucket for the target's rows, and what precedes a row's name in its key.

    A target that takes any bucket keys its rows by name alone, so its ledger entries are
    keyed the same way: bucket ''.
    """
    return target.bucket or "", target.key_of("")


def _newer(old: str, new: str) -> str:
    """SQL: whether sequencer `new` is newer than `old` (both non-NULL). As the S3 User Guide
    says and `core.events.is_newer` does: right-pad the shorter with zeros, compare as bytes."""
    width = f"greatest(length({old}), length({new}))"
    return f"rpad({old}, {width}, '0') COLLATE \"C\" < rpad({new}, {width}, '0') COLLATE \"C\""


def _ledger_statement(ledger: tuple[str, ...]) -> sql.Composed:
    """Record each key's newest sequencer, keeping the one already there when it is newer.

    Rows are inserted (or, on conflict, locked) in (bucket, key) order, the same in every
    recorder, so two concurrent batches with overlapping keys wait for each other instead of
    deadlocking. A conflicting row is locked even when the WHERE leaves it unchanged, so the
    batch's UPDATEs read a newest sequencer no concurrent batch can change before the commit.
    """
    return sql.SQL(
        "INSERT INTO {ledger} AS l (bucket, key, sequencer)"
        " SELECT v.bucket, v.key, v.seq"
        " FROM json_to_recordset(%s::json) AS v(bucket text, key text, seq text)"
        " ORDER BY v.bucket, v.key"
        " ON CONFLICT (bucket, key) DO UPDATE SET sequencer = excluded.sequencer, seen_at = now()"
        " WHERE " + _newer("l.sequencer", "excluded.sequencer")
    ).format(ledger=sql.Identifier(*ledger))


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


def _update_statement(target: Target, ledger: tuple[str, ...] | None) -> sql.Composed:
    """UPDATE every row whose key is in the batch; report updated / unchanged / missing per key.

    With a ledger, also superseded: a row would have taken the event by its own sequencer, but
    the ledger held a newer one for the key.

    Its parameters: with a ledger, the ledger's bucket and the location (`_ledger_key`), then
    the rows; without, the rows alone.
    """
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
        guard = sql.SQL(
            "CASE WHEN t.{seq} IS NULL THEN true"
            # An event without a sequencer has no order: it never beats one that has one.
            " WHEN v.seq IS NULL THEN false"
            " ELSE " + _newer("t.{seq}", "v.seq") + " END"
        ).format(seq=seq)
    newest: sql.Composable = sql.SQL("")
    superseded: sql.Composable = sql.SQL("")
    if ledger is not None:
        # The ledger already holds this batch's sequencers (its upsert ran first in this
        # transaction): an event is applied only if no newer one was ever seen for its key,
        # whether or not a row held the key's name then.
        newest = sql.SQL(
            ", (SELECT l.sequencer FROM {ledger} AS l"
            " WHERE l.bucket = %s AND l.key = %s || v.name) AS newest"
        ).format(ledger=sql.Identifier(*ledger))
        ledger_takes = sql.SQL(
            "(v.newest IS NULL OR (v.seq IS NOT NULL AND NOT ("
            + _newer("v.seq", "v.newest")
            + ")))"
        )
        # A key not updated whose row would have taken the event by its own sequencer: only
        # the ledger refused it. The row is looked up only when the ledger did refuse, so a
        # redelivery (the ledger holds the event itself) costs no second lookup. The
        # statement's snapshot shows the rows as the UPDATE saw them.
        superseded = sql.SQL(
            " WHEN NOT {ledger_takes}"
            " AND EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = v.name AND {guard})"
            " THEN 'superseded'"
        ).format(ledger_takes=ledger_takes, table=table, key=key, guard=guard)
        guard = sql.SQL("{guard} AND {ledger_takes}").format(guard=guard, ledger_takes=ledger_takes)
    return sql.SQL(
        "WITH v AS ("
        " SELECT v.*{newest}"
        " FROM json_to_recordset(%s::json) AS v(name text, size bigint, seq text)),"
        " updated AS ("
        " UPDATE {table} AS t SET {assignments} FROM v"
        " WHERE t.{key} = v.name AND {guard}"
        " RETURNING t.{key} AS name)"
        " SELECT v.name, CASE"
        " WHEN v.name IN (SELECT name FROM updated) THEN 'updated'"
        "{superseded}"
        " WHEN EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = v.name) THEN 'unchanged'"
        " ELSE 'missing' END"
        " FROM v"
    ).format(
        table=table,
        assignments=assignments,
        key=key,
        guard=guard,
        newest=newest,
        superseded=superseded,
    )
