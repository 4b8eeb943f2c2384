"""The configured tables checked against the database, once per process, on its one connection.

The recorder and the operator tools both run this before their first statement, so a typo in a
column name stops them at start-up with the variable to fix, instead of failing every message
or every page later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from size_recorder import constants as c
from size_recorder.adapters.postgres.connection import statement_errors
from size_recorder.core.config import ConfigError, Target

# Types that hold any S3 object's size (up to 5 TiB). An `integer` column would fail the whole
# batch's UPDATE on the first file of 2 GiB, so it is refused at start-up instead.
_SIZE_TYPES = ("bigint", "numeric")
_TEXT_TYPES = ("text", "character varying", "character")
# The sequencer ledger's columns; the store's upsert needs a unique index on the first two.
LEDGER_COLUMNS = ("bucket", "key", "sequencer")
_LEDGER_DDL = "docs/configuration.md#the-sequencer-ledger"


def verify_targets(
    conn: psycopg.Connection[Any], targets: Sequence[Target]
) -> dict[Target, int | None]:
    """Raise ConfigError, naming the variable, for a table or column that cannot work.

    Returns the most characters each target's sequencer column holds (None: text, or no
    sequencer column), so a record that cannot fit is refused alone rather than failing the
    batch's statement. Postgres failing mid-check is an outage, not configuration: that raises
    `PostgresError`.
    """
    widths: dict[Target, int | None] = {}
    for target in targets:
        with statement_errors("cannot check the configured tables"):
            columns = _columns(conn, target.table)
        if not columns:
            raise ConfigError(
                f"{target.variable('table')}: table {target.table_name!r} does not exist"
            )
        _check_column(target, columns, "key_column", _TEXT_TYPES)
        _check_column(target, columns, "size_column", _SIZE_TYPES)
        widths[target] = None
        if target.sequencer_column is not None:
            _check_column(target, columns, "sequencer_column", _TEXT_TYPES)
            widths[target] = columns[target.sequencer_column][1]
    return widths


def verify_ledger(conn: psycopg.Connection[Any], ledger: tuple[str, ...]) -> int | None:
    """Raise ConfigError, naming the variable and the DDL, unless `ledger` is a table the store
    can upsert into: text `bucket`, `key` and `sequencer` columns, and a unique index on exactly
    (bucket, key). Returns the most characters its sequencer column holds (None: no limit)."""
    name = ".".join(ledger)
    where = f"{c.ENV_SEQUENCER_LEDGER}={name!r}"
    with statement_errors("cannot check the sequencer ledger"):
        columns = _columns(conn, ledger)
        unique = conn.execute(
            "SELECT 1 FROM pg_index AS i WHERE i.indrelid = to_regclass(%s) AND i.indisunique"
            " AND i.indpred IS NULL AND i.indnkeyatts = 2 AND ("
            " SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute AS a"
            " WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
            ") = ARRAY['bucket', 'key']",
            (sql.Identifier(*ledger).as_string(conn),),
        ).fetchone()
        conn.rollback()
    if not columns:
        raise ConfigError(f"{where}: the table does not exist; create it as {_LEDGER_DDL} shows")
    for column in LEDGER_COLUMNS:
        if column not in columns:
            raise ConfigError(
                f"{where}: the table has no column {column!r}; create it as {_LEDGER_DDL} shows"
            )
        if columns[column][0] not in _TEXT_TYPES:
            raise ConfigError(
                f"{where}: column {column!r} is {columns[column][0]}, expected one of"
                f" {', '.join(sorted(_TEXT_TYPES))}; create it as {_LEDGER_DDL} shows"
            )
    if unique is None:
        raise ConfigError(
            f"{where}: no primary key or unique index on (bucket, key); create it as"
            f" {_LEDGER_DDL} shows"
        )
    return columns["sequencer"][1]


def _columns(
    conn: psycopg.Connection[Any], table: tuple[str, ...]
) -> dict[str, tuple[str, int | None]]:
    """Column name → (type, most characters it holds) of the table; empty when there is no such
    table. For varchar(n) and char(n) `atttypmod` is n + 4; -1 means no limit."""
    regclass = sql.Identifier(*table).as_string(conn)
    columns = {
        name: (type_name, width)
        for name, type_name, width in conn.execute(
            "SELECT attname, format_type(atttypid, NULL),"
            " CASE WHEN atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND atttypmod > 4"
            " THEN atttypmod - 4 END"
            " FROM pg_attribute"
            " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (regclass,),
        ).fetchall()
    }
    # Leave no transaction open on a connection that is not in autocommit mode.
    conn.rollback()
    return columns


def _check_column(
    target: Target,
    columns: dict[str, tuple[str, int | None]],
    field: str,
    types: tuple[str, ...],
) -> None:
    name = getattr(target, field)
    where = f"{target.variable(field)}: column {name!r}"
    if name not in columns:
        raise ConfigError(f"{where} does not exist in table {target.table_name!r}")
    type_name = columns[name][0]
    if type_name not in types:
        raise ConfigError(
            f"{where} of {target.table_name!r} is {type_name},"
            f" expected one of {', '.join(sorted(types))}"
        )
