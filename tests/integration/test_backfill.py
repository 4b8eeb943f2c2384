"""`size-recorder backfill`: rows that predate the recorder get their size from S3."""

from __future__ import annotations

import json
import math

import boto3
import pytest

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.cli import main
from size_recorder.core.config import Settings
from size_recorder.ops.backfill import backfill
from tests.conftest import DocumentsTable
from tests.integration.conftest import PREFIX

# Names as Django stores them (without AWS_LOCATION), awkward on purpose, with their sizes.
EXISTING = {
    "uploads/a.pdf": 11,
    "uploads/b b+1.pdf": 22,
    "uploads/ünï cødé.txt": 33,
    "uploads/d%20e.txt": 44,
    "reports/2024/q1.csv": 55,
}


def put(bucket: str, objects: dict[str, int]) -> None:
    client = boto3.client("s3")
    for key, size in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * size)


@pytest.fixture
def adopted(bucket: str, operator_env: DocumentsTable) -> DocumentsTable:
    """A bucket full of objects under the prefix, and rows for them with NULL sizes."""
    put(bucket, {PREFIX + name: size for name, size in EXISTING.items()})
    operator_env.insert(*EXISTING)
    return operator_env


def summary(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(capsys.readouterr().out)
    return parsed


def test_backfill_list_fills_null_rows_across_listing_pages(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"elsewhere/not-ours.bin": 3})  # outside SIZE_RECORDER_KEY_PREFIX

    assert main(["backfill", "--bucket", bucket, "--page-size", "2", "--json"]) == 0

    assert adopted.sizes() == EXISTING
    result = summary(capsys)
    assert result["rows filled"] == len(EXISTING)
    assert result["rows whose object no longer exists"] == 0
    assert result["S3 requests"] == math.ceil((len(EXISTING) + 1) / 2)
    assert result["objects outside every prefix"] == 1


def test_backfill_list_reports_rows_whose_object_is_gone(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    adopted.insert("uploads/deleted-since.pdf")

    assert main(["backfill", "--bucket", bucket, "--json"]) == 1

    assert summary(capsys)["rows whose object no longer exists"] == 1
    assert adopted.sizes()["uploads/deleted-since.pdf"] is None


def test_backfill_never_overwrites_a_size_already_recorded(
    bucket: str, operator_env: DocumentsTable
) -> None:
    put(bucket, {PREFIX + "uploads/new.pdf": 100})
    operator_env.insert("uploads/new.pdf", size=100_000)  # the recorder was there first

    for method in ("list", "head"):
        main(["backfill", "--bucket", bucket, "--method", method])

    assert operator_env.sizes() == {"uploads/new.pdf": 100_000}


def test_backfill_head_sends_one_request_per_null_row(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    adopted.insert("uploads/deleted-since.pdf")
    adopted.insert("uploads/already.pdf", size=1)

    code = main(["backfill", "--bucket", bucket, "--method", "head", "--page-size", "2", "--json"])

    assert code == 1  # one row is left without a size
    assert adopted.sizes() == {
        **EXISTING,
        "uploads/deleted-since.pdf": None,
        "uploads/already.pdf": 1,
    }
    result = summary(capsys)
    assert result["S3 requests"] == len(EXISTING) + 1
    assert result["rows whose object no longer exists"] == 1


def test_backfill_prefix_limits_the_walk(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill", "--bucket", bucket, "--prefix", PREFIX + "reports/", "--json"]) == 0

    assert {n: s for n, s in adopted.sizes().items() if s is not None} == {
        "reports/2024/q1.csv": 55
    }
    assert summary(capsys)["objects listed"] == 1


def test_backfill_interrupted_then_rerun_fills_the_rest(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": adopted.url,
            "SIZE_RECORDER_TABLE": adopted.qualified,
            "SIZE_RECORDER_KEY_PREFIX": PREFIX,
        }
    )
    rows = RowStore.from_settings(settings)

    # GIVEN a walk stopped (Ctrl-C) after its first page of two objects
    first = backfill(
        settings=settings,
        rows=rows,
        client=s3.s3_client(),
        bucket=bucket,
        page_size=2,
        should_stop=lambda: True,
    )
    rows.close()
    assert (first.interrupted, first.filled, first.missing) == (True, 2, None)

    # WHEN it runs again, resuming after the last key it reported
    assert first.last_key is not None
    assert main(["backfill", "--bucket", bucket, "--start-after", first.last_key, "--json"]) == 0

    # THEN every row is filled, each exactly once
    assert adopted.sizes() == EXISTING
    assert summary(capsys)["rows filled"] == len(EXISTING) - 2


@pytest.mark.parametrize("method", ["list", "head"])
def test_backfill_dry_run_changes_nothing(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    code = main(["backfill", "--bucket", bucket, "--method", method, "--dry-run", "--json"])

    assert code == 0
    assert adopted.sizes() == dict.fromkeys(EXISTING)
    result = summary(capsys)
    assert result["rows would be filled"] == len(EXISTING)
    assert result["rows whose object no longer exists"] == 0
