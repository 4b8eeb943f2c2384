"""Postgres for the operator tools (backfill, check, and both from an inventory report): read
rows in pages, fill and fix sizes.

Separate from `store.py` because the work is different: the recorder writes what events say,
while these tools walk a whole table against S3. Everything streams: rows come in keyset pages
or through a server-side cursor, an S3 listing goes into a temporary table rather than into
Python memory, and each write is its own short transaction, so an interrupted run keeps what it
did and a rerun finds only what is left.

Every write is a compare-and-set on what the tool read before it looked at S3: a fill needs the
size still NULL and the sequencer still the one read, a fix needs the size and sequencer still
the ones read, on every row holding the name. An event recorded in between changes one of them,
so the tool's older view of S3 never overwrites it.

One connection per store, opened by `connection.connect` with the targets checked on it, as the
recorder's is; every psycopg error leaves as a one-line `PostgresError`.

Identifiers come from the validated `Target` and are quoted with `psycopg.sql`; values are
parameters. The role needs SELECT on the key, size and sequencer columns, UPDATE on the size
column, and (for check, from a listing or an inventory) TEMPORARY on the database.
"""

from __future__ import annotations

import json
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

# For one `check` session: the rows as read before the listing, and the bucket's listing.
_READ = sql.Identifier("size_recorder_read")
_LISTING = sql.Identifier("size_recorder_listing")
# For one `check --inventory` session: the names an inventory report holds, and the rows in scope
# it does not.
_REPORTED = sql.Identifier("size_recorder_reported")
_UNREPORTED = sql.Identifier("size_recorder_unreported")

# Both live in temporary tables: the role needs TEMPORARY on the database.
_TEMPORARY_FAILED = "cannot keep the rows read and the bucket listing in temporary tables"

DriftKind = Literal["differs", "gone", "still null"]


@dataclass(frozen=True, slots=True)
class DriftRow:
    """A row whose size, as read before the listing, does not match S3.

    `fixed`: the fix set (on a dry run: would set) the listed size; False for a row that
    differed but changed after it was read, and for every row a fix does not touch.
    """

    kind: DriftKind
    name: str
    recorded: int | None
    actual: int | None
    fixed: bool


@dataclass(frozen=True, slots=True)
class NullRows:
    """Rows in scope whose size is NULL, sharing a name and a sequencer (as read)."""

    name: str
    sequencer: str | None  # set: the row's last recorded event was a delete
    rows: int


@dataclass(frozen=True, slots=True)
class Filled:
    rows: int  # rows filled (on a dry run: that would be)
    names_matched: int  # names given that at least one row holds, NULL or not


@dataclass(frozen=True, slots=True)
class RowsRead:
    """Rows sharing a name, size and sequencer, as one statement read them."""

    name: str
    size: int | None
    sequencer: str | None
    rows: int
    # Every row holding the name, as read (`_signature`): a fix needs all of them unchanged.
    signature: str


@dataclass(frozen=True, slots=True)
class Compared:
    """Names from an inventory report, compared with the rows holding them in one statement."""

    names_matched: int  # names given that at least one row holds
    # Rows whose size is not the reported one, each with the size the report gives.
    disagreeing: tuple[tuple[RowsRead, int], ...]


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

    # ---- backfill ---------------------------------------------------------------------------

    def null_count(self, scope: Scope) -> int:
        """Rows in the scope whose size is NULL (an upper bound: ownership is checked later)."""
        query = sql.SQL(
            "SELECT count(*) FROM {table} AS t"
            " WHERE t.{size} IS NULL AND {in_scope} AND t.{key} <> ''"
        ).format(**_names(scope.target), in_scope=_in_scope(scope.target))
        with statement_errors("cannot count the NULL rows"):
            row = self._connection().execute(query, (scope.name_prefix,)).fetchone()
        return int(row[0]) if row else 0

    def null_pages(self, scope: Scope, *, page_size: int) -> Iterator[list[NullRows]]:
        """NULL rows in the scope, grouped by name and sequencer, in pages ordered by name.

        Keyset pagination (past the last name and sequencer), so filling or skipping rows
        between pages never shifts the next page, and no page holds more than `page_size`
        groups. Empty names (a FileField with no file) are skipped.
        """
        query = sql.SQL(
            "SELECT t.{key}, {seq}, count(*) FROM {table} AS t"
            " WHERE t.{size} IS NULL AND {in_scope} AND t.{key} <> ''"
            # The first bound lets an index on the key start the scan at the last name.
            " AND t.{key} >= %s AND (t.{key}, {after_seq}) > (%s, %s)"
            " GROUP BY 1, 2 ORDER BY 1, {after_seq} LIMIT %s"
        ).format(
            **_names(scope.target),
            seq=_sequencer(scope.target),
            # Sequencers are hex digits, so '' sorts a NULL one before any real one.
            after_seq=sql.SQL("COALESCE({}, '')").format(_sequencer(scope.target)),
            in_scope=_in_scope(scope.target),
        )
        last: tuple[str, str] = ("", "")
        while True:
            with statement_errors("cannot read the NULL rows"):
                page = [
                    NullRows(str(name), None if seq is None else str(seq), int(count))
                    for name, seq, count in self._connection().execute(
                        query, (scope.name_prefix, last[0], *last, page_size)
                    )
                ]
            if not page:
                return
            yield page
            last = (page[-1].name, page[-1].sequencer or "")

    def fill_listed(
        self, target: Target, sizes: Sequence[tuple[str, int]], *, dry_run: bool
    ) -> Filled:
        """Set the listed size of rows still NULL whose sequencer is NULL too.

        `IS NULL` in the same statement means a size the recorder wrote meanwhile always wins.
        A NULL size with a sequencer is a recorded delete: the listing may predate it, and
        filling would bring a deleted object's size back, so those rows are left alone.
        """
        if not sizes:
            return Filled(0, 0)
        source = sql.SQL("(SELECT {}) AS s").format(_JSON_SIZES)
        params = (_json_sizes(sizes),)
        condition = sql.SQL("t.{size} IS NULL").format(**_names(target))
        if target.sequencer_column is not None:
            condition = sql.SQL("{} AND t.{} IS NULL").format(
                condition, sql.Identifier(target.sequencer_column)
            )
        return self._fill(target, source, condition, params, dry_run=dry_run)

    def fill_read(
        self, target: Target, found: Sequence[tuple[NullRows, int]], *, dry_run: bool
    ) -> int:
        """Set the size of NULL rows whose sequencer is still the one read before S3 was asked.

        The size S3 gave is newer than that read, so it is right for the row unless an event
        was recorded since, which changes the sequencer (or the size): those rows are left.
        """
        if not found:
            return 0
        source = sql.SQL("unnest(%s::text[], %s::text[], %s::bigint[]) AS s(name, seq, size)")
        params = (
            [rows.name for rows, _ in found],
            [rows.sequencer for rows, _ in found],
            [size for _, size in found],
        )
        condition = sql.SQL("t.{size} IS NULL AND {seq} IS NOT DISTINCT FROM s.seq").format(
            **_names(target), seq=_sequencer(target)
        )
        return self._fill(target, source, condition, params, dry_run=dry_run).rows

    # ---- check --------------------------------------------------------------------------------

    def read_rows(self, scopes: Sequence[Scope]) -> int:
        """Read every named row in the scopes (key, size, sequencer) into a temporary table, and
        start an empty listing beside it; the rows read.

        Called before S3 is listed: a fix may then set a listed size only on rows that still
        hold what was read, since a row that changed after its read may hold a newer event than
        the listing shows.
        """
        conn = self._connection()
        self._create_temporary(
            _READ, "target int, name text, size bigint, seq text, fixed bool DEFAULT false"
        )
        self._create_temporary(_LISTING, "target int, name text, size bigint")
        read = 0
        for scope in scopes:
            insert = sql.SQL(
                "INSERT INTO pg_temp.{read} (target, name, size, seq)"
                " SELECT %s, t.{key}, t.{size}, {seq} FROM {table} AS t"
                " WHERE {in_scope} AND t.{key} <> ''"
            ).format(
                **_names(scope.target),
                read=_READ,
                seq=_sequencer(scope.target),
                in_scope=_in_scope(scope.target),
            )
            with statement_errors("cannot read the rows"):
                cursor = conn.execute(insert, (self._target_ids[scope.target], scope.name_prefix))
            read += cursor.rowcount
        self._index(_READ)
        return read

    def add_to_listing(self, target: Target, objects: Sequence[tuple[str, int]]) -> None:
        copy = sql.SQL("COPY pg_temp.{} (target, name, size) FROM STDIN").format(_LISTING)
        target_id = self._target_ids[target]
        with statement_errors(_TEMPORARY_FAILED), self._connection().cursor().copy(copy) as writer:
            for name, size in objects:
                writer.write_row((target_id, name, size))

    def finish_listing(self) -> None:
        self._index(_LISTING)

    def listed_with_a_row(self) -> int:
        """Listed objects whose name a row read holds."""
        query = sql.SQL(
            "SELECT count(*) FROM pg_temp.{listing} AS l WHERE EXISTS ("
            " SELECT 1 FROM pg_temp.{read} AS r WHERE r.target = l.target AND r.name = l.name)"
        ).format(listing=_LISTING, read=_READ)
        with statement_errors("cannot match the listing to the rows"):
            row = self._connection().execute(query).fetchone()
        return int(row[0]) if row else 0

    def fix_differing(self, target: Target, *, dry_run: bool) -> int:
        """Set the listed size on rows that differed when read and still hold what was read
        (size and sequencer), where every row holding the name still does; the rows fixed, or on
        a dry run that would be. Either way the rows read are marked, so `drift` tells fixed
        rows from rows that changed since.

        The rows of a name are compared as a whole because rows are told apart by what they
        hold: with two rows of one name read as 4036 and 0, an event setting both to 0 makes the
        first look like the second as read, and a per-row compare would give it the older 4036.
        """
        names = _names(target)
        # Names that differ somewhere, whose rows now hold what was read, all of them.
        steady = sql.SQL(
            "steady AS (SELECT d.name FROM (SELECT DISTINCT r.name"
            " FROM pg_temp.{read} AS r JOIN pg_temp.{listing} AS l"
            " ON l.target = r.target AND l.name = r.name"
            " WHERE r.target = %(target)s AND r.size <> l.size) AS d"
            " WHERE (SELECT {was} FROM pg_temp.{read} AS r"
            "  WHERE r.target = %(target)s AND r.name = d.name)"
            " = (SELECT {now} FROM {table} AS t WHERE t.{key} = d.name))"
        ).format(
            **names,
            read=_READ,
            listing=_LISTING,
            was=_signature(sql.SQL("r.size"), sql.SQL("r.seq")),
            now=_signature(sql.SQL("t.{}").format(names["size"]), _sequencer(target)),
        )
        differs_and_unchanged = sql.SQL(
            "r.target = %(target)s AND l.target = r.target AND l.name = r.name"
            " AND r.size <> l.size AND t.{key} = r.name"
            " AND t.{size} IS NOT DISTINCT FROM r.size AND {seq} IS NOT DISTINCT FROM r.seq"
            " AND r.name IN (SELECT name FROM steady)"
        ).format(**names, seq=_sequencer(target))
        if dry_run:
            query = sql.SQL(
                "WITH {steady} UPDATE pg_temp.{read} AS r SET fixed = true"
                " FROM pg_temp.{listing} AS l, {table} AS t WHERE {condition}"
            )
        else:
            # The app's rows first, then the marks: RETURNING names the row read that each fix
            # matched, so a row that changed since is never marked.
            query = sql.SQL(
                "WITH {steady}, fixed AS ("
                " UPDATE {table} AS t SET {size} = l.size"
                " FROM pg_temp.{read} AS r, pg_temp.{listing} AS l WHERE {condition}"
                " RETURNING r.name, r.size, r.seq)"
                " UPDATE pg_temp.{read} AS r SET fixed = true FROM fixed AS f"
                " WHERE r.target = %(target)s AND r.name = f.name AND r.size = f.size"
                " AND r.seq IS NOT DISTINCT FROM f.seq"
            )
        statement = query.format(
            **names, read=_READ, listing=_LISTING, condition=differs_and_unchanged, steady=steady
        )
        with statement_errors("cannot count the rows to fix" if dry_run else "cannot fix sizes"):
            return (
                self._connection().execute(statement, {"target": self._target_ids[target]}).rowcount
            )

    def drift(self, scope: Scope, *, batch_size: int = 1000) -> Iterator[DriftRow]:
        """Rows read in the scope that disagree with the listing, by name, streamed by a
        server-side cursor."""
        query = sql.SQL(
            "SELECT r.name, r.size, l.size, l.name IS NOT NULL, r.fixed"
            " FROM pg_temp.{read} AS r LEFT JOIN pg_temp.{listing} AS l"
            " ON l.target = r.target AND l.name = r.name"
            " WHERE r.target = %s AND (l.name IS NULL OR r.size IS DISTINCT FROM l.size)"
            " ORDER BY r.name"
        ).format(read=_READ, listing=_LISTING)
        conn = self._connection()
        with (
            statement_errors("cannot compare the rows with the listing"),
            conn.transaction(),
            conn.cursor(name="size_recorder_drift") as cursor,
        ):
            cursor.itersize = batch_size
            cursor.execute(query, (self._target_ids[scope.target],))
            for name, recorded, actual, listed, fixed in cursor:
                kind: DriftKind = (
                    "gone" if not listed else "still null" if recorded is None else "differs"
                )
                yield DriftRow(kind, str(name), recorded, actual, bool(fixed))

    # ---- inventory ----------------------------------------------------------------------------

    def compare_reported(self, target: Target, sizes: Sequence[tuple[str, int]]) -> Compared:
        """Read the rows holding these names and return those whose size is not the reported
        one: one statement, so only disagreeing rows cross the network.

        Names must be distinct. A fix of what this returns must be a compare-and-set on it
        (`set_read`): the rows were read here, after the report was taken.
        """
        if not sizes:
            return Compared(0, ())
        query = sql.SQL(
            "WITH s AS (SELECT {sizes}),"
            " r AS (SELECT s.name, s.size AS reported, t.{size} AS size, {seq} AS seq"
            " FROM s JOIN {table} AS t ON t.{key} = s.name),"
            " d AS (SELECT name, size, seq, reported, count(*) AS rows FROM r"
            "  WHERE size IS DISTINCT FROM reported GROUP BY 1, 2, 3, 4),"
            # One pass over the disagreeing names' rows: a subquery per group scans `r` once
            # for each, quadratic in a chunk of NULL rows (10,000 of them: 11.4 s against
            # 0.15-0.23 s, this method alone against a 10,000-row table on this 2-core machine).
            " g AS (SELECT r.name, {signature} AS signature FROM r"
            "  WHERE r.name IN (SELECT name FROM d) GROUP BY r.name)"
            " SELECT (SELECT count(DISTINCT name) FROM r),"
            " (SELECT json_agg(json_build_array("
            "   d.name, d.size, d.seq, d.rows, d.reported, g.signature))"
            "  FROM d JOIN g ON g.name = d.name)"
        ).format(
            **_names(target),
            seq=_sequencer(target),
            sizes=_JSON_SIZES,
            signature=_signature(sql.SQL("r.size"), sql.SQL("r.seq")),
        )
        with statement_errors("cannot compare the rows with the inventory"):
            row = self._connection().execute(query, (_json_sizes(sizes),)).fetchone()
        if row is None:
            return Compared(0, ())
        matched, disagreeing = row
        return Compared(
            int(matched),
            tuple(
                (RowsRead(str(name), size, seq, int(rows), str(signature)), int(reported))
                for name, size, seq, rows, reported, signature in disagreeing or ()
            ),
        )

    def set_read(
        self, target: Target, sizes: Sequence[tuple[RowsRead, int]], *, dry_run: bool
    ) -> dict[RowsRead, int]:
        """Set each size on the rows that still hold the size and sequencer read, where every row
        holding the name still holds what was read (see `fix_differing`); how many rows of each
        group read were set (on a dry run: would be). Groups missing from the answer changed
        since they were read."""
        if not sizes:
            return {}
        source = sql.SQL(
            "unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::bigint[])"
            " AS s(name, read_size, read_seq, read_signature, size)"
        )
        names = _names(target)
        still_read = sql.SQL(
            "t.{key} = s.name AND t.{size} IS NOT DISTINCT FROM s.read_size"
            " AND {seq} IS NOT DISTINCT FROM s.read_seq"
            " AND (SELECT {now} FROM {table} AS t WHERE t.{key} = s.name) = s.read_signature"
        ).format(
            **names,
            seq=_sequencer(target),
            now=_signature(sql.SQL("t.{}").format(names["size"]), _sequencer(target)),
        )
        if dry_run:
            template = (
                "SELECT s.name, s.read_size, s.read_seq, count(*)"
                " FROM {source} JOIN {table} AS t ON {still_read} GROUP BY 1, 2, 3"
            )
        else:
            template = (
                "WITH done AS (UPDATE {table} AS t SET {size} = s.size FROM {source}"
                " WHERE {still_read} RETURNING s.name, s.read_size, s.read_seq)"
                " SELECT name, read_size, read_seq, count(*) FROM done GROUP BY 1, 2, 3"
            )
        query = sql.SQL(template).format(**_names(target), source=source, still_read=still_read)
        params = (
            [read.name for read, _ in sizes],
            [read.size for read, _ in sizes],
            [read.sequencer for read, _ in sizes],
            [read.signature for read, _ in sizes],
            [size for _, size in sizes],
        )
        groups = {(read.name, read.size, read.sequencer): read for read, _ in sizes}
        with statement_errors("cannot count the rows to fix" if dry_run else "cannot fix sizes"):
            done = self._connection().execute(query, params).fetchall()
        return {groups[(name, size, seq)]: int(count) for name, size, seq, count in done}

    def start_reported(self) -> None:
        """An empty temporary table for the names an inventory report holds."""
        self._create_temporary(_REPORTED, "target int, name text")

    def add_reported(self, target: Target, names: Sequence[str]) -> None:
        insert = sql.SQL(
            "INSERT INTO pg_temp.{} (target, name)"
            " SELECT %s, value FROM json_array_elements_text(%s::json)"
        ).format(_REPORTED)
        with statement_errors(_TEMPORARY_FAILED):
            self._connection().execute(insert, (self._target_ids[target], json.dumps(names)))

    def collect_unreported(self, scopes: Sequence[Scope]) -> int:
        """Read the rows in the scopes whose name the report does not hold (key, size,
        sequencer) into a temporary table; how many rows. One anti-join per scope (a hash
        join: an index on the names would cost more to build than it saves)."""
        with statement_errors(_TEMPORARY_FAILED):
            self._connection().execute(sql.SQL("ANALYZE pg_temp.{}").format(_REPORTED))
        self._create_temporary(
            _UNREPORTED,
            "id bigserial PRIMARY KEY, target int, name text, size bigint, seq text, rows int,"
            " signature text",
        )
        for scope in scopes:
            insert = sql.SQL(
                "INSERT INTO pg_temp.{unreported} (target, name, size, seq, rows, signature)"
                " SELECT %(target)s, g.name, g.size, g.seq, g.rows,"
                " (SELECT {now} FROM {table} AS t WHERE t.{key} = g.name) FROM ("
                " SELECT t.{key} AS name, t.{size} AS size, {seq} AS seq, count(*) AS rows"
                " FROM {table} AS t"
                " WHERE starts_with(t.{key}, %(name_prefix)s) AND t.{key} <> ''"
                " AND NOT EXISTS (SELECT 1 FROM pg_temp.{reported} AS r"
                "  WHERE r.target = %(target)s AND r.name = t.{key})"
                " GROUP BY 1, 2, 3) AS g ORDER BY 2"
            ).format(
                **_names(scope.target),
                seq=_sequencer(scope.target),
                unreported=_UNREPORTED,
                reported=_REPORTED,
                now=_signature(
                    sql.SQL("t.{}").format(sql.Identifier(scope.target.size_column)),
                    _sequencer(scope.target),
                ),
            )
            params = {"target": self._target_ids[scope.target], "name_prefix": scope.name_prefix}
            with statement_errors("cannot find the rows the inventory does not list"):
                self._connection().execute(insert, params)
        with statement_errors("cannot find the rows the inventory does not list"):
            row = (
                self._connection()
                .execute(
                    sql.SQL("SELECT coalesce(sum(rows), 0) FROM pg_temp.{}").format(_UNREPORTED)
                )
                .fetchone()
            )
        return int(row[0]) if row else 0

    def unreported_pages(self, scope: Scope, *, page_size: int) -> Iterator[list[RowsRead]]:
        """The rows `collect_unreported` found in the scope, in pages ordered by name."""
        query = sql.SQL(
            "SELECT id, name, size, seq, rows, signature FROM pg_temp.{}"
            " WHERE target = %s AND id > %s ORDER BY id LIMIT %s"
        ).format(_UNREPORTED)
        last = 0
        while True:
            with statement_errors("cannot read the rows the inventory does not list"):
                page = (
                    self._connection()
                    .execute(query, (self._target_ids[scope.target], last, page_size))
                    .fetchall()
                )
            if not page:
                return
            yield [
                RowsRead(str(name), size, seq, int(rows), str(signature))
                for _, name, size, seq, rows, signature in page
            ]
            last = int(page[-1][0])

    # ---- shared -------------------------------------------------------------------------------

    def _create_temporary(self, table: sql.Identifier, columns: str) -> None:
        conn = self._connection()
        with statement_errors(_TEMPORARY_FAILED):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(table))
            conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({})").format(table, sql.SQL(columns)))

    def _index(self, table: sql.Identifier) -> None:
        """Index a temporary table so the comparisons join instead of scanning it per row."""
        with statement_errors(_TEMPORARY_FAILED):
            conn = self._connection()
            conn.execute(sql.SQL("CREATE INDEX ON pg_temp.{} (target, name)").format(table))
            conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(table))

    def _fill(
        self,
        target: Target,
        source: sql.Composable,
        condition: sql.Composable,
        params: Sequence[Any],
        *,
        dry_run: bool,
    ) -> Filled:
        """Set `s.size` on rows named by `source` under `condition` (or count them, on a dry run),
        and count the names any row holds; one statement."""
        if dry_run:
            template = (
                "WITH s AS (SELECT * FROM {source})"
                " SELECT (SELECT count(*) FROM {table} AS t JOIN s ON t.{key} = s.name"
                " WHERE {condition}), {matched}"
            )
        else:
            template = (
                "WITH s AS (SELECT * FROM {source}),"
                " filled AS (UPDATE {table} AS t SET {size} = s.size FROM s"
                " WHERE t.{key} = s.name AND {condition} RETURNING 1)"
                " SELECT (SELECT count(*) FROM filled), {matched}"
            )
        # Reads the rows as they were before the UPDATE: matching needs only the key.
        matched = sql.SQL(
            "(SELECT count(*) FROM s"
            " WHERE EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = s.name))"
        ).format(**_names(target))
        query = sql.SQL(template).format(
            **_names(target), source=source, condition=condition, matched=matched
        )
        with statement_errors("cannot count the rows to fill" if dry_run else "cannot fill sizes"):
            row = self._connection().execute(query, params).fetchone()
        return Filled(int(row[0]), int(row[1])) if row else Filled(0, 0)

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


# (name, size) pairs travel as one JSON object, parsed by Postgres: psycopg adapts a Python list
# element by element, and two lists of 10,000 took 4x the time of `json.dumps` of the pairs.
_JSON_SIZES = sql.SQL("key AS name, value::bigint AS size FROM json_each_text(%s::json)")


def _json_sizes(sizes: Sequence[tuple[str, int]]) -> str:
    """Pairs with distinct names, as `_JSON_SIZES` reads them."""
    return json.dumps(dict(sizes))


def _names(target: Target) -> dict[str, sql.Composable]:
    return {
        "table": sql.Identifier(*target.table),
        "key": sql.Identifier(target.key_column),
        "size": sql.Identifier(target.size_column),
    }


def _sequencer(target: Target) -> sql.Composable:
    """The row's sequencer (`t.` the app's table), or NULL for a target without the column."""
    if target.sequencer_column is None:
        return sql.SQL("NULL::text")
    return sql.SQL("t.{}").format(sql.Identifier(target.sequencer_column))


def _signature(size: sql.Composable, seq: sql.Composable) -> sql.Composable:
    """An aggregate of the size and sequencer of every row it runs over, the same for the same
    multiset: what the rows of one name hold, to compare as a whole before a fix."""
    return sql.SQL(
        "string_agg(coalesce({size}::text, '') || '/' || coalesce({seq}, ''), ','"
        " ORDER BY {size} NULLS FIRST, {seq} NULLS FIRST)"
    ).format(size=size, seq=seq)


def _in_scope(target: Target) -> sql.Composable:
    """The name (`t.` the app's table) starts with the scope's name prefix (one parameter)."""
    return sql.SQL("starts_with(t.{key}, %s)").format(key=sql.Identifier(target.key_column))
