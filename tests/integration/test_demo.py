"""`size-recorder demo` end to end: it exits 0, every row holds its size, nothing is left behind.

Two runs, one per database mode: as a user runs it (the console script, its own embedded
Postgres, a private TMPDIR so leftovers are visible), and in-process against the suite's
Postgres with `--json`, which must drop the schema it created there. Then the ways a user stops
it (a signal, closing its terminal) and `--keep`, whose exports make the runbook paste as is.
"""

from __future__ import annotations

import json
import os
import pty
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from size_recorder import constants as c
from size_recorder.cli import main
from size_recorder.demo.scenario import FILES

pytestmark = pytest.mark.slow

# The demo finishes in ~12 s on 2 cores; this only bounds a hang.
DEMO_TIMEOUT_S = 120
SCRIPT = Path(sys.executable).with_name("size-recorder")
# Printed once Postgres runs and the table exists: from here on, a leftover would show.
POSTGRES_UP = "Creating documents_document, the bucket, its queue and DLQ"
# What --keep exports, for the runbook's commands and the operator tools.
KEEP_EXPORTS = (
    "AWS_ENDPOINT_URL",
    c.ENV_DATABASE_URL,
    "QUEUE_URL",
    "DLQ_URL",
    "BUCKET",
    c.ENV_TABLE,
    c.ENV_KEY_PREFIX,
    c.ENV_SEQUENCER_COLUMN,
    "WORKER_LOG",
)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """An empty temporary directory with a short path (pytest's are too long for a Postgres
    socket inside it: Unix socket paths stop at ~104 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="srd-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_demo_exits_zero_with_every_row_right_and_cleans_up(short_tmp: Path) -> None:
    # GIVEN a private temporary directory and no DATABASE_URL: the demo starts its own Postgres
    # WHEN a user runs it
    done = subprocess.run(
        [str(SCRIPT), "demo"],
        env=demo_env(short_tmp),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )

    # THEN it succeeds and its final table shows each file with its size and a check mark
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for demo_file in FILES:
        row = [line for line in lines if demo_file.name in line and "✓" in line]
        assert row, f"no row marked right for {demo_file.name!r} in:\n{done.stdout}"
        assert f"{demo_file.size:,}" in row[0]
    assert f"all {len(FILES)} rows hold the right size" in done.stdout
    # ... and it left no process and no file behind
    assert_nothing_left(short_tmp)


def demo_env(tmp: Path) -> dict[str, str]:
    """A user's environment: no DATABASE_URL (the demo starts its own Postgres), a private
    TMPDIR where anything left behind shows."""
    env = {k: v for k, v in os.environ.items() if k not in (c.ENV_DATABASE_URL, "XDG_RUNTIME_DIR")}
    env["TMPDIR"] = str(tmp)
    return env


def assert_nothing_left(tmp: Path) -> None:
    assert list(tmp.iterdir()) == []
    assert not [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(tmp) in " ".join(p.info["cmdline"] or ())
    ]


# Run before the demo in its process: the stop signals as a shell's foreground command gets them
# (this suite may run where they are ignored: under nohup, as a script's background job), and
# with `on_a_terminal`, stdin made the controlling terminal of the new session.
_AS_FROM_A_SHELL = """
import os, signal, sys
for name in ("SIGINT", "SIGTERM", "SIGHUP"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
if sys.argv[1] == "on_a_terminal":
    os.close(os.open(os.ttyname(0), os.O_RDWR))
os.execv(sys.argv[2], sys.argv[2:])
"""


def from_a_shell(*args: str, on_a_terminal: bool = False) -> list[str]:
    """`size-recorder ARGS` as a shell would start it."""
    where = "on_a_terminal" if on_a_terminal else "-"
    return [sys.executable, "-c", _AS_FROM_A_SHELL, where, str(SCRIPT), *args]


def wait_for(output: Path, text: str) -> str:
    """The output file's contents once `text` shows in them."""
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    while text not in (seen := output.read_text(encoding="utf-8", errors="replace")):
        assert time.monotonic() < deadline, f"{text!r} never showed in:\n{seen}"
        time.sleep(0.2)
    return seen


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_demo_stopped_by_a_signal_mid_run_leaves_no_postgres_and_no_files(
    short_tmp: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    # GIVEN a demo whose Postgres is up
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        demo = subprocess.Popen(
            from_a_shell("demo"), env=demo_env(short_tmp), stdout=subprocess.DEVNULL, stderr=stderr
        )
    wait_for(err, POSTGRES_UP)

    # WHEN it gets the signal (SIGHUP: its terminal or tmux pane closed)
    demo.send_signal(signum)

    # THEN it stops with the documented status and leaves nothing behind
    assert demo.wait(timeout=DEMO_TIMEOUT_S) == 130, err.read_text()
    assert "everything the demo started was stopped and deleted" in err.read_text()
    assert_nothing_left(short_tmp)


def test_demo_started_under_nohup_runs_on_through_sighup(short_tmp: Path, tmp_path: Path) -> None:
    # GIVEN a demo started with SIGHUP ignored, as `nohup` starts it
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        demo = subprocess.Popen(
            ["nohup", str(SCRIPT), "demo"],
            env=demo_env(short_tmp),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    wait_for(err, POSTGRES_UP)

    # WHEN its terminal closes
    demo.send_signal(signal.SIGHUP)

    # THEN it keeps to what it was told: it runs to the end, and still cleans up
    assert demo.wait(timeout=DEMO_TIMEOUT_S) == 0, err.read_text()
    assert_nothing_left(short_tmp)


def test_demo_whose_terminal_closes_cleans_up_and_exits_130(short_tmp: Path) -> None:
    # GIVEN a demo drawing its live view on a terminal of its own
    terminal, child_side = pty.openpty()
    demo = subprocess.Popen(
        from_a_shell("demo", on_a_terminal=True),
        env={**demo_env(short_tmp), "TERM": "xterm"},
        stdin=child_side,
        stdout=child_side,
        stderr=child_side,
        start_new_session=True,
    )
    os.close(child_side)
    shown = b""
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    while POSTGRES_UP.encode() not in shown:
        assert time.monotonic() < deadline, shown.decode(errors="replace")
        shown += os.read(terminal, 65536)

    # WHEN the terminal closes: the kernel hangs the demo up, and every write fails after
    os.close(terminal)

    # THEN the cleanup is not cut short by the view it can no longer erase
    assert demo.wait(timeout=DEMO_TIMEOUT_S) == 130
    assert_nothing_left(short_tmp)


def exports(text: str) -> dict[str, str]:
    """NAME → value of each `export NAME=value` line, as a shell would read it."""
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line)[1].partition("=")
            found[name] = value
    return found


def test_demo_keep_exports_what_the_runbook_needs_and_its_commands_paste(
    short_tmp: Path, tmp_path: Path
) -> None:
    # GIVEN a kept demo
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        demo = subprocess.Popen(
            from_a_shell("demo", "--keep"),
            # Started the way `make demo` starts it: by its path, the virtualenv not on PATH.
            env={**demo_env(short_tmp), "PATH": _fresh_shell()["PATH"]},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        printed = wait_for(err, 'size-recorder replay --dlq-url "$DLQ_URL" --dry-run')

        # THEN it exports every variable the runbook uses, each with a value
        exported = exports(printed)
        assert {name: bool(exported.get(name)) for name in KEEP_EXPORTS} == dict.fromkeys(
            KEEP_EXPORTS, True
        )
        assert Path(exported["WORKER_LOG"]).is_file()
        # ... and every AWS CLI command it prints names the endpoint (v1 ignores the variable)
        aws_lines = [line for line in printed.splitlines() if line.startswith("aws ")]
        assert aws_lines
        assert all('--endpoint-url "$AWS_ENDPOINT_URL"' in line for line in aws_lines)

        # WHEN its export lines are pasted into a shell, followed by the runbook's commands
        pasted = [line for line in printed.splitlines() if line.startswith("export ")]
        shell = subprocess.run(
            [
                "bash",
                "-c",
                "\n".join(
                    [
                        *pasted,
                        'size-recorder check --bucket "$BUCKET" --json || exit',
                        'size-recorder replay --dlq-url "$DLQ_URL" --dry-run --json',
                    ]
                ),
            ],
            env=_fresh_shell(),
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
            check=False,
        )

        # THEN both run against the kept endpoints and find nothing to repair
        assert shell.returncode == 0, shell.stdout + shell.stderr
        *_, check_summary, replay_summary = map(json.loads, shell.stdout.splitlines())
        assert check_summary["type"] == "summary"
        assert check_summary["objects_matched"] == check_summary["objects_listed"] > 0
        assert check_summary["complete"] is True
        assert replay_summary["complete"] is True
    finally:
        # AND Ctrl-C stops the kept demo cleanly
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=DEMO_TIMEOUT_S) == 0, err.read_text()
    assert_nothing_left(short_tmp)


def _fresh_shell() -> dict[str, str]:
    """A new terminal's environment: none of the suite's AWS or database settings, and PATH
    without this virtualenv (the exports must bring `size-recorder`)."""
    venv = str(SCRIPT.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv)
    keep = ("HOME", "LANG", "LC_ALL", "TERM", "USER")
    return {"PATH": path, **{k: os.environ[k] for k in keep if k in os.environ}}


def test_demo_json_report_on_an_existing_database_drops_its_schema(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    monkeypatch.setenv(c.ENV_DATABASE_URL, database_url)

    assert main(["demo", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert {row["file"]: row["size_bytes"] for row in report["rows"]} == {
        f.name: f.size for f in FILES
    }
    assert report["outcomes"] == {
        "recorded on the first delivery": 6,
        "skipped (s3:TestEvent)": 1,
        "unmatched, then recorded": 1,
        "sent to the DLQ": 1,
        "repaired by replay": 1,
        "filled by backfill": 2,
    }
    assert report["s3_requests_to_read_sizes"] == {"FileField.size": len(FILES), "size_bytes": 0}
    assert 0 <= report["latency_median_s"] <= report["latency_p95_s"]
    with psycopg.connect(database_url) as conn:
        schema = report["table"].split(".")[0]
        left = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    assert left == (0,)


def test_demo_that_cannot_finish_says_why_and_exits_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from size_recorder.demo import runner

    monkeypatch.setenv(c.ENV_DATABASE_URL, database_url)
    monkeypatch.setattr(runner, "EVENT_PATH_TIMEOUT_S", 0.0)

    assert main(["demo"]) == 1

    err = capsys.readouterr().err
    assert "timed out after 0 s waiting for the event path" in err
    assert "where each file got to" in err
