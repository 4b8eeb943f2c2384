"""`size-recorder check`: drift between recorded sizes and S3, found and (with --fix) repaired."""

from __future__ import annotations

import json

import boto3
import pytest

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.cli import main
from size_recorder.core.config import Settings
from size_recorder.ops.check import check
from tests.conftest import DocumentsTable
from tests.integration.conftest import PREFIX


@pytest.fixture
def drifted(bucket: str, operator_env: DocumentsTable) -> DocumentsTable:
    """One row of each kind: right, differing, object gone, still NULL."""
    client = boto3.client("s3")
    for name, size in {"ok.pdf": 10, "edited.pdf": 20, "never-recorded.pdf": 30}.items():
        client.put_object(Bucket=bucket, Key=PREFIX + "uploads/" + name, Body=b"x" * size)
    operator_env.insert("uploads/ok.pdf", size=10)
    operator_env.insert("uploads/edited.pdf", size=999)
    operator_env.insert("uploads/deleted.pdf", size=40)
    operator_env.insert("uploads/never-recorded.pdf")
    return operator_env


def run_check(bucket: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["check", "--bucket", bucket, "--page-size", "2", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_check_reports_each_kind_of_drift(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = run_check(bucket, capsys)

    assert code == 1
    assert (
        summary["rows whose size differs"],
        summary["rows whose object is gone"],
        summary["rows still NULL (run backfill)"],
    ) == (1, 1, 1)
    assert {(d["kind"], d["key"], d["recorded"], d["actual"]) for d in summary["drift"]} == {
        ("differs", "media/uploads/edited.pdf", 999, 20),
        ("gone", "media/uploads/deleted.pdf", 40, None),
        ("still null", "media/uploads/never-recorded.pdf", None, 30),
    }
    assert drifted.sizes()["uploads/edited.pdf"] == 999  # reporting changes nothing


def test_check_fix_repairs_sizes_that_differ(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = run_check(bucket, capsys, "--fix")

    assert summary["rows fixed"] == 1
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
    boto3.client("s3").put_object(Bucket=bucket, Key=PREFIX + "a.txt", Body=b"abc")
    operator_env.insert("a.txt", size=3)

    code, summary = run_check(bucket, capsys, "--fix")

    assert code == 0
    assert summary["rows fixed"] == 0


def test_check_fix_dry_run_changes_nothing(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    before = drifted.sizes()

    code, summary = run_check(bucket, capsys, "--fix", "--dry-run")

    assert code == 0
    assert summary["rows that would be fixed"] == 1
    assert drifted.sizes() == before


def test_check_prefix_leaves_rows_outside_it_alone(
    bucket: str, drifted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted.insert("reports/elsewhere.csv", size=1)  # no object, but outside the prefix

    _, summary = run_check(bucket, capsys, "--prefix", PREFIX + "uploads/")

    assert summary["rows whose object is gone"] == 1


def test_check_interrupted_reports_no_drift_from_half_a_listing(
    bucket: str, drifted: DocumentsTable
) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": drifted.url,
            "SIZE_RECORDER_TABLE": drifted.qualified,
            "SIZE_RECORDER_KEY_PREFIX": PREFIX,
        }
    )
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
