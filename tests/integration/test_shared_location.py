"""backfill and check, from a listing and from an S3 Inventory report, with two targets under one
storage location (Django's `uploads/` and `reports/` fields under `media/`): each routes by its
own directory, its rows' names keep the directory, and neither sees the other's rows."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from size_recorder import constants as c
from tests.integration.inventories import Listed, write_inventory
from tests.integration.pipeline import PREFIX
from tests.integration.reports import run_json
from tests.support.postgres import DocumentsTable

# Names as Django stores them under the location, and an object outside both directories.
OBJECTS = {"uploads/a.pdf": 11, "reports/2026/q1.csv": 22}
ELSEWHERE = {"other/c.txt": 33}


@pytest.fixture
def shared(
    operator_env: DocumentsTable, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> DocumentsTable:
    """The operator's shell with a target per directory, both named after the location."""
    monkeypatch.chdir(tmp_path)  # an inventory run's state file
    monkeypatch.delenv(c.ENV_TABLE)
    monkeypatch.delenv(c.ENV_KEY_PREFIX)
    targets = [
        {"prefix": f"{PREFIX}{directory}", "location": PREFIX, "table": operator_env.qualified}
        for directory in ("uploads/", "reports/")
    ]
    monkeypatch.setenv(c.ENV_TARGETS, json.dumps(targets))
    return operator_env


def put(bucket: str, objects: dict[str, int]) -> None:
    client = boto3.client("s3")
    for name, size in objects.items():
        client.put_object(Bucket=bucket, Key=PREFIX + name, Body=b"x" * size)


@pytest.mark.parametrize("method", ["list", "head"])
def test_backfill_fills_rows_of_both_directories_under_one_location(
    method: str, bucket: str, shared: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {**OBJECTS, **ELSEWHERE})
    shared.insert(*OBJECTS)

    code, unfilled, summary = run_json(capsys, "backfill", "--bucket", bucket, "--method", method)

    assert shared.sizes() == OBJECTS
    assert (code, unfilled, summary["filled"]) == (0, [], 2)


def test_check_fix_repairs_rows_of_both_directories_and_calls_none_gone(
    bucket: str, shared: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, OBJECTS)
    shared.insert(*OBJECTS, size=1)

    code, drift, summary = run_json(capsys, "check", "--bucket", bucket, "--fix")

    assert {(d["kind"], d["key"]) for d in drift} == {
        ("differs", PREFIX + name) for name in OBJECTS
    }
    assert shared.sizes() == OBJECTS
    assert (summary["fixed"], code) == (2, 0)  # every drift fixed


def test_check_fix_from_an_inventory_repairs_rows_of_both_directories(
    bucket: str, shared: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, OBJECTS)
    shared.insert(*OBJECTS, size=1)
    objects = {**OBJECTS, **ELSEWHERE}
    url = write_inventory(bucket, [Listed(PREFIX + k, v) for k, v in objects.items()])

    code, drift, summary = run_json(capsys, "check", "--inventory", url, "--fix")

    assert sorted(d["key"] for d in drift) == sorted(PREFIX + name for name in OBJECTS)
    assert shared.sizes() == OBJECTS
    assert (summary["fixed"], code) == (2, 0)  # every drift fixed
