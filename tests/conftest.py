"""Fixtures every layer of the suite shares: a real Postgres, a fresh Django-shaped table, and an
AWS environment that can only ever reach moto.

Postgres is real, never mocked: `DATABASE_URL` when it is set, otherwise an embedded server
(pgserver) started once for the session in a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from size_recorder.adapters.postgres.store import PostgresStore
    from size_recorder.core.recorder import Recorder

# pgserver keeps a lock file under $XDG_RUNTIME_DIR (/run/user/0 by default); give it a private one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="size-recorder-xdg-"))

EVENTS_DIR = Path(__file__).parent / "events"


@pytest.fixture(autouse=True)
def _aws_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find real credentials or a real account: moto is the only AWS here."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SizeRecorderTests")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "size-recorder")
    # Clients are cached per process, as in Lambda; each test gets ones built for its endpoint.
    from size_recorder.adapters import sqs

    sqs.sqs_client.cache_clear()
    sqs.queue_url_from_arn_cache_clear()


def load_event(name: str) -> str:
    """A recorded event from tests/events/, as the raw text a queue would deliver."""
    return (EVENTS_DIR / name).read_text(encoding="utf-8")


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
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for key in keys:
                conn.execute(
                    f'INSERT INTO "{self.schema}".{self.name} (file, size_bytes, size_sequencer)'
                    " VALUES (%s, %s, %s)",
                    (key, size, sequencer),
                )

    def sizes(self) -> dict[str, int | None]:
        """file → size_bytes for every row (keys are unique in these tests)."""
        import psycopg

        with psycopg.connect(self.url) as conn:
            rows = conn.execute(f'SELECT file, size_bytes FROM "{self.schema}".{self.name}')
            return dict(rows.fetchall())

    def row(self, key: str) -> tuple[int | None, str | None]:
        """(size_bytes, size_sequencer) of the row holding `key`."""
        import psycopg

        with psycopg.connect(self.url) as conn:
            found = conn.execute(
                f'SELECT size_bytes, size_sequencer FROM "{self.schema}".{self.name}'
                " WHERE file = %s",
                (key,),
            ).fetchone()
        assert found is not None, f"no row for {key!r}"
        return found[0], found[1]


@pytest.fixture
def documents(database_url: str) -> Iterator[DocumentsTable]:
    """A fresh, empty `documents_document` table, dropped after the test."""
    import psycopg

    from tests.support import create_documents_table

    table = DocumentsTable(url=database_url, schema=f"t_{uuid.uuid4().hex[:12]}")
    create_documents_table(table)
    yield table
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{table.schema}" CASCADE')


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 (a free port): real HTTP, S3 → SQS notifications included.

    Shared by the session; tests keep apart by naming their own buckets and queues.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def unique(prefix: str) -> str:
    """A bucket/queue name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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
