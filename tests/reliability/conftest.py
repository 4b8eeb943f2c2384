"""Fixtures for the reliability suite: a private Postgres this suite may stop, restart and put
behind TLS, and helpers that play SQS's part (redelivering what was not acknowledged).

The private server is separate from the session's shared one so that restarting it disturbs no
other test. It listens on a Unix socket (like the shared one) and on 127.0.0.1 with TLS on,
using a throwaway CA generated here; members of the `password_required` role must authenticate
with a password (scram-sha-256), everyone else is trusted as in pgserver's default.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import pwd
import random
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from size_recorder.core.recorder import Message, Recorder
from tests.support.events import s3_body, s3_record
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA cert, server cert, server key): a throwaway CA and a cert for 127.0.0.1/localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "size-recorder test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "root.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """The suite's own Postgres: Unix socket + 127.0.0.1 with TLS, restartable at will."""
    import pgserver

    # Not under pytest's basetemp: concurrent pytest runs prune each other's numbered dirs there.
    pgdata = Path(tempfile.mkdtemp(prefix="size-recorder-reliability-")) / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    info = server.get_postmaster_info()
    system_user = server.system_user
    pgdata = server.pgdata
    ca_file, cert_file, key_file = _write_certificates(pgdata)
    if system_user is not None:  # as root, postgres runs as `pgserver` and must own its key
        entry = pwd.getpwnam(system_user)
        for path in (cert_file, key_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    key_file.chmod(0o600)
    ca_file.chmod(0o644)
    port = _free_port()
    with (pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = '{info.socket_dir}'\n"
            "password_encryption = 'scram-sha-256'\n"
        )
    hba = pgdata / "pg_hba.conf"
    hba.write_text(
        f"local all +{PASSWORD_GROUP} scram-sha-256\n"
        f"host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
    )
    pg = PrivatePostgres(
        server=server,
        pgdata=pgdata,
        socket_dir=Path(info.socket_dir),
        port=port,
        ca_file=ca_file,
        system_user=system_user,
    )
    # pgserver started postgres with `-h ""` on the command line; drop that so the conf applies.
    pg.pg_ctl("-m", "fast", "-l", str(pgdata / "log"), "-o", "", "restart")
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
    yield pg
    # pgserver's own cleanup only stops the postmaster it started; after a restart that one is
    # gone, so it would delete the data directory under a running server. Stop it here.
    if pg.is_up():
        pg.stop()
    server.cleanup()
    shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture
def private_documents(private_postgres: PrivatePostgres) -> Iterator[DocumentsTable]:
    """A fresh `documents_document` on the private server; the server is up again afterwards."""
    table = private_postgres.table()
    yield table
    if not private_postgres.is_up():
        private_postgres.start()
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{table.schema}" CASCADE')


@dataclass(slots=True)
class Delivery:
    """Plays SQS for a recorder: batches in, acknowledged messages gone, the rest redelivered."""

    recorder: Recorder
    batch_size: int = 100
    rng: random.Random = field(
        default_factory=lambda: random.Random(8)  # noqa: S311 - reproducible shuffles, not secrets
    )
    # Between rounds, as a visibility timeout would make SQS wait before redelivering.
    pause_s: float = 0.0
    rounds: int = 0
    deliveries: int = 0
    failures: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def once(self, messages: Sequence[Message]) -> list[Message]:
        """Deliver every message once, in batches; return the ones not acknowledged."""
        left: list[Message] = []
        for start in range(0, len(messages), self.batch_size):
            chunk = messages[start : start + self.batch_size]
            batch = self.recorder.record(chunk)
            self.deliveries += len(chunk)
            failed = {m.message_id for m in batch.failed}
            self.failures += len(failed)
            self.reasons.update(m.reason()[:100] for m in batch.failed)
            left.extend(
                Message(m.message_id, m.body, m.receive_count + 1)
                for m in chunk
                if m.message_id in failed
            )
        return left

    def until_settled(self, messages: Sequence[Message], *, max_rounds: int = 10) -> None:
        """Redeliver (reshuffled) until every message is acknowledged, as SQS would."""
        pending = list(messages)
        while pending:
            self.rounds += 1
            assert self.rounds <= max_rounds, f"{len(pending)} messages never acknowledged"
            pending = self.once(pending)
            self.rng.shuffle(pending)
            if pending and self.pause_s:
                time.sleep(self.pause_s)


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


_SSL_REQUEST = (80877103).to_bytes(4, "big")
_GSSENC_REQUEST = (80877104).to_bytes(4, "big")


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


@pytest.fixture(scope="session")
def tls_front(private_postgres: PrivatePostgres) -> Iterator[TlsFront]:
    import asyncio
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        private_postgres.pgdata / "server.crt", private_postgres.pgdata / "server.key"
    )
    socket_path = str(private_postgres.socket_dir / f".s.PGSQL.{private_postgres.port}")
    front = TlsFront(port=0)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readexactly(8)
            if first[4:] == _GSSENC_REQUEST:
                writer.write(b"N")
                await writer.drain()
                first = await reader.readexactly(8)
            if first[4:] == _SSL_REQUEST:
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(context)
                front.tls_sessions += 1
                first = b""
            else:
                front.plaintext_sessions += 1
            backend_reader, backend_writer = await asyncio.open_unix_connection(socket_path)
            backend_writer.write(first)
            await asyncio.gather(pipe(reader, backend_writer), pipe(backend_reader, writer))
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", 0)
        front.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield front
    for task in asyncio.all_tasks(loop):
        loop.call_soon_threadsafe(task.cancel)
    thread.join(5)


# Poison: bodies no S3 notification can be, in 27 kinds.


def _record_body(**changes: Any) -> str:
    record = s3_record("media/poison.bin", 1)
    obj = record["s3"]["object"]  # type: ignore[index]
    for name, value in changes.items():
        if name in {"key", "size", "sequencer"}:
            obj[name] = value
        else:
            record[name] = value
    return json.dumps({"Records": [record]})


# Each maker turns a serial number into one bad body; the number keeps every body distinct.
BAD_MAKERS: list[Callable[[int], str]] = [
    lambda n: f"not json {n}",
    lambda n: s3_body(f"media/p{n}", 1)[:-7],  # truncated
    lambda n: json.dumps([n, "a list"]),
    lambda n: json.dumps(n),
    lambda n: json.dumps({"hello": n}),
    lambda n: json.dumps({"Records": [], "n": n}),
    lambda n: json.dumps({"Records": f"not a list {n}"}),
    lambda n: _record_body(eventSource=f"aws:sqs{n}"),
    lambda n: _record_body(size=None, key=f"media/p{n}"),
    lambda n: _record_body(size=-n - 1),
    lambda n: _record_body(size=n + 0.5),
    lambda n: _record_body(size=str(n)),
    lambda n: _record_body(size=2**63 + n),
    lambda n: _record_body(key=f"media/p{n}%00.bin"),
    lambda n: _record_body(key=f"media/{n}" + "x" * 1100),
    lambda n: _record_body(key=f"media/p{n}%ff"),
    lambda n: _record_body(key=f"media/p{n}\ud800"),
    lambda n: _record_body(key=f"media/p{n}", sequencer=f"not-hex-{n}"),
    lambda n: _record_body(key=f"media/p{n}", sequencer=n),
    lambda n: json.dumps({"Type": "Notification", "Message": f"{{not json {n}"}),
    lambda n: json.dumps({"Type": "Notification", "Message": n}),
    lambda n: (
        json.dumps(
            {
                "Type": "Notification",
                "Message": json.dumps({"Type": "Notification", "Message": "{}"}),
            }
        )[:-1]
        + f', "n": {n}}}'
    ),
    lambda n: json.dumps({"source": "aws.s3", "detail-type": "Object Created", "n": n}),
    lambda n: "[" * (1_100 + n) + "]" * (1_100 + n),  # deeper than json's recursion limit
    lambda n: json.dumps({"Records": [{"s3": "x" * 20_000, "n": n}]}),  # a big body
    lambda n: "\x00" * (n % 7 + 1) + str(n),  # SQS refuses these; a Lambda test event may not
    lambda n: " " * (n // len(BAD_MAKERS)),  # empty, then only whitespace
]


def sqs_accepts(body: str) -> bool:
    """SQS refuses empty bodies and control characters other than tab, LF and CR."""
    return bool(body) and all(c >= " " or c in "\t\n\r" for c in body)


def bad_bodies(count: int, *, for_sqs: bool = False) -> list[str]:
    """`count` distinct bad bodies cycling through every kind (SQS-sendable ones if asked)."""
    bodies: list[str] = []
    n = 0
    while len(bodies) < count:
        body = BAD_MAKERS[n % len(BAD_MAKERS)](n)
        n += 1
        if not for_sqs or sqs_accepts(body):
            bodies.append(body)
    assert len(set(bodies)) == count
    return bodies
