"""Fixtures for the reliability suite: a private Postgres this suite may stop, restart and put
behind TLS. Helpers are modules beside this one: postgres.py (the server's handle, the TLS
front, the recorder's sessions), delivery.py (SQS's part: redelivering what was not
acknowledged), poison.py (bad bodies of every kind).

The private server is separate from the session's shared one so that restarting it disturbs no
other test. It listens on a Unix socket (like the shared one) and on 127.0.0.1 with TLS on,
using a throwaway CA generated here; members of the `password_required` role must authenticate
with a password (scram-sha-256), everyone else is trusted as in pgserver's default.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.reliability.postgres import PASSWORD_GROUP, PrivatePostgres, TlsFront
from tests.support.postgres import DocumentsTable


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


_SSL_REQUEST = (80877103).to_bytes(4, "big")
_GSSENC_REQUEST = (80877104).to_bytes(4, "big")


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
