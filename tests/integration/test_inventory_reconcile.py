"""`reconcile_batch`: the per-batch code a reconcile Lambda runs on the rows a Distributed Map
reads from an inventory manifest, against moto's S3 and the real Postgres."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from size_recorder import constants as c
from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.core.config import Settings
from size_recorder.ops.check import Drift
from size_recorder.ops.inventory import read_manifest
from size_recorder.ops.reconcile import ReconcileResult, reconcile_batch
from tests.integration.inventories import Listed, items, write_inventory
from tests.integration.pipeline import PREFIX
from tests.integration.reports import run_json
from tests.support.postgres import DocumentsTable, recorder_env

SEQUENCED = {c.ENV_SEQUENCER_COLUMN: "size_sequencer"}


@pytest.fixture
def report(
    bucket: str,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> str:
    """A versioned report with a row in every situation a batch meets, and no row the report
    lacks (only a whole run finds those); its manifest's address."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(c.ENV_SEQUENCER_COLUMN, "size_sequencer")
    objects = {
        "uploads/ok.pdf": 10,
        "uploads/edited.pdf": 20,
        "uploads/never-recorded.pdf": 30,
        "uploads/restored.pdf": 12,
        "uploads/no-row.pdf": 5,
        "uploads/a b+c.pdf": 8,
    }
    client = boto3.client("s3")
    for name, size in objects.items():
        client.put_object(Bucket=bucket, Key=PREFIX + name, Body=b"x" * size)
    operator_env.insert("uploads/ok.pdf", size=10)
    operator_env.insert("uploads/edited.pdf", size=999, sequencer="0A")
    operator_env.insert("uploads/never-recorded.pdf")
    operator_env.insert("uploads/restored.pdf", sequencer="0C")  # NULL after a recorded delete
    operator_env.insert("uploads/a b+c.pdf", size=9)
    return write_inventory(
        bucket,
        [
            *(Listed(PREFIX + name, size) for name, size in objects.items()),
            Listed(PREFIX + "uploads/ok.pdf", 3, latest=False),
            Listed(PREFIX + "uploads/dropped.pdf", None, delete_marker=True),
            Listed(PREFIX + "uploads/", 0),
            Listed("elsewhere/x.bin", 1),
        ],
        versioned=True,
        files=2,
    )


@pytest.fixture
def rows(operator_env: DocumentsTable) -> Iterator[RowStore]:
    store = RowStore.from_settings(Settings.from_env(recorder_env(operator_env, **SEQUENCED)))
    yield store
    store.close()


def in_batches(
    table: DocumentsTable,
    store: RowStore,
    url: str,
    *,
    size: int,
    client: Any = None,
    **options: Any,
) -> tuple[ReconcileResult, list[Drift]]:
    """The report's rows in batches of `size`, as a Distributed Map with an ItemBatcher sends
    them: the results added up, and every drifting row."""
    settings = Settings.from_env(recorder_env(table, **SEQUENCED))
    client = client or s3.s3_client()
    report_time = read_manifest(client, url).report_time
    all_items = items(url)
    drift: list[Drift] = []
    total = ReconcileResult()
    for start in range(0, len(all_items), size):
        total += reconcile_batch(
            settings,
            store,
            all_items[start : start + size],
            report_time=report_time,
            client=client,
            on_drift=drift.append,
            **options,
        )
    return total, drift


def test_reconcile_batch_matches_the_cli_on_the_same_inventory(
    report: str,
    operator_env: DocumentsTable,
    rows: RowStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, cli_drift, summary = run_json(capsys, "check", "--inventory", report, "--fix", "--dry-run")

    result, drift = in_batches(operator_env, rows, report, size=3, fix=True, dry_run=True)

    figures = {**result.as_dict(), "would_fix": result.fixed}
    compared = [key for key in figures if key in summary and key != "s3_requests"]
    assert len(compared) >= 14
    assert {key: figures[key] for key in compared} == {key: summary[key] for key in compared}
    as_printed = {
        (d.kind.replace(" ", "_"), d.key, d.recorded, d.actual, d.fix and d.fix.replace(" ", "_"))
        for d in drift
    }
    assert as_printed == {
        (d["kind"], d["key"], d["recorded"], d["actual"], d["fix"]) for d in cli_drift
    }
    assert as_printed == {
        ("differs", PREFIX + "uploads/edited.pdf", 999, 20, "would_fix"),
        ("differs", PREFIX + "uploads/a b+c.pdf", 9, 8, "would_fix"),
        ("still_null", PREFIX + "uploads/never-recorded.pdf", None, 30, None),
        ("still_null", PREFIX + "uploads/restored.pdf", None, 12, None),
    }


def test_reconcile_batch_counts_what_a_batch_skips(
    report: str, operator_env: DocumentsTable, rows: RowStore
) -> None:
    result, _ = in_batches(operator_env, rows, report, size=100, fix=False)

    assert (
        result.objects_in_report,
        result.objects_not_latest,
        result.objects_delete_markers,
        result.objects_folder_markers,
        result.objects_routed_nowhere,
        result.objects_matched,
    ) == (10, 1, 1, 1, 1, 5)


def test_reconcile_batch_fix_sets_the_size_s3_has_where_the_row_holds_what_was_read(
    report: str, operator_env: DocumentsTable, rows: RowStore
) -> None:
    result, _ = in_batches(operator_env, rows, report, size=2, fix=True)

    assert (result.fixed, result.rows_changed_since_read) == (2, 0)
    assert operator_env.row("uploads/edited.pdf") == (20, "0A")  # the fix writes no sequencer
    assert operator_env.sizes()["uploads/a b+c.pdf"] == 8


class SlowHeads:
    """An S3 client whose HEADs take a while, noting how many were in flight at once."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_at_once = 0

    def head_object(self, **kwargs: Any) -> Any:
        with self._lock:
            self._in_flight += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        try:
            time.sleep(0.2)
            return self._client.head_object(**kwargs)
        finally:
            with self._lock:
                self._in_flight -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_reconcile_batch_sends_the_heads_of_its_disagreeing_rows_at_once(
    report: str, operator_env: DocumentsTable, rows: RowStore
) -> None:
    client = SlowHeads(s3.s3_client())

    result, _ = in_batches(operator_env, rows, report, size=100, client=client, fix=False)

    assert result.s3_requests >= 2
    assert client.most_at_once >= 2
