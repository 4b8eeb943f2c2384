"""The sequencer ledger's documented SQL, run as printed (names swapped for this test's): the
table (docs/configuration.md), the grants (security.md for the recorder, operations.md for the
operator) and the pruning DELETE; then the recorder, under the role the grants made, refuses an
older event for a row created after its key's newest event was recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Recorder
from tests.support.postgres import DocumentsTable, recorder_env
from tests.test_docs import (
    OPERATOR_ROLE,
    RECORDER_ROLE,
    marked_sql,
    record_one,
    role,
    run_grant,
)

__all__ = ["role"]  # the fixture, imported so that pytest finds it here

DOCS_LEDGER = "public.size_recorder_sequencers"


def ledger_here(
    sql_text: str, *, table: DocumentsTable, roles: tuple[str, str] | None = None
) -> str:
    """The documented ledger SQL with this test's schema, and `roles` (documented, this
    test's) swapped in when it grants."""
    assert DOCS_LEDGER in sql_text, f"the documented SQL no longer names {DOCS_LEDGER}"
    sql_text = sql_text.replace(DOCS_LEDGER, f'"{table.schema}".size_recorder_sequencers')
    if roles is not None:
        docs_role, role = roles
        assert re.search(rf"\b{docs_role}\b", sql_text), f"the grant no longer names {docs_role}"
        sql_text = re.sub(rf"\b{docs_role}\b", f'"{role}"', sql_text)
    return sql_text


def as_owner(table: DocumentsTable, sql_text: str) -> None:
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(sql_text)


@pytest.mark.parametrize(
    ("marker", "docs_role"),
    [
        pytest.param("recorder-grant", RECORDER_ROLE, id="recorder"),
        pytest.param("operator-grant", OPERATOR_ROLE, id="operator"),
    ],
)
def test_documented_ledger_lets_the_role_refuse_an_older_event_for_a_replaced_row(
    marker: str,
    docs_role: str,
    documents: DocumentsTable,
    role: str,
    make_recorder: Callable[[dict[str, str]], Recorder],
) -> None:
    as_owner(
        documents,
        ledger_here(marked_sql("sequencer-ledger"), table=documents),
    )
    url = run_grant(marked_sql(marker), docs_role=docs_role, role=role, table=documents)
    as_owner(
        documents,
        ledger_here(marked_sql(f"{marker}-ledger"), table=documents, roles=(docs_role, role)),
    )
    documents.insert("uploads/a.pdf")
    env = {
        c.ENV_DATABASE_URL: url,
        c.ENV_SEQUENCER_COLUMN: "size_sequencer",
        c.ENV_SEQUENCER_LEDGER: f"{documents.schema}.size_recorder_sequencers",
    }
    recorder = make_recorder(recorder_env(documents, **env))
    assert record_one(recorder, sequencer="0B", size=200) == [Outcome.RECORDED]
    # The app replaces the row: the new one's sequencer is NULL.
    as_owner(documents, f'DELETE FROM "{documents.schema}".{documents.name}')
    documents.insert("uploads/a.pdf")

    assert record_one(recorder, sequencer="0A", size=100) == [Outcome.STALE]
    assert documents.row("uploads/a.pdf") == (None, None)
    assert record_one(recorder, sequencer="0B", size=200) == [Outcome.RECORDED]
    assert documents.row("uploads/a.pdf") == (200, "0B")


def test_documented_prune_keeps_a_key_seen_within_the_window(documents: DocumentsTable) -> None:
    ledger = f'"{documents.schema}".size_recorder_sequencers'
    as_owner(
        documents,
        ledger_here(marked_sql("sequencer-ledger"), table=documents),
    )
    as_owner(
        documents,
        f"INSERT INTO {ledger} (bucket, key, sequencer, seen_at) VALUES"
        " ('', 'media/old.pdf', '0A', now() - interval '60 days'),"
        " ('', 'media/new.pdf', '0B', now() - interval '1 day')",
    )

    as_owner(
        documents,
        ledger_here(marked_sql("sequencer-ledger-prune"), table=documents),
    )

    with psycopg.connect(documents.url) as conn:
        keys = conn.execute(f"SELECT key FROM {ledger}").fetchall()
    assert keys == [("media/new.pdf",)]
