"""`size-recorder demo`: the whole event path on this machine, shown live, checked at the end."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from size_recorder import constants as c
from size_recorder.cli.common import EXIT_INCOMPLETE, EXIT_OK, console, fail

# What a shell reports for a command ended by Ctrl-C.
EXIT_INTERRUPTED = 130
REPORT_MIN_WIDTH = 120


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole event path locally (moto S3+SQS, embedded Postgres, the worker)",
        description="Upload files to a local S3 (moto) whose events reach an SQS queue, record "
        "their sizes with the same core the Lambda runs, send one unmatched event to the DLQ and "
        "repair it, then check every row. Uses the Postgres in DATABASE_URL when it is set (in "
        "a schema of its own, dropped afterwards), an embedded one otherwise. Needs no AWS "
        "account and no Docker.",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave moto, Postgres and the worker running and print how to reach them with "
        "psql and the AWS CLI; Ctrl-C stops and deletes everything",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the final report as JSON on stdout"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so `size-recorder worker` does not pay for the demo's imports.
    from size_recorder.demo.display import DemoDisplay, print_access, print_report
    from size_recorder.demo.endpoints import DemoSetupError
    from size_recorder.demo.runner import DemoFailure, open_demo

    database_url = os.environ.get(c.ENV_DATABASE_URL) or None
    try:
        with (
            _signals_interrupt(),
            DemoDisplay(console) as display,
            open_demo(database_url=database_url, observer=display) as demo,
        ):
            display.attach(demo)
            try:
                report = demo.run()
            except DemoFailure as exc:
                display.failed(str(exc), demo.status(), demo.worker_log_tail())
                return EXIT_INCOMPLETE
            display.stop()
            if args.json:
                json.dump(report.as_dict(), sys.stdout, ensure_ascii=False)
                sys.stdout.write("\n")
                for problem in report.problems:
                    console.print(f"[bold red]wrong row:[/] {problem}", highlight=False)
            else:
                print_report(_report_console(), report)
            if args.keep:
                print_access(console, demo.access())
                _wait_for_interrupt()
            code = EXIT_OK if report.ok else EXIT_INCOMPLETE
    except DemoSetupError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        _last_word("interrupted: everything the demo started was stopped and deleted")
        return EXIT_INTERRUPTED
    if args.keep:
        _last_word("stopped: everything the demo started was stopped and deleted")
    return code


def _last_word(text: str) -> None:
    """The closing line, unless the terminal is gone (SIGHUP: it was closed), which makes every
    write fail; the cleanup it reports has already happened."""
    with contextlib.suppress(OSError):
        console.print(text)


def _report_console() -> Console:
    """stdout; at least 120 columns when it is not a terminal (a pipe, CI, a test), where rich
    would otherwise assume 80 and wrap every file name."""
    out = Console()
    return out if out.is_terminal else Console(width=max(out.width, REPORT_MIN_WIDTH))


def _wait_for_interrupt() -> None:
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        return


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (its terminal or tmux pane closed) unwind like Ctrl-C, so they also
    stop Postgres and delete the temporary files: by default either kills the process on the
    spot and leaves them behind. A signal the demo was started ignoring stays ignored."""
    from size_recorder.demo.endpoints import heeded_signals

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in heeded_signals()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
