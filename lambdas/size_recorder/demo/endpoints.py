"""Local stand-ins for AWS and Postgres: moto's server and an embedded Postgres, on 127.0.0.1.

`local_endpoints()` starts them in a private temporary directory and stops and deletes all of it
on the way out, also when the demo is interrupted, so a run leaves no process, socket or file
behind. Nothing here touches a real AWS account: every client gets the moto endpoint and fake
credentials explicitly, whatever the caller's environment holds.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from size_recorder import constants as c

REGION = "us-east-1"
# moto accepts any credentials; these only have to exist so boto3 never looks for real ones.
FAKE_ACCESS_KEY_ID = "demo"
FAKE_SECRET_ACCESS_KEY = "demo"  # noqa: S105 - moto's fake credentials, not a secret

INSTALL_HINT = "install the demo extra: pip install 'size-recorder[demo]' (make demo does this)"

# What stops the demo: Ctrl-C, `kill`, and (SIGHUP) the terminal or tmux pane it runs in closing.
if sys.platform == "win32":
    STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
else:
    STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def heeded_signals() -> list[signal.Signals]:
    """The `STOP_SIGNALS` this process was not started ignoring: `nohup` ignores SIGHUP and a
    script's background job SIGINT, and the demo keeps to what it was told."""
    return [sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]


class DemoSetupError(RuntimeError):
    """Something the demo needs is missing or would not start; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the demo's AWS and Postgres live while it runs."""

    aws_endpoint_url: str
    database_url: str
    embedded_postgres: bool
    workdir: Path

    def client(self, service: str) -> Any:
        """A boto3 client bound to moto, immune to AWS_PROFILE or real credentials around it."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            region_name=REGION,
        )
        return session.client(service, endpoint_url=self.aws_endpoint_url)

    def aws_environment(self) -> dict[str, str]:
        """The variables that point the AWS CLI, boto3 and `size-recorder` at moto."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def psql_command(self) -> str:
        """psql on `$DATABASE_URL` (the bundled psql when none is installed and the demo runs
        its own Postgres)."""
        psql = shutil.which("psql") or ("psql" if not self.embedded_postgres else _bundled_psql())
        return f'{shlex.quote(psql)} "${c.ENV_DATABASE_URL}"'


@contextmanager
def local_endpoints(*, database_url: str | None) -> Iterator[Endpoints]:
    """moto on a free port and Postgres (embedded, or `database_url`), cleaned up on exit."""
    # Short names: Postgres's socket lives in here, and socket paths are limited to ~104 bytes
    # (macOS's TMPDIR alone takes ~50).
    workdir = Path(tempfile.mkdtemp(prefix="size-recorder-"))
    remove_workdir = functools.partial(shutil.rmtree, workdir, ignore_errors=True)
    # Again at exit: pgserver's own exit hook, left armed when its start was interrupted,
    # recreates its lock file under our directory after we removed it.
    atexit.register(remove_workdir)
    stack = ExitStack()
    try:
        stack.callback(remove_workdir)
        aws_endpoint_url = stack.enter_context(_moto_server())
        embedded = database_url is None
        if database_url is None:
            database_url = stack.enter_context(_embedded_postgres(workdir))
        yield Endpoints(aws_endpoint_url, database_url, embedded, workdir)
    finally:
        with interrupts_deferred():
            stack.close()


@contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Hold every `heeded_signals()` until the block is done, then raise KeyboardInterrupt.

    An interrupt in the middle of starting or stopping Postgres would leave its process and
    data directory behind, which is exactly what the demo promises not to do. The block gets
    the list of signals held so far.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in heeded_signals()}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


@contextmanager
def _moto_server() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise DemoSetupError(f"moto's server is not installed ({exc}); {INSTALL_HINT}") from None
    # werkzeug logs every request to stderr even with verbose=False, and a traceback for each
    # action moto lacks (replay tries SQS's move task first, then falls back): the demo has its
    # own display, and the fallback is expected.
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        with interrupts_deferred():
            server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


@contextmanager
def _embedded_postgres(workdir: Path) -> Iterator[str]:
    pgserver = _import_pgserver(workdir / "run")
    server = None
    try:
        with interrupts_deferred() as interrupted:
            try:
                server = pgserver.get_server(workdir / "pg", cleanup_mode="delete")
            except Exception as exc:
                if interrupted:  # Ctrl-C reached initdb or pg_ctl too: not a setup problem
                    raise KeyboardInterrupt from None
                raise DemoSetupError(
                    f"the embedded Postgres did not start ({exc}); set {c.ENV_DATABASE_URL} to "
                    "use a running server instead"
                ) from exc
        yield str(server.get_uri())
    finally:
        if server is not None:
            with interrupts_deferred():
                server.cleanup()


def _import_pgserver(runtime_dir: Path) -> Any:
    """Import pgserver with its lock file in our temporary directory.

    pgserver reads XDG_RUNTIME_DIR once, at import, and keeps a lock file there for good
    (/run/user/<uid>, often missing in containers and CI, or a fallback under /tmp): pointing it
    at our directory makes the lock go away with everything else. A process that imported
    pgserver earlier (a test session) keeps the lock where it already is.
    """
    if "pgserver" not in sys.modules:
        current = os.environ.get("XDG_RUNTIME_DIR")
        runtime_dir.mkdir(mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
        try:
            import pgserver
        except ImportError as exc:
            raise DemoSetupError(f"pgserver is not installed ({exc}); {INSTALL_HINT}") from None
        finally:
            if current is None:
                os.environ.pop("XDG_RUNTIME_DIR", None)
            else:
                os.environ["XDG_RUNTIME_DIR"] = current
    import pgserver

    return pgserver


def _bundled_psql() -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "psql")
