"""The Django-shaped documents table the tests write to, and the recorder's environment for it."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from size_recorder import constants as c
from size_recorder.demo import database as demo


@dataclass(frozen=True, slots=True)
class DocumentsTable:
    """A table shaped like a Django model's (`documents_document`) in a schema of its own."""

    url: str
    schema: str
    name: str = "documents_document"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def insert(self, *keys: str, size: int | None = None, sequencer: str | None = None) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for key in keys:
                conn.execute(
                    f'INSERT INTO "{self.schema}".{self.name} (file, size_bytes, size_sequencer)'
                    " VALUES (%s, %s, %s)",
                    (key, size, sequencer),
                )

    def sizes(self) -> dict[str, int | None]:
        """file → size_bytes for every row (keys are unique in these tests)."""
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(f'SELECT file, size_bytes FROM "{self.schema}".{self.name}')
            return dict(rows.fetchall())

    def sizes_of(self, key: str) -> list[int | None]:
        """size_bytes of every row holding `key`, in insertion order."""
        with psycopg.connect(self.url) as conn:
            found = conn.execute(
                f'SELECT size_bytes FROM "{self.schema}".{self.name} WHERE file = %s ORDER BY id',
                (key,),
            )
            return [size for (size,) in found.fetchall()]

    def row(self, key: str) -> tuple[int | None, str | None]:
        """(size_bytes, size_sequencer) of the row holding `key`."""
        with psycopg.connect(self.url) as conn:
            found = conn.execute(
                f'SELECT size_bytes, size_sequencer FROM "{self.schema}".{self.name}'
                " WHERE file = %s",
                (key,),
            ).fetchone()
        assert found is not None, f"no row for {key!r}"
        return found[0], found[1]


def create_documents_table(table: DocumentsTable) -> None:
    """The demo's table (`size_recorder.demo.database`) in the table's own schema, with room for
    the long keys and sequencers the tests send: `file varchar(1024)`, `size_sequencer text`."""
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{table.schema}"')
        demo.create_documents_table(
            conn, table.schema, table.name, file_max_length=1024, sequencer_max_length=None
        )


def recorder_env(table: DocumentsTable, **extra: str) -> dict[str, str]:
    """The recorder's environment for `table`, with django-storages' `media/` location."""
    return {
        c.ENV_DATABASE_URL: table.url,
        c.ENV_TABLE: table.qualified,
        c.ENV_KEY_PREFIX: "media/",
        **extra,
    }
