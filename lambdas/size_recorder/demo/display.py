"""What the demo looks like: a live view while it runs, then the rows, outcomes and figures.

The live view (steps, a spinner, each file's progress) goes to stderr and disappears when the
demo ends; finished steps stay as one line each, which is also all a non-terminal (CI, a pipe)
gets. The final report goes to stdout, so `--json` can replace it without touching the rest.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from size_recorder.demo.scenario import KEY_PREFIX

if TYPE_CHECKING:
    from size_recorder.demo.runner import Access, Demo, DemoReport, FileStatus


class DemoDisplay:
    """The demo's `DemoObserver`: step lines plus a live table of files on a terminal."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._demo: Demo | None = None
        self._title = ""
        self._step_started = time.monotonic()
        self._live = Live(
            get_renderable=self._render,
            console=console,
            transient=True,
            refresh_per_second=8,
        )

    def __enter__(self) -> DemoDisplay:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """End the live view (idempotent), e.g. before the final report is printed."""
        self._demo = None
        # Erasing the view fails when the terminal is gone (SIGHUP: it was closed); that must
        # not replace the interrupt the demo is unwinding with.
        with contextlib.suppress(OSError):
            self._live.stop()

    def attach(self, demo: Demo) -> None:
        """Show the files' progress from now on."""
        self._demo = demo

    def step(self, title: str) -> None:
        self._title = title
        self._step_started = time.monotonic()

    def done(self, detail: str) -> None:
        elapsed = time.monotonic() - self._step_started
        self._console.print(
            f"[green]✓[/] {self._title} [dim]({elapsed:.1f} s)[/]", highlight=False, soft_wrap=True
        )
        self._console.print(f"  [dim]{detail}[/]", highlight=False, soft_wrap=True)
        self._title = ""

    def failed(self, message: str, statuses: Sequence[FileStatus], log_tail: Sequence[str]) -> None:
        """Why the demo stopped, and where each file had got to."""
        self.stop()
        self._console.print(
            f"[bold red]✗ {self._title or 'demo'}:[/] {message}", highlight=False, soft_wrap=True
        )
        if statuses:
            self._console.print(_status_table(statuses, title="where each file got to"))
        if log_tail:
            self._console.print("[dim]last worker log lines:[/]")
            for line in log_tail:
                self._console.print(Text(line, style="dim"), soft_wrap=True)

    def _render(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self._title:
            elapsed = time.monotonic() - self._step_started
            parts.append(Spinner("dots", Text(f"{self._title} … {elapsed:.1f} s")))
        demo = self._demo
        if demo is not None:
            parts.append(_status_table(demo.status(), title=None))
            parts.append(Text(f"worker: {demo.deliveries()} messages received", style="dim"))
        return Group(*parts)


def _status_table(statuses: Sequence[FileStatus], *, title: str | None) -> Table:
    table = Table(title=title, box=None, pad_edge=False, show_header=True, header_style="dim")
    table.add_column("")
    table.add_column("file (as Django stores it)")
    table.add_column("story")
    table.add_column("now")
    for status in statuses:
        mark = "[green]●[/]" if status.done else "[yellow]○[/]"
        table.add_row(mark, status.name, str(status.story), status.status)
    return table


def print_report(console: Console, report: DemoReport) -> None:
    """The rows as the app reads them, what happened to each event, and the verdict."""
    rows = Table(title=f"{report.table} after the demo", title_justify="left", box=box.SIMPLE)
    rows.add_column("file (as Django stores it)")
    rows.add_column("what happened")
    rows.add_column("size_bytes", justify="right")
    rows.add_column("upload → row", justify="right")
    rows.add_column("")
    for row in report.rows:
        size = "NULL" if row.size is None else f"{row.size:,}"
        latency = "" if row.latency_s is None else f"{row.latency_s:.2f} s"
        mark = "[green]✓[/]" if row.ok else f"[red]✗ expected {row.expected:,}[/]"
        rows.add_row(row.name, row.path, size, latency, mark)
    console.print(rows)

    outcomes = Table(title="outcomes", title_justify="left", show_header=False)
    outcomes.add_column()
    outcomes.add_column(justify="right")
    for label, count in report.outcomes:
        outcomes.add_row(label, str(count))
    for label, count in report.worker:
        outcomes.add_row(f"[dim]worker: {label}[/]", f"[dim]{count}[/]")
    console.print(outcomes)

    if report.latency_median_s is not None and report.latency_p95_s is not None:
        console.print(
            f"upload → row latency: median [bold]{report.latency_median_s:.2f} s[/], "
            f"p95 [bold]{report.latency_p95_s:.2f} s[/] "
            "[dim](event path only; includes the late row's wait)[/]",
            highlight=False,
        )
    console.print(
        f"S3 requests to show these {len(report.rows)} sizes: "
        f"[bold]{report.head_requests_filefield}[/] HEADs per page view with FileField.size, "
        f"[bold green]{report.head_requests_now}[/] reading size_bytes",
        highlight=False,
    )
    if report.overrides:
        changes = "; ".join(
            f"{name} {demo} (deployed: {deployed})" for name, deployed, demo in report.overrides
        )
        console.print(
            f"[dim]demo timings, so the DLQ is reached in seconds instead of minutes: {changes}[/]",
            highlight=False,
            soft_wrap=True,
        )
    if report.ok:
        console.print(
            f"[bold green]✓ all {len(report.rows)} rows hold the right size[/] "
            f"({report.elapsed_s:.1f} s)",
            highlight=False,
        )
    else:
        console.print(f"[bold red]✗ {len(report.problems)} row(s) are wrong:[/]", highlight=False)
        for problem in report.problems:
            console.print(f"  {problem}", highlight=False, soft_wrap=True)


def print_access(console: Console, access: Access) -> None:
    """`export` lines for another shell, then commands to look around with psql, the AWS CLI and
    size-recorder: with the exports applied, docs/operations.md's commands paste as printed."""
    # AWS CLI v1 ignores AWS_ENDPOINT_URL for some services (SQS among them): say it every time.
    aws = 'aws --endpoint-url "$AWS_ENDPOINT_URL"'
    psql = access.endpoints.psql_command()
    table = access.table.qualified
    upload = "uploads/hello.txt"
    lines = [
        "[bold]The endpoints stay up until Ctrl-C; the worker keeps recording.[/]",
        "",
        "# in another shell:",
        *_path_export(),
        *(f"export {name}={shlex.quote(value)}" for name, value in access.environment().items()),
        "",
        "# the app saves a row, the browser uploads, the worker records the size:",
        f"{psql} -c \"INSERT INTO {table} (file) VALUES ('{upload}')\"",
        f'echo hello > hello.txt && {aws} s3 cp hello.txt "s3://$BUCKET/{KEY_PREFIX}{upload}"',
        f"{psql} -c " + shlex.quote(f"SELECT id, file, size_bytes FROM {table} ORDER BY id"),
        f'{aws} s3 ls "s3://$BUCKET/" --recursive',
        f'{aws} sqs get-queue-attributes --queue-url "$QUEUE_URL" --attribute-names All',
        f'{aws} sqs receive-message --queue-url "$DLQ_URL" --visibility-timeout 0',
        'tail -n 3 "$WORKER_LOG"',
        "",
        "# the runbook, docs/operations.md (skip its 'Before you start': the exports replace it):",
        f'size-recorder check --bucket "$BUCKET" --prefix {KEY_PREFIX}',
        'size-recorder replay --dlq-url "$DLQ_URL" --dry-run',
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True, markup=line.startswith("[bold]"))


def _path_export() -> list[str]:
    """Put this installation's `size-recorder` first on the other shell's PATH when it is not
    already (`make demo` runs it from .venv/bin, which a fresh shell does not have)."""
    script = Path(sys.executable).parent / "size-recorder"
    found = shutil.which("size-recorder")
    if not script.exists() or (found is not None and Path(found) == script):
        return []
    return [f'export PATH={shlex.quote(str(script.parent))}:"$PATH"']
