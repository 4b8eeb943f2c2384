"""A real Postgres for the session, a fresh Django-shaped table per test, and recorders on it.

Postgres is real, never mocked: `DATABASE_URL` when it is set, otherwise an embedded server
(pgserver) started once for the session in a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.postgres import DocumentsTable, create_documents_table

if TYPE_CHECKING:
    from size_recorder.adapters.postgres.store import PostgresStore
    from size_recorder.core.recorder import Recorder

# pgserver keeps a lock file under $XDG_RUNTIME_DIR (/run/user/0 by default); give it a private one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="size-recorder-xdg-"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A reachable Postgres, checked once so an unreachable one stops the run with one message."""
    import psycopg

    url = os.environ.get("DATABASE_URL")
    server = None
    if not url:
        import pgserver

        datadir = tmp_path_factory.mktemp("pgdata")
        server = pgserver.get_server(datadir, cleanup_mode="delete")
        url = server.get_uri()
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.exit(f"Postgres is not reachable at DATABASE_URL: {exc}", returncode=3)
    yield url
    if server is not None:
        server.cleanup()


@pytest.fixture
def documents(database_url: str) -> Iterator[DocumentsTable]:
    """A fresh, empty `documents_document` table, dropped after the test."""
    import psycopg

    table = DocumentsTable(url=database_url, schema=f"t_{uuid.uuid4().hex[:12]}")
    create_documents_table(table)
    yield table
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{table.schema}" CASCADE')


@pytest.fixture
def make_recorder() -> Iterator[Callable[[dict[str, str]], Recorder]]:
    """Build recorders from an environment mapping; their connections are closed afterwards."""
    from size_recorder.adapters.wiring import build_recorder, postgres_store
    from size_recorder.core.config import Settings

    stores: list[PostgresStore] = []

    def make(env: dict[str, str]) -> Recorder:
        settings = Settings.from_env(env)
        store = postgres_store(settings)
        recorder = build_recorder(settings, store)
        stores.append(store)
        return recorder

    yield make
    for store in stores:
        store.close()
