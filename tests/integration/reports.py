"""Reading what `backfill` and `check` print with --json: JSON lines, the summary last."""

from __future__ import annotations

import json
from typing import Any

import pytest

from size_recorder.cli import main


def read_report(out: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the item lines, the summary line); every line is one JSON object."""
    *items, summary = (json.loads(line) for line in out.splitlines())
    assert summary["type"] == "summary", summary
    return items, summary


def run_json(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Run `size-recorder ARGS --json`: (exit status, items, summary)."""
    capsys.readouterr()
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert out, err  # no summary: the command failed, and said why on stderr
    items, summary = read_report(out)
    return code, items, summary


def run_text(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `size-recorder ARGS` as from a shell whose stdout is a file: (status, out, err)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
