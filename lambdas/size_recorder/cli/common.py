"""What every subcommand shares: settings from the environment, clear errors, summaries."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.adapters.postgres.store import PostgresStore
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.recorder import Recorder, StoreError

# Exit codes: 0 all done, 1 something left unrepaired/unrecorded, 2 configuration or usage error.
EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_CONFIG = 2

console = Console(stderr=True)


class CommandError(Exception):
    """Stops a subcommand with a one-line message and exit code 2."""


def load_settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:
        raise CommandError(f"configuration error: {exc}") from None


def open_recorder(settings: Settings) -> Recorder:
    """A recorder whose database and targets were checked now, not at the first message."""
    store = postgres_store(settings)
    recorder = build_recorder(settings, store)
    verify_store(store)
    return recorder


def verify_store(store: PostgresStore | RowStore) -> None:
    """Connect now and check the targets' tables and columns on the connection the command goes
    on to use; failures become CommandError."""
    try:
        store.verify()
    except ConfigError as exc:
        raise CommandError(f"configuration error: {exc}") from None
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def fail(message: str) -> int:
    # Escaped: a message quoting a key or `pip install 'size-recorder[extra]'` holds brackets.
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return EXIT_CONFIG


class StopFlag:
    """Set by SIGINT/SIGTERM so a long-running command finishes its batch and exits cleanly."""

    def __init__(self) -> None:
        self.stopped = False

    def install(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        return self

    def __call__(self) -> bool:
        return self.stopped

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopped = True


def print_summary(title: str, rows: Mapping[str, Any], *, as_json: bool) -> None:
    """The closing summary on stdout: one JSON object for scripts; for people, a table on a
    terminal and whole `name: value` lines off one (a file, a pipe), which rich would otherwise
    wrap at 80 columns."""
    if as_json:
        json.dump(dict(rows), sys.stdout, default=str)
        sys.stdout.write("\n")
        return
    out = Console()
    if not out.is_terminal:
        for name, value in rows.items():
            sys.stdout.write(f"{name}: {value}\n")
        return
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows.items():
        table.add_row(name, str(value))
    out.print(table)
