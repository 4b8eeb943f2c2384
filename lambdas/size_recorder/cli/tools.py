"""What the operator commands (replay, backfill, check) share beyond `cli.common`.

A progress bar on stderr, so stdout stays clean for `--json`; option types; the exit status.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from size_recorder.cli.common import EXIT_INCOMPLETE, EXIT_OK, console

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


def exit_status(*, dry_run: bool, complete: bool) -> int:
    """1 when something was left unrepaired, so scripts and cron notice; a dry run repairs
    nothing by design, so it only fails on errors."""
    return EXIT_OK if dry_run or complete else EXIT_INCOMPLETE
