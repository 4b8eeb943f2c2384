"""`size-recorder demo` end to end: it exits 0, every row holds its size, nothing is left behind.

Two runs, one per database mode: as a user runs it (the console script, its own embedded
Postgres, a private TMPDIR so leftovers are visible), and in-process against the suite's
Postgres with `--json`, which must drop the schema it created there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from size_recorder.cli import main
from size_recorder.demo.scenario import FILES

pytestmark = pytest.mark.slow

# The demo finishes in ~12 s on 2 cores; this only bounds a hang.
DEMO_TIMEOUT_S = 120


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """An empty temporary directory with a short path (pytest's are too long for a Postgres
    socket inside it: Unix socket paths stop at ~104 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="srd-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_demo_exits_zero_with_every_row_right_and_cleans_up(short_tmp: Path) -> None:
    # GIVEN a private temporary directory and no DATABASE_URL: the demo starts its own Postgres
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env["TMPDIR"] = str(short_tmp)
    script = Path(sys.executable).with_name("size-recorder")

    # WHEN a user runs it
    done = subprocess.run(
        [str(script), "demo"],
        env=env,
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
    assert list(short_tmp.iterdir()) == []
    assert not [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(short_tmp) in " ".join(p.info["cmdline"] or ())
    ]


def test_demo_json_report_on_an_existing_database_drops_its_schema(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    monkeypatch.setenv("DATABASE_URL", database_url)

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

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(runner, "EVENT_PATH_TIMEOUT_S", 0.0)

    assert main(["demo"]) == 1

    err = capsys.readouterr().err
    assert "timed out after 0 s waiting for the event path" in err
    assert "where each file got to" in err
