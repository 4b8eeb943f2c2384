"""What the operator commands (replay, backfill, check) share beyond `cli.common`.

A progress bar on stderr, so stdout stays clean for `--json`; option types; the exit status;
one-line errors for AWS and database failures; the session backfill and check run in.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.adapters.s3 import MAX_PAGE_SIZE
from size_recorder.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandError,
    console,
    load_settings,
    verify_store,
)
from size_recorder.core.config import Settings
from size_recorder.core.recorder import StoreError

# done, total (None when unknown: the bar then just counts)
Advance = Callable[[int, int | None], None]


@contextmanager
def progress_bar(description: str) -> Iterator[Advance]:
    """Yields `update(done, total)`; draws only on a terminal, so logs and CI stay readable."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update


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
    parser: argparse.ArgumentParser, *, run: Callable[[argparse.Namespace], int], dry_run: str
) -> None:
    """--dry-run and --json, which every operator command has, and the command to run."""
    parser.add_argument("--dry-run", action="store_true", help=dry_run)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run)


def add_bucket_arguments(parser: argparse.ArgumentParser, *, page_help: str) -> None:
    """--bucket, --prefix and --page-size, spelled the same for backfill and check."""
    parser.add_argument("--bucket", required=True, help="the bucket the app stores files in")
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


def exit_status(*, dry_run: bool, complete: bool) -> int:
    """1 when something was left unrepaired, so scripts and cron notice; a dry run repairs
    nothing by design, so it only fails on errors."""
    return EXIT_OK if dry_run or complete else EXIT_INCOMPLETE


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
def row_session(description: str) -> Iterator[tuple[Settings, RowStore, Advance]]:
    """What backfill and check run in: settings, a row store on one connection whose tables and
    columns were checked before the first object is listed (so a typo in a column name stops
    the command at once), AWS and database errors as one line, and a progress bar."""
    settings = load_settings()
    rows = RowStore.from_settings(settings)
    try:
        verify_store(rows)
        with operator_errors(), progress_bar(description) as update:
            yield settings, rows, update
    finally:
        rows.close()


def print_details(lines: Sequence[str], *, total: int, shown: int = 50) -> None:
    """Itemise what the summary counts (failing messages, drifting rows), to stderr."""
    for line in lines[:shown]:
        console.print(f"  {line}", highlight=False, markup=False)
    hidden = total - min(len(lines), shown)
    if hidden > 0:
        console.print(f"  ... and {hidden} more (--json lists what was kept)", highlight=False)
