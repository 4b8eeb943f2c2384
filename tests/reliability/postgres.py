"""The reliability suite's private Postgres (restartable, with TCP + TLS on 127.0.0.1), the TLS
front that stands before it, and what a test asks about the recorder's sessions on a server.

Members of the `password_required` role (PASSWORD_GROUP) must authenticate with a password
(scram-sha-256); everyone else is trusted as in pgserver's default.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from tests.support.postgres import DocumentsTable, create_documents_table

PASSWORD_GROUP = "password_required"


@dataclass(slots=True)
class PrivatePostgres:
    """A pgserver instance owned by this suite: restartable, with TCP + TLS on 127.0.0.1."""

    server: object
    pgdata: Path
    socket_dir: Path
    port: int
    ca_file: Path
    system_user: str | None

    @property
    def url(self) -> str:
        """Superuser over the Unix socket (libpq never uses TLS on a socket)."""
        return f"postgresql://postgres@/postgres?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, *, user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", *args], pgdata=self.pgdata, user=self.system_user, timeout=30)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self.pg_ctl("-l", str(self.pgdata / "log"), "start")

    def restart(self) -> None:
        """A fast restart: every session is terminated, the server is back within ~0.3 s."""
        self.pg_ctl("-m", "fast", "-l", str(self.pgdata / "log"), "restart")

    def is_up(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def table(self) -> DocumentsTable:
        """A fresh Django-shaped table in a schema of its own on this server."""
        table = DocumentsTable(url=self.url, schema=f"t_{uuid.uuid4().hex[:12]}")
        create_documents_table(table)
        return table


@dataclass(slots=True)
class TlsFront:
    """A TLS front for the private server (its pgserver build has no TLS): it answers libpq's
    SSLRequest, completes the handshake with the throwaway CA's certificate for 127.0.0.1 and
    localhost, and relays the session to the server's Unix socket. It counts what it saw."""

    port: int
    tls_sessions: int = 0
    plaintext_sessions: int = 0

    def url(
        self, *, user: str = "postgres", password: str | None = None, host: str = "127.0.0.1"
    ) -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@{host}:{self.port}/postgres?hostaddr=127.0.0.1"


def recorder_pids(url: str) -> list[int]:
    """Backends of recorders connected to the server at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'size-recorder'"
        ).fetchall()
    return [row[0] for row in rows]


def wait_for_lock_wait(url: str, *, timeout_s: float = 10) -> int:
    """The pid of a recorder backend once it waits on a row lock."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'size-recorder'"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.02)
    raise AssertionError("the recorder never waited on the lock")


def with_index_driven_plan(url: str) -> str:
    """`url` with the plan a large table gets: the batch's rows drive the UPDATE through the key
    index, so rows are met (and, without the store's ordered locks, locked) in each batch's own
    order."""
    options = "-c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off"
    return url + ("&" if "?" in url else "?") + "options=" + quote(options)
