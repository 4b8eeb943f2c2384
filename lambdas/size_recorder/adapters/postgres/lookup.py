"""What the recorder's write would find, without writing: the store `size-recorder status` runs
the core on.

`RowLookup` is a `SizeStore` whose `write` changes nothing. It reads the rows each name would
update (one SELECT per target) and answers with the status the recorder's own write
(`store.PostgresStore`) would return now: MISSING where no row holds the name, UNCHANGED where
the target has a sequencer column and every row already holds this or a newer event, UPDATED
otherwise. `Recorder.record` run on it therefore gives each dead letter the outcome and reason
the function would give it now, in the core's own words.

Read-only twice over: it only SELECTs, and its session sets `default_transaction_read_only`,
so a bug here cannot write. The role needs SELECT on the key and sequencer columns, which the
recorder's and the operator's roles have. It connects at most once: a status run does not wait
twice on a database that did not answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from size_recorder.adapters.credentials import conninfo_provider
from size_recorder.adapters.postgres.connection import PostgresError, connect, statement_errors
from size_recorder.adapters.postgres.schema import verify_targets
from size_recorder.core.config import Settings, Target
from size_recorder.core.events import is_newer
from size_recorder.core.recorder import SizeWrite, WriteStatus


class RowLookup:
    """Raises `ConfigError` (naming the variable) for a table or column that cannot work, and
    `PostgresError` when Postgres cannot be reached or refuses a read."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        targets: Sequence[Target],
        *,
        connect_timeout_s: int,
        statement_timeout_ms: int,
    ) -> None:
        self._conninfo = conninfo
        self._targets = tuple(targets)
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_ms = statement_timeout_ms
        self._conn: psycopg.Connection[Any] | None = None
        self._widths: dict[Target, int | None] = {}
        self._failure: PostgresError | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RowLookup:
        return cls(
            conninfo_provider(settings),
            settings.targets,
            connect_timeout_s=settings.connect_timeout_s,
            statement_timeout_ms=settings.statement_timeout_ms,
        )

    def verify(self) -> None:
        """Connect now and check the targets' tables and columns."""
        self._connection()

    def sequencer_widths(self) -> dict[Target, int | None]:
        self._connection()
        return self._widths

    def write(
        self, writes: Mapping[Target, Sequence[SizeWrite]], *, timeout_ms: int
    ) -> dict[Target, dict[str, WriteStatus]]:
        """The status each write would get; nothing is written."""
        conn = self._connection()
        with statement_errors("cannot set the statement timeout"):
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout_ms),))
        statuses: dict[Target, dict[str, WriteStatus]] = {}
        for target, rows in writes.items():
            with statement_errors(f"cannot read {target.table_name}"):
                found = conn.execute(_select(target), ([w.name for w in rows],)).fetchall()
            held: defaultdict[str, list[str | None]] = defaultdict(list)
            for name, sequencer in found:
                held[str(name)].append(None if sequencer is None else str(sequencer))
            statuses[target] = {w.name: _status(target, w, held.get(w.name)) for w in rows}
        return statuses

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._failure is not None:
            raise self._failure
        if self._conn is None:
            try:
                self._conn = connect(
                    self._conninfo,
                    connect_timeout_s=self._connect_timeout_s,
                    application_name="size-recorder-status",
                    autocommit=True,
                    setup=self._setup,
                )
            except PostgresError as exc:
                self._failure = exc
                raise
        return self._conn

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "SELECT set_config('default_transaction_read_only', 'on', false),"
            " set_config('statement_timeout', %s, false)",
            (str(self._statement_timeout_ms),),
        )
        self._widths = verify_targets(conn, self._targets)


def _select(target: Target) -> sql.Composed:
    sequencer: sql.Composable = (
        sql.SQL("NULL::text")
        if target.sequencer_column is None
        else sql.SQL("t.{}").format(sql.Identifier(target.sequencer_column))
    )
    return sql.SQL(
        "SELECT t.{key}, {seq} FROM {table} AS t WHERE t.{key} = ANY(%s::text[])"
    ).format(
        key=sql.Identifier(target.key_column),
        seq=sequencer,
        table=sql.Identifier(*target.table),
    )


def _status(target: Target, write: SizeWrite, held: list[str | None] | None) -> WriteStatus:
    """As the recorder's UPDATE decides: without a sequencer column every row is written; with
    one, a row is written when it holds no event yet or an older one than the write's."""
    if not held:
        return WriteStatus.MISSING
    if target.sequencer_column is None:
        return WriteStatus.UPDATED
    if any(current is None or is_newer(write.sequencer, current) for current in held):
        return WriteStatus.UPDATED
    return WriteStatus.UNCHANGED
