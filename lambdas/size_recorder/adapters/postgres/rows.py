"""Postgres for the operator tools (backfill, check): read rows in pages, fill and fix sizes.

Separate from `store.py` because the work is different: the recorder writes what events say,
while these tools walk a whole table against S3. Everything streams: rows come in keyset pages
or through a server-side cursor, an S3 listing goes into a temporary table rather than into
Python memory, and each write is its own short transaction, so an interrupted run keeps what it
did and a rerun finds only what is left.

One connection per store, opened by `connection.connect` with the targets checked on it, as the
recorder's is; every psycopg error leaves as a one-line `PostgresError`.

Identifiers come from the validated `Target` and are quoted with `psycopg.sql`; values are
parameters. The role needs SELECT on the key and size columns, UPDATE on the size column, and
(for check) TEMPORARY on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from size_recorder.adapters.credentials import conninfo_provider
from size_recorder.adapters.postgres.connection import connect, statement_errors
from size_recorder.adapters.postgres.schema import verify_targets
from size_recorder.core.config import Settings, Target
from size_recorder.core.scope import Scope

# A listing of the bucket, for the length of one `check` session.
_LISTING = sql.Identifier("size_recorder_listing")

# The listing lives in a temporary table: the role needs TEMPORARY on the database.
_LISTING_FAILED = "cannot keep the bucket listing in a temporary table"

DriftKind = Literal["differs", "gone", "still null"]


@dataclass(frozen=True, slots=True)
class DriftRow:
    """A row whose recorded size does not match S3: differs, object gone, or still NULL."""

    kind: DriftKind
    name: str
    recorded: int | None
    actual: int | None


class RowStore:
    """One connection, opened on first use; autocommit, so each statement stands alone.

    Every method raises `PostgresError` when Postgres fails, and `ConfigError` (naming the
    variable) when a configured table or column cannot work.
    """

    def __init__(
        self,
        conninfo: Callable[[], str],
        targets: Sequence[Target],
        *,
        connect_timeout_s: int,
        lock_timeout_ms: int,
    ) -> None:
        self._conninfo = conninfo
        self._targets = tuple(targets)
        self._target_ids = {target: index for index, target in enumerate(self._targets)}
        self._connect_timeout_s = connect_timeout_s
        self._lock_timeout_ms = lock_timeout_ms
        self._conn: psycopg.Connection[Any] | None = None
        self._verified = False

    @classmethod
    def from_settings(cls, settings: Settings) -> RowStore:
        return cls(
            conninfo_provider(settings),
            settings.targets,
            connect_timeout_s=settings.connect_timeout_s,
            lock_timeout_ms=settings.statement_timeout_ms,
        )

    def verify(self) -> None:
        """Connect now and check the targets' tables and columns; ConfigError names the variable."""
        self._connection()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def null_count(self, scope: Scope) -> int:
        """Rows in the scope whose size is NULL (an upper bound: ownership is checked later)."""
        query = sql.SQL("SELECT count(*) FROM {table} WHERE {size} IS NULL AND {in_scope}").format(
            **_names(scope.target), in_scope=_in_scope(scope.target)
        )
        with statement_errors("cannot count the NULL rows"):
            row = self._connection().execute(query, (scope.name_prefix,)).fetchone()
        return int(row[0]) if row else 0

    def null_pages(self, scope: Scope, *, page_size: int) -> Iterator[list[tuple[str, int]]]:
        """(name, rows holding it) for NULL rows, in pages ordered by name.

        Keyset pagination (`name > last`), so filling or skipping rows between pages never
        shifts the next page, and no page ever holds more than `page_size` names.
        """
        query = sql.SQL(
            "SELECT {key}, count(*) FROM {table}"
            " WHERE {size} IS NULL AND {in_scope} AND {key} > %s"
            " GROUP BY {key} ORDER BY {key} LIMIT %s"
        ).format(**_names(scope.target), in_scope=_in_scope(scope.target))
        last = ""  # also skips empty names: a FileField with no file
        while True:
            with statement_errors("cannot read the NULL rows"):
                page = [
                    (str(name), int(count))
                    for name, count in self._connection().execute(
                        query, (scope.name_prefix, last, page_size)
                    )
                ]
            if not page:
                return
            yield page
            last = page[-1][0]

    def fill_null(self, target: Target, sizes: Sequence[tuple[str, int]], *, dry_run: bool) -> int:
        """Set the size of rows still NULL; the rows filled (or that would be, on a dry run).

        `IS NULL` in the same statement means a size the recorder wrote meanwhile always wins.
        """
        if not sizes:
            return 0
        source = sql.SQL("unnest(%s::text[], %s::bigint[]) AS s(name, size)")
        params = ([name for name, _ in sizes], [size for _, size in sizes])
        condition = sql.SQL("t.{size} IS NULL").format(**_names(target))
        return self._apply(target, source, condition, params, dry_run=dry_run)

    def start_listing(self) -> None:
        """An empty temporary table for a bucket listing, private to this connection."""
        create = sql.SQL("CREATE TEMPORARY TABLE {} (target int, name text, size bigint)")
        with statement_errors(_LISTING_FAILED):
            conn = self._connection()
            conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(_LISTING))
            conn.execute(create.format(_LISTING))

    def add_to_listing(self, target: Target, objects: Sequence[tuple[str, int]]) -> None:
        copy = sql.SQL("COPY pg_temp.{} (target, name, size) FROM STDIN").format(_LISTING)
        target_id = self._target_ids[target]
        with statement_errors(_LISTING_FAILED), self._connection().cursor().copy(copy) as writer:
            for name, size in objects:
                writer.write_row((target_id, name, size))

    def finish_listing(self) -> None:
        """Index the listing so the drift queries join instead of scanning it per row."""
        with statement_errors(_LISTING_FAILED):
            conn = self._connection()
            conn.execute(sql.SQL("CREATE INDEX ON pg_temp.{} (target, name)").format(_LISTING))
            conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(_LISTING))

    def drift(self, scope: Scope, *, batch_size: int = 1000) -> Iterator[DriftRow]:
        """Rows in the scope that disagree with the listing, streamed by a server-side cursor."""
        query = sql.SQL(
            "SELECT t.{key}, t.{size}, l.size, l.name IS NOT NULL"
            " FROM {table} AS t LEFT JOIN pg_temp.{listing} AS l"
            " ON l.target = %s AND l.name = t.{key}"
            " WHERE {in_scope} AND t.{key} <> ''"
            " AND (l.name IS NULL OR t.{size} IS DISTINCT FROM l.size)"
        ).format(**_names(scope.target), listing=_LISTING, in_scope=_in_scope(scope.target, "t."))
        conn = self._connection()
        with (
            statement_errors("cannot compare the rows with the listing"),
            conn.transaction(),
            conn.cursor(name="size_recorder_drift") as cursor,
        ):
            cursor.itersize = batch_size
            cursor.execute(query, (self._target_ids[scope.target], scope.name_prefix))
            for name, recorded, actual, listed in cursor:
                kind: DriftKind = (
                    "gone" if not listed else "still null" if recorded is None else "differs"
                )
                yield DriftRow(kind, str(name), recorded, actual)

    def fix_differing(self, target: Target, *, dry_run: bool) -> int:
        """Set each recorded size that differs from the listing to the listed size."""
        source = sql.SQL("pg_temp.{} AS s").format(_LISTING)
        condition = sql.SQL("s.target = %s AND t.{size} IS NOT NULL AND t.{size} <> s.size").format(
            **_names(target)
        )
        return self._apply(target, source, condition, (self._target_ids[target],), dry_run=dry_run)

    def _apply(
        self,
        target: Target,
        source: sql.Composable,
        condition: sql.Composable,
        params: Sequence[Any],
        *,
        dry_run: bool,
    ) -> int:
        """UPDATE rows matching `source` by name under `condition`, or count them (dry run)."""
        if dry_run:
            template = (
                "SELECT count(*) FROM {table} AS t JOIN {source}"
                " ON t.{key} = s.name WHERE {condition}"
            )
        else:
            template = (
                "UPDATE {table} AS t SET {size} = s.size FROM {source}"
                " WHERE t.{key} = s.name AND {condition}"
            )
        query = sql.SQL(template).format(**_names(target), source=source, condition=condition)
        with statement_errors(
            "cannot count the rows to update" if dry_run else "cannot update sizes"
        ):
            cursor = self._connection().execute(query, params)
            if dry_run:
                row = cursor.fetchone()
                return int(row[0]) if row else 0
            return cursor.rowcount

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(
                self._conninfo,
                connect_timeout_s=self._connect_timeout_s,
                application_name="size-recorder-tools",
                autocommit=True,
                setup=self._setup,
            )
        return self._conn

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        # Never queue behind the app's locks for long; the recorder's own writes come first.
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (str(self._lock_timeout_ms),))
        if not self._verified:
            verify_targets(conn, self._targets)
            self._verified = True


def _names(target: Target) -> dict[str, sql.Composable]:
    return {
        "table": sql.Identifier(*target.table),
        "key": sql.Identifier(target.key_column),
        "size": sql.Identifier(target.size_column),
    }


def _in_scope(target: Target, alias: str = "") -> sql.Composable:
    """The name starts with the scope's name prefix (one parameter)."""
    return sql.SQL("starts_with({alias}{key}, %s)").format(
        alias=sql.SQL(alias), key=sql.Identifier(target.key_column)
    )
