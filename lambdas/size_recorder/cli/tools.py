"""What the operator commands (replay, backfill, check) share beyond `cli.common`.

A progress bar on stderr; the report backfill and check print on stdout; option types; one-line
errors for AWS and database failures; the session backfill and check run in.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from size_recorder import constants as c
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.adapters.s3 import MAX_PAGE_SIZE
from size_recorder.cli.common import (
    CommandError,
    console,
    load_settings,
    print_summary,
    verify_store,
)
from size_recorder.core.config import Settings
from size_recorder.core.recorder import StoreError

# Routine items a text report shows before it only counts them (--json lists every one).
SAMPLE = 50


class ProgressBar:
    """`bar(done, total)` advances it (total None: unknown, the bar then just counts).

    Drawn on stderr and only on a terminal, so logs and CI stay readable; it disappears when
    the command ends.
    """

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def __call__(self, done: int, total: int | None) -> None:
        self._progress.update(self._task, completed=done, total=total)

    def print_line(self, text: str) -> None:
        """A whole line on stdout; while the bar is drawn on the same terminal, above it."""
        if self._progress.live.is_started and sys.stdout.isatty():
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            sys.stdout.write(text + "\n")


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressBar]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
        # Lines go to stdout through `ProgressBar.print_line`: rich's redirection would send
        # them to the bar's stream, stderr, even when stdout is a file.
        redirect_stdout=False,
        redirect_stderr=False,
    ) as progress:
        yield ProgressBar(progress, progress.add_task(description, total=None))


class Report:
    """What backfill and check print, in whole lines on stdout, so `> report.txt` keeps it all.

    With `as_json`, one JSON object per line: an item per row reported (`"type"` says which),
    as the run finds them, then the summary (`"type": "summary"`) last. Otherwise a line per
    item, where routine items stop after `SAMPLE` and a line counts the rest, then the summary
    (a table on a terminal, `name: value` lines off one) and its notes.
    """

    def __init__(self, *, as_json: bool, write: Callable[[str], None]) -> None:
        self._as_json = as_json
        self._write = write
        self._routine = 0

    def item(self, record: Mapping[str, Any], text: str, *, always: bool) -> None:
        """One row reported; `always` (rows needing a human) is shown in text even past the
        sample."""
        if self._as_json:
            self._write(json.dumps(record, ensure_ascii=False))
            return
        if not always:
            self._routine += 1
            if self._routine > SAMPLE:
                return
        self._write(f"  {text}")

    def summary(self, command: str, fields: Mapping[str, Any], *, notes: Sequence[str]) -> None:
        if self._as_json:
            line = {"type": "summary", "command": command, **fields, "notes": list(notes)}
            self._write(json.dumps(line, ensure_ascii=False))
            return
        hidden = self._routine - SAMPLE
        if hidden > 0:
            self._write(f"  ... and {hidden:,} more (--json lists every one)")
        print_summary(
            f"size-recorder {command}",
            {name.replace("_", " "): _text(value) for name, value in fields.items()},
            as_json=False,
        )
        for note in notes:
            self._write(note)


def nothing_matched_note(settings: Settings, *, listed: int, bucket: str, prefix: str) -> str:
    """Objects were listed and none names a row: which setting to check, with its value."""
    where = f"{listed:,} object(s) listed under s3://{bucket}/{prefix} and none names a row"
    (first, *others) = settings.targets
    if first.origin == c.ENV_TABLE and not others:
        value = repr(first.prefix) if first.prefix else "unset"
        return (
            f"{where}: check {c.ENV_KEY_PREFIX} (now {value}): a row's "
            f"{first.table_name}.{first.key_column} must hold the key without it"
        )
    prefixes = ", ".join(target.describe() for target in settings.targets)
    return f"{where}: check the prefixes in {c.ENV_TARGETS} (now {prefixes})"


def _text(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:,}" if isinstance(value, int) else str(value)


def positive_int(raw: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def finish_parser(
    parser: argparse.ArgumentParser,
    *,
    run: Callable[[argparse.Namespace], int],
    dry_run: str,
    json_help: str = "print the summary as JSON",
) -> None:
    """--dry-run and --json, which every operator command has, and the command to run."""
    parser.add_argument("--dry-run", action="store_true", help=dry_run)
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.set_defaults(run=run)


def add_bucket_arguments(
    parser: argparse.ArgumentParser, *, page_help: str, bucket_required: bool = True
) -> None:
    """--bucket, --prefix and --page-size, spelled the same for backfill and check."""
    parser.add_argument(
        "--bucket", required=bucket_required, help="the bucket the app stores files in"
    )
    parser.add_argument(
        "--prefix", default="", help="only objects under this key prefix (default: all)"
    )
    parser.add_argument(
        "--page-size",
        type=page_size,
        default=MAX_PAGE_SIZE,
        help=f"{page_help} (1-{MAX_PAGE_SIZE}, default {MAX_PAGE_SIZE})",
    )


def page_size(raw: str) -> int:
    """An argparse type: 1 to 1,000, the most ListObjectsV2 returns per request."""
    value = positive_int(raw)
    if value > MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_PAGE_SIZE}")
    return value


@contextmanager
def operator_errors() -> Iterator[None]:
    """AWS and database failures end the command with one line naming them, not a traceback:
    a missing region or credentials, AccessDenied, an unreachable endpoint or database."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(f"AWS: {exc}") from None
    except StoreError as exc:  # the Postgres adapter's one-line, password-free text
        raise CommandError(f"Postgres: {exc}") from None


@contextmanager
def row_session(description: str) -> Iterator[tuple[Settings, RowStore, ProgressBar]]:
    """What backfill and check run in: settings, a row store on one connection whose tables and
    columns were checked before the first object is listed (so a typo in a column name stops
    the command at once), AWS and database errors as one line, and a progress bar."""
    settings = load_settings()
    rows = RowStore.from_settings(settings)
    try:
        verify_store(rows)
        with operator_errors(), progress_bar(description) as bar:
            yield settings, rows, bar
    finally:
        rows.close()


def print_details(lines: Sequence[str], *, total: int, shown: int = 50) -> None:
    """Itemise what the summary counts (replay's kept messages) as whole lines on stdout, beside
    the summary, so `replay > report.txt` holds them."""
    for line in lines[:shown]:
        sys.stdout.write(f"  {line}\n")
    hidden = total - min(len(lines), shown)
    if hidden > 0:
        sys.stdout.write(f"  ... and {hidden} more (--json lists what was kept)\n")
