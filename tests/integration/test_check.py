"""`size-recorder check`: drift between recorded sizes and S3, found and (with --fix) repaired."""

from __future__ import annotations

import re
from collections.abc import Callable

import boto3
import pytest

from size_recorder import constants as c
from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.cli import tools
from size_recorder.cli.check import report_drift
from size_recorder.core.config import Settings
from size_recorder.core.recorder import Message, Recorder
from size_recorder.ops.check import Check, Drift, check
from tests.integration.pipeline import PREFIX
from tests.integration.reports import run_json, run_text
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env


def put(bucket: str, objects: dict[str, int]) -> None:
    client = boto3.client("s3")
    for name, size in objects.items():
        client.put_object(Bucket=bucket, Key=PREFIX + name, Body=b"x" * size)


@pytest.fixture
def drifted(bucket: str, operator_env: DocumentsTable) -> DocumentsTable:
    """One row of each kind: right, differing, object gone, still NULL."""
    put(bucket, {"uploads/ok.pdf": 10, "uploads/edited.pdf": 20, "uploads/never-recorded.pdf": 30})
    operator_env.insert("uploads/ok.pdf", size=10)
    operator_env.insert("uploads/edited.pdf", size=999)
    operator_env.insert("uploads/deleted.pdf", size=40)
    operator_env.insert("uploads/never-recorded.pdf")
    return operator_env


def test_check_reports_each_kind_of_drift(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--page-size", "2")

    assert code == 1
    assert (summary["rows_differing"], summary["rows_object_gone"], summary["rows_still_null"]) == (
        1,
        1,
        1,
    )
    assert {(d["kind"], d["key"], d["recorded"], d["actual"]) for d in drift} == {
        ("differs", "media/uploads/edited.pdf", 999, 20),
        ("gone", "media/uploads/deleted.pdf", 40, None),
        ("still_null", "media/uploads/never-recorded.pdf", None, 30),
    }
    assert drifted.sizes()["uploads/edited.pdf"] == 999  # reporting changes nothing


def test_check_fix_repairs_sizes_that_differ(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--fix")

    assert summary["fixed"] == 1
    assert [d["fix"] for d in drift if d["kind"] == "differs"] == ["fixed"]
    assert drifted.sizes() == {
        "uploads/ok.pdf": 10,
        "uploads/edited.pdf": 20,
        "uploads/deleted.pdf": 40,  # only the app knows what a row without a file means
        "uploads/never-recorded.pdf": None,  # backfill's job
    }
    assert code == 1  # the gone and NULL rows are still there


def test_check_passes_when_nothing_drifted(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"a.txt": 3})
    operator_env.insert("a.txt", size=3)

    code, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--fix")

    assert (code, drift, summary["fixed"], summary["complete"]) == (0, [], 0, True)


def test_check_fix_dry_run_changes_nothing_and_exits_like_the_real_run(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    before = drifted.sizes()

    code, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--fix", "--dry-run")

    assert code == 1  # the real run would leave the gone and NULL rows
    assert summary["would_fix"] == 1
    assert [d["fix"] for d in drift if d["kind"] == "differs"] == ["would_fix"]
    assert drifted.sizes() == before


def test_check_dry_run_that_finds_drift_exits_1_like_the_real_run(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_json(capsys, "check", "--bucket", bucket, "--dry-run")[0] == 1


def test_check_fix_dry_run_exits_0_when_the_fix_would_leave_no_drift(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"a.txt": 3})
    operator_env.insert("a.txt", size=1)

    code, _, summary = run_json(capsys, "check", "--bucket", bucket, "--fix", "--dry-run")

    assert (code, summary["would_fix"], operator_env.sizes()) == (0, 1, {"a.txt": 1})


def test_check_prefix_leaves_rows_outside_it_alone(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted.insert("reports/elsewhere.csv", size=1)  # no object, but outside the prefix

    _, _, summary = run_json(capsys, "check", "--bucket", bucket, "--prefix", PREFIX + "uploads/")

    assert summary["rows_object_gone"] == 1


def test_check_interrupted_reports_no_drift_from_half_a_listing(
    bucket: str, drifted: DocumentsTable
) -> None:
    settings = Settings.from_env(recorder_env(drifted))
    rows = RowStore.from_settings(settings)
    try:
        result = check(
            settings=settings,
            rows=rows,
            client=s3.s3_client(),
            bucket=bucket,
            fix=True,
            page_size=1,
            should_stop=lambda: True,
        )
    finally:
        rows.close()

    # Rows not listed yet are not "gone": nothing is counted, nothing is fixed, and it is not done.
    assert (result.interrupted, result.drift, result.fixed, result.complete) == (True, 0, 0, False)
    assert drifted.sizes()["uploads/edited.pdf"] == 999


# --- A fix is a compare-and-set on the rows as read before the listing ----------------------


def read_and_list(settings: Settings, rows: RowStore, bucket: str) -> Check:
    """A check stopped between its listing and its comparison."""
    run = Check(settings=settings, rows=rows, bucket=bucket)
    run.read(s3.s3_client())
    return run


def upload_and_record(
    bucket: str, recorder: Recorder, name: str, size: int, seq: str | None
) -> None:
    """An upload whose event the recorder records at once."""
    put(bucket, {name: size})
    batch = recorder.record([Message("m1", s3_body(PREFIX + name, size, seq))])
    assert batch.messages[0].acknowledged


def test_check_fix_leaves_a_row_whose_event_arrived_after_the_listing(
    bucket: str, operator_env: DocumentsTable, make_recorder: Callable[[dict[str, str]], Recorder]
) -> None:
    env = recorder_env(operator_env, **{c.ENV_SEQUENCER_COLUMN: "size_sequencer"})
    settings = Settings.from_env(env)
    # GIVEN a row whose size drifted (its object has 20 bytes, the row says 999)
    put(bucket, {"a.pdf": 20})
    operator_env.insert("a.pdf", size=999, sequencer="0A")
    rows = RowStore.from_settings(settings)
    try:
        # WHEN check --fix has listed the bucket, and only then a new upload's event is recorded
        run = read_and_list(settings, rows, bucket)
        upload_and_record(bucket, make_recorder(env), "a.pdf", 30, "0B")
        result = run.compare(fix=True)
    finally:
        rows.close()

    # THEN the fix leaves the row with the newer event's size and sequencer, and says so
    assert operator_env.row("a.pdf") == (30, "0B")
    assert (result.fixed, result.changed, result.complete) == (0, 1, False)


def test_check_fix_without_a_sequencer_leaves_a_row_whose_size_changed_after_the_read(
    bucket: str, operator_env: DocumentsTable, make_recorder: Callable[[dict[str, str]], Recorder]
) -> None:
    env = recorder_env(operator_env)
    settings = Settings.from_env(env)
    put(bucket, {"a.pdf": 20})
    operator_env.insert("a.pdf", size=999)
    rows = RowStore.from_settings(settings)
    try:
        run = read_and_list(settings, rows, bucket)
        upload_and_record(bucket, make_recorder(env), "a.pdf", 30, None)
        drift: list[str | None] = []
        result = run.compare(fix=True, on_drift=lambda d: drift.append(d.fix))
    finally:
        rows.close()

    assert operator_env.sizes() == {"a.pdf": 30}
    assert (result.changed, drift) == (1, ["changed since read"])


def test_check_fix_leaves_two_rows_of_one_file_alone_once_an_event_made_one_look_like_the_other(
    bucket: str, operator_env: DocumentsTable, make_recorder: Callable[[dict[str, str]], Recorder]
) -> None:
    """Found by the lifecycle model's deep run. Two rows name one file: the first right (20),
    the second drifted (0). During the check an upload of 0 bytes is recorded on both. The
    first now holds what the second held when read; a compare per row gave it the listing's
    older 20, over the newer event."""
    env = recorder_env(operator_env)
    settings = Settings.from_env(env)
    put(bucket, {"a.pdf": 20})
    operator_env.insert("a.pdf", size=20)
    operator_env.insert("a.pdf", size=0)
    rows = RowStore.from_settings(settings)
    try:
        run = read_and_list(settings, rows, bucket)
        upload_and_record(bucket, make_recorder(env), "a.pdf", 0, None)
        result = run.compare(fix=True)
    finally:
        rows.close()

    assert operator_env.sizes_of("a.pdf") == [0, 0]
    assert (result.fixed, result.changed) == (0, 1)


def test_check_fix_leaves_a_row_changed_while_the_bucket_was_listed(
    bucket: str, operator_env: DocumentsTable
) -> None:
    put(bucket, {"a.pdf": 20})
    operator_env.insert("a.pdf", size=999)
    settings = Settings.from_env(recorder_env(operator_env))
    rows = RowStore.from_settings(settings)
    try:
        result = check(
            settings=settings,
            rows=rows,
            client=s3.s3_client(),
            bucket=bucket,
            fix=True,
            # A write lands after the first listing page (here, the only one).
            on_progress=lambda listed: with_size(operator_env, "a.pdf", 30),
        )
    finally:
        rows.close()

    assert (result.fixed, result.changed, operator_env.sizes()) == (0, 1, {"a.pdf": 30})


def test_check_text_names_every_row_the_fix_left_even_past_the_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tools, "SAMPLE", 0)
    lines: list[str] = []
    report = tools.Report(as_json=False, write=lines.append)

    report_drift(report, Drift("differs", "media/a.pdf", 999, 20, "changed since read"))
    report_drift(report, Drift("differs", "media/b.pdf", 999, 20, "fixed"))

    assert lines == [
        "  differs: media/a.pdf (row: 999 bytes, S3: 20 bytes)"
        " changed since the check read it: left alone"
    ]


def with_size(table: DocumentsTable, name: str, size: int) -> None:
    import psycopg

    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(f"UPDATE {table.qualified} SET size_bytes = %s WHERE file = %s", (size, name))


# --- What the operator sees ----------------------------------------------------------------


def test_check_with_a_key_prefix_that_names_no_row_says_which_setting_to_check_and_exits_1(
    bucket: str,
    drifted: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The operator forgot SIZE_RECORDER_KEY_PREFIX: no row is named "media/...", so under
    # --prefix media/ the check finds no row, and no drift, among the listed objects.
    monkeypatch.delenv(c.ENV_KEY_PREFIX)

    code, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--prefix", PREFIX)

    assert code == 1
    assert drift == []
    assert (summary["objects_listed"], summary["objects_matched"]) == (3, 0)
    assert summary["nothing_matched"] is True
    (note,) = summary["notes"]
    assert f"3 object(s) listed under s3://{bucket}/media/ and none names a row" in note
    assert "check SIZE_RECORDER_KEY_PREFIX (now unset)" in note


def test_check_reports_how_many_listed_objects_name_a_row(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"orphan.bin": 1})  # an object no row names

    _, _, summary = run_json(capsys, "check", "--bucket", bucket)

    assert (summary["objects_listed"], summary["objects_matched"], summary["rows_read"]) == (
        4,
        3,
        4,
    )


def test_check_json_lists_every_drifting_row_where_the_text_shows_a_sample(
    bucket: str,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tools, "SAMPLE", 2)
    put(bucket, {f"n{i}.pdf": 5 for i in range(5)})
    operator_env.insert(*(f"n{i}.pdf" for i in range(5)))  # five rows still NULL

    _, drift, _ = run_json(capsys, "check", "--bucket", bucket)
    _, out, _ = run_text(capsys, "check", "--bucket", bucket)

    assert len(drift) == 5
    assert out.count("  still null: media/") == 2
    assert "  ... and 3 more (--json lists every one)" in out


def test_check_text_lists_every_row_whose_object_is_gone(
    bucket: str,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tools, "SAMPLE", 2)
    operator_env.insert(*(f"gone{i}.pdf" for i in range(5)), size=1)

    _, out, _ = run_text(capsys, "check", "--bucket", bucket)

    for i in range(5):
        assert f"gone: media/gone{i}.pdf (row: 1 bytes, S3: no object)" in out
    assert "more (--json" not in out


def test_check_redirected_to_a_file_writes_every_line_whole_to_stdout(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    long_name = "uploads/" + "a-rather-long-directory-name/" * 4 + "report.pdf"
    operator_env.insert(long_name, size=7)

    code, out, err = run_text(capsys, "check", "--bucket", bucket)

    assert code == 1
    assert err == ""
    assert f"  gone: media/{long_name} (row: 7 bytes, S3: no object)\n" in out
    assert "rows object gone: 1\n" in out  # the summary, as lines, in the same stream


def test_check_json_keys_are_snake_case(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    _, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--fix")

    snake = re.compile(r"[a-z][a-z0-9_]*")
    assert all(snake.fullmatch(key) for key in summary)
    assert {key for d in drift for key in d} == {
        "type",
        "kind",
        "key",
        "recorded",
        "actual",
        "fix",
    }
    assert {"dry_run", "interrupted", "complete", "rows_changed_since_read"} <= set(summary)
