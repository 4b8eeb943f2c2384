"""`size-recorder discard`: archive, then delete, selected messages from the DLQ (poison)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from size_recorder.adapters import sqs
from size_recorder.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandError,
    StopFlag,
    console,
    fail,
    load_settings,
)
from size_recorder.cli.tools import (
    Report,
    finish_parser,
    operator_errors,
    progress_bar,
)
from size_recorder.core.config import Settings
from size_recorder.ops.discard import (
    SELECTABLE,
    Archive,
    Category,
    DiscardError,
    DiscardResult,
    Selected,
    Selection,
    discard_dlq,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "discard",
        help="archive, then delete, selected messages from the dead-letter queue (poison)",
        description="Read the DLQ, select messages by the category the recorder gives them "
        "now, by key or by id, append each selected message to a JSON-lines archive (fsynced) "
        "and only then delete it. Messages not selected are made visible again. Asks before "
        "deleting on a terminal; elsewhere needs --yes.",
    )
    parser.add_argument("--dlq-url", required=True, help="the dead-letter queue's URL")
    parser.add_argument(
        "--reason",
        action="append",
        default=[],
        choices=[str(category) for category in SELECTABLE],
        help="messages in this category: invalid (unreadable, or a record without a usable key "
        "or size), routed_nowhere (every object outside this shell's targets), skipped "
        "(nothing to write, e.g. s3:TestEvent); repeat to widen",
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="GLOB",
        help="messages naming an S3 key (the full key, prefix included) that matches this glob "
        "('*' also matches '/'); a plain key matches exactly; repeat to widen",
    )
    parser.add_argument(
        "--message-id",
        action="append",
        default=[],
        metavar="ID",
        help="this message; repeat for several",
    )
    parser.add_argument(
        "--all",
        dest="everything",
        action="store_true",
        help="every message in the DLQ (only on its own: without a selector, nothing is selected)",
    )
    parser.add_argument(
        "--archive",
        type=Path,
        metavar="PATH",
        help="the JSON-lines file each message is written to before it is deleted; appended "
        "to, never overwritten (default: ./size-recorder-discarded-<UTC time>.jsonl)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="delete without asking (required when stdin is not a terminal)",
    )
    finish_parser(
        parser,
        run=run,
        dry_run="list what would be discarded; write and delete nothing",
        json_help="print JSON lines: one per message selected, then the summary",
    )


def run(args: argparse.Namespace) -> int:
    stop = StopFlag().install()
    archive: Archive | None = None
    try:
        selection = _selection(args)
        settings = load_settings()
        archive = None if args.dry_run else Archive(args.archive or default_archive())
        with operator_errors():
            result = _run(args, settings, selection, archive, stop)
    except (CommandError, DiscardError) as exc:
        return fail(str(exc))
    finally:
        if archive is not None:
            archive.close()
    report = Report(as_json=args.json, write=_stdout)
    for selected in result.selected:
        _item(report, selected, dry_run=result.dry_run)
    for message_id in result.not_found:
        report.item(
            {"type": "not_found", "message_id": message_id},
            f"not found: {message_id} (not in the DLQ, or not returned by SQS this run)",
            always=True,
        )
    report.summary("discard", summary(args.dlq_url, result), notes=notes(result))
    # A dry run exits as the real run would: only the archive and the deletes are suppressed.
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def _selection(args: argparse.Namespace) -> Selection:
    """The selectors, after the checks that need no AWS call: an empty URL, no confirmation."""
    if not args.dlq_url.strip():
        raise CommandError("--dlq-url is empty (is the variable it was pasted from set?)")
    selection = Selection(
        categories=frozenset(Category(reason) for reason in args.reason),
        key_patterns=tuple(args.key),
        message_ids=frozenset(args.message_id),
        everything=args.everything,
    )
    if not (args.dry_run or args.yes or sys.stdin.isatty()):
        raise CommandError(
            "discard deletes messages and stdin is not a terminal to confirm on: pass --yes"
            " (after checking the selection with --dry-run)"
        )
    return selection


def _run(
    args: argparse.Namespace,
    settings: Settings,
    selection: Selection,
    archive: Archive | None,
    stop: StopFlag,
) -> DiscardResult:
    """One pass with --yes or --dry-run; otherwise a reading pass, the question, and a pass
    that deletes only the messages the person saw and confirmed."""
    if archive is None or args.yes:
        return _discard(args, settings, selection, archive, None, stop)
    preview = _discard(args, settings, selection, None, None, stop)
    if preview.selected and not stop() and _confirmed(preview.selected):
        only = {s.message_id for s in preview.selected}
        return _discard(args, settings, selection, archive, only, stop)
    why = "interrupted before it was confirmed" if stop() else "not confirmed"
    return replace(
        preview,
        dry_run=False,
        archive=archive.path,
        selected=tuple(replace(s, left=why) for s in preview.selected),
    )


def _discard(
    args: argparse.Namespace,
    settings: Settings,
    selection: Selection,
    archive: Archive | None,
    only: Collection[str] | None,
    stop: StopFlag,
) -> DiscardResult:
    verb = "reading" if archive is None else "discarding"
    with progress_bar(f"discard: {verb}") as update:
        return discard_dlq(
            client=sqs.sqs_client(),
            dlq_url=args.dlq_url,
            settings=settings,
            selection=selection,
            archive=archive,
            only=only,
            should_stop=stop,
            on_progress=lambda p: update(p.done, p.total),
        )


def default_archive() -> Path:
    return Path(f"size-recorder-discarded-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl")


def _confirmed(selected: tuple[Selected, ...]) -> bool:
    """List what a real run would delete, then ask; only "y" or "yes" goes ahead."""
    preview = Report(as_json=False, write=_stderr)
    for message in selected:
        _item(preview, message, dry_run=True)
    count = len(selected)
    with _interruptible():
        try:
            # No markup: rich would take "[y/N]" for a style and print nothing of it.
            answer = console.input(
                f"discard {count} message{'s' if count != 1 else ''}? [y/N] ", markup=False
            )
        except (KeyboardInterrupt, EOFError):
            console.print()
            return False
    return answer.strip().lower() in ("y", "yes")


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C at the prompt answers no (the StopFlag would only set a flag nobody reads)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _item(report: Report, selected: Selected, *, dry_run: bool) -> None:
    verdict = selected.verdict
    if selected.left is not None:
        kind = "not_discarded"
    else:
        kind = "would_discard" if dry_run else "discarded"
    record = {
        "type": kind,
        "message_id": selected.message_id,
        "category": str(verdict.category),
        "reason": verdict.reason,
        "keys": list(verdict.keys),
        "receive_count": selected.receive_count,
        "error": selected.left,
    }
    keys = ", ".join(verdict.keys) or "(no key)"
    text = f"{kind.replace('_', ' ')}: {selected.message_id} [{verdict.category}] {keys}"
    text += f": {verdict.reason}"
    if selected.left is not None:
        text += f" ({selected.left})"
    # A message left in the DLQ needs a second look: never sampled away.
    report.item(record, text, always=selected.left is not None)


def summary(dlq_url: str, result: DiscardResult) -> dict[str, Any]:
    """The summary, in the snake_case keys documented in docs/operations.md."""
    return {
        "dlq_url": dlq_url,
        "dry_run": result.dry_run,
        "archive": None if result.archive is None else str(result.archive),
        "received": result.received,
        "selected": len(result.selected),
        "would_discard" if result.dry_run else "discarded": result.discarded,
        "not_discarded": len(result.not_discarded),
        "not_found": len(result.not_found),
        "kept": result.kept,
        **{str(category): result.categories.get(category, 0) for category in Category},
        "drained": result.drained,
        "interrupted": result.interrupted,
        "complete": result.complete,
    }


def notes(result: DiscardResult) -> list[str]:
    found: list[str] = []
    if not result.selected:
        found.append("no message matched the selection: nothing was discarded")
    if result.archive_error is not None:
        found.append(
            f"the archive could not be written ({result.archive_error}): the run stopped, and "
            "no message was deleted without its line in the archive"
        )
    if result.interrupted:
        found.append("interrupted: messages not yet read were not selected; run again")
    if result.archive is not None and result.discarded:
        found.append(f"archived in {result.archive} (one JSON line per message)")
    return found


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")


def _stderr(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)
