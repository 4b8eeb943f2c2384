"""The unit tests' in-memory store (tests/unit/fake_store.py) answers as the Postgres store does.

Every combination of a row (none, no sequencer, a sequencer) and a write (no sequencer, older,
equal, equal once right-padded, newer but shorter) goes to both stores in one write each; the
statuses and the rows left behind must be the same. If this fails, the core's unit tests are
testing against a store that does not exist.
"""

from __future__ import annotations

import itertools

import pytest

from size_recorder.adapters.postgres.store import PostgresStore
from size_recorder.core.config import Target
from size_recorder.core.recorder import SizeWrite
from tests.support.postgres import DocumentsTable
from tests.unit.fake_store import InMemorySizeStore, Row

SEQUENCER = "0055AED6DCD90281E5"
ROWS = {"no row": None, "no sequencer": Row(5, None), "sequencer": Row(5, SEQUENCER)}
WRITE_SEQUENCERS = {
    "none": None,
    "older": "0055AED6DCD90281E4FF",
    "equal": SEQUENCER,
    "equal padded": SEQUENCER + "00",
    "newer shorter": "0055AED6DCD90282",
}


@pytest.mark.parametrize("sequencer_column", ["size_sequencer", None], ids=["sequenced", "plain"])
def test_the_in_memory_store_answers_as_postgres_does(
    documents: DocumentsTable, sequencer_column: str | None
) -> None:
    target = Target(table=(documents.schema, documents.name), sequencer_column=sequencer_column)
    fake = InMemorySizeStore()
    writes, existing = [], []
    for (row_label, row), (write_label, write_sequencer) in itertools.product(
        ROWS.items(), WRITE_SEQUENCERS.items()
    ):
        name = f"{row_label} / {write_label}"
        if row is not None:
            documents.insert(name, size=row.size, sequencer=row.sequencer)
            fake.insert(target, name, size=row.size, sequencer=row.sequencer)
            existing.append(name)
        writes.append(SizeWrite(name, 7, write_sequencer))
    postgres = PostgresStore(lambda: documents.url, [target], connect_timeout_s=5)
    try:
        expected = postgres.write({target: writes}, timeout_ms=5_000)
    finally:
        postgres.close()

    assert fake.write({target: writes}, timeout_ms=5_000) == expected
    assert fake.rows[target] == {name: Row(*documents.row(name)) for name in existing}
