"""The nightly reconciliation's Lambda entry points, against moto's S3 and the real Postgres.

moto does not run Step Functions, so these tests play its part: the report's rows go to
`reconcile_handler` in batches shaped as the Distributed Map's ItemBatcher sends them, and what
the batches return is written as the ResultWriter writes a Map Run's results (JSON Lines under
PREFIX/MAP-RUN-ID/, with a manifest.json naming the files) before `summary_handler` reads it.
The CLI's `check --inventory` on the same report is the reference.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from size_recorder import constants as c
from size_recorder.ops import reconcile_lambda
from size_recorder.ops.reconcile_lambda import (
    LOG_LINES_PER_BATCH,
    ReconcileEventError,
    reconcile_handler,
    summary_handler,
)
from tests.integration.inventories import Listed, items, write_inventory
from tests.integration.pipeline import PREFIX
from tests.integration.reports import run_json
from tests.support.aws import unique
from tests.support.lambda_context import LambdaContext
from tests.support.postgres import DocumentsTable

# The configuration the construct gives S3 Inventory: current versions, Size and LastModifiedDate.
UPLOADED = {
    "uploads/ok.pdf": 10,
    "uploads/edited.pdf": 20,
    "uploads/never-recorded.pdf": 30,
    "uploads/a b+c.pdf": 8,
    "uploads/deleted.pdf": 7,
    "uploads/replaced.pdf": 40,
    "uploads/no-row.pdf": 5,
}
MAP_RUN_ARN = "arn:aws:states:us-east-1:123456789012:mapRun:reconcile/Map:0d1e2f3a"
RUN_ID = "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
# Counts only a whole CLI run has (rows the report lacks) or that differ by design (the CLI's
# requests include the manifest and the data files, which Step Functions reads for the Lambda).
WHOLE_RUN_ONLY = {"rows_not_in_report", "s3_requests"}


@dataclass(frozen=True, slots=True)
class Report:
    url: str
    bucket: str  # the inventory's destination
    manifest_key: str

    def batch(self, rows: list[dict[str, str]], *, fix: bool) -> dict[str, Any]:
        """A batch as the ItemBatcher builds it, with the state machine's BatchInput."""
        return {
            "Items": rows,
            "BatchInput": {
                c.BATCH_MANIFEST_BUCKET: self.bucket,
                c.BATCH_MANIFEST_KEY: self.manifest_key,
                c.BATCH_FIX: fix,
            },
        }


@pytest.fixture(autouse=True)
def fresh_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test is a cold Lambda environment: settings, connection and client built anew."""
    monkeypatch.setenv(c.ENV_SEQUENCER_COLUMN, "size_sequencer")
    cached = (
        reconcile_lambda.settings,
        reconcile_lambda.s3_client,
        reconcile_lambda.report_time,
    )
    for function in cached:
        function.cache_clear()
    reconcile_lambda.rows.cache_clear()
    yield
    if reconcile_lambda.rows.cache_info().currsize:
        reconcile_lambda.rows().close()
    reconcile_lambda.rows.cache_clear()
    for function in cached:
        function.cache_clear()


@pytest.fixture
def report(bucket: str, operator_env: DocumentsTable) -> Report:
    """A current-versions report of the bucket with a row in every situation a batch meets:
    agreeing, differing (one key a form encodes), still NULL, its object deleted since the
    report, replaced since the report, and an object with no row; plus a folder marker and an
    object outside the recorder's prefix."""
    s3 = boto3.client("s3")
    for name, size in UPLOADED.items():
        s3.put_object(Bucket=bucket, Key=PREFIX + name, Body=b"x" * size)
    operator_env.insert("uploads/ok.pdf", size=10)
    operator_env.insert("uploads/edited.pdf", size=999, sequencer="0A")
    operator_env.insert("uploads/never-recorded.pdf")
    operator_env.insert("uploads/a b+c.pdf", size=9)
    operator_env.insert("uploads/deleted.pdf", size=5)
    operator_env.insert("uploads/replaced.pdf", size=41, sequencer="0F")
    # The next whole second: S3 dates objects to the second, and one dated in the report's own
    # second counts as newer than it.
    taken = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    url = write_inventory(
        bucket,
        [
            *(Listed(PREFIX + name, size) for name, size in UPLOADED.items()),
            Listed(PREFIX + "uploads/", 0),
            Listed("elsewhere/x.bin", 1),
        ],
        taken=taken,
        files=2,
    )
    s3.delete_object(Bucket=bucket, Key=PREFIX + "uploads/deleted.pdf")
    # Replaced after the report was taken, as its row says.
    time.sleep(max(0.0, (taken - datetime.now(UTC)).total_seconds()))
    s3.put_object(Bucket=bucket, Key=PREFIX + "uploads/replaced.pdf", Body=b"x" * 41)
    destination, _, key = url.removeprefix("s3://").partition("/")
    return Report(url, destination, key)


def run_batches(report: Report, *, size: int, fix: bool) -> list[dict[str, Any]]:
    """Every row of the report through the handler, `size` rows a batch: what each returned."""
    rows = items(report.url)
    return [
        reconcile_handler(report.batch(rows[start : start + size], fix=fix), LambdaContext())
        for start in range(0, len(rows), size)
    ]


def write_results(
    succeeded: list[dict[str, Any]], failed: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Write batch outputs as the ResultWriter writes a Map Run's results (COMPACT, JSONL), and
    return the Distributed Map's output that points at them."""
    s3 = boto3.client("s3")
    bucket = unique("results")
    s3.create_bucket(Bucket=bucket)
    run = f"reconciliation/{RUN_ID}"
    files: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for group, lines in (("SUCCEEDED", succeeded), ("FAILED", failed or [])):
        if not lines:
            continue
        key = f"{run}/{group}_0.json"
        body = "".join(json.dumps(line) + "\n" for line in lines)
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        files[group].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": MAP_RUN_ARN, "ResultFiles": files}
    s3.put_object(Bucket=bucket, Key=f"{run}/manifest.json", Body=json.dumps(manifest).encode())
    return {
        "MapRunArn": MAP_RUN_ARN,
        "ResultWriterDetails": {"Bucket": bucket, "Key": f"{run}/manifest.json"},
    }


def summary_event(report: Report, map_run: dict[str, Any], *, fix: bool) -> dict[str, Any]:
    return {**report.batch([], fix=fix)["BatchInput"], c.SUMMARY_MAP_RUN: map_run}


def emf_metrics(out: str) -> dict[str, float]:
    """The metrics Powertools printed as CloudWatch embedded metric format, by name."""
    found: dict[str, float] = {}
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]  # a list when a metric has several values
                found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


# --- a batch ---------------------------------------------------------------------------------


def test_reconcile_handler_gives_the_clis_figures_for_the_same_inventory(
    report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, cli = run_json(capsys, "check", "--inventory", report.url)

    outputs = run_batches(report, size=3, fix=False)

    totals = {key: sum(o["result"][key] for o in outputs) for key in outputs[0]["result"]}
    compared = (set(totals) & set(cli)) - WHOLE_RUN_ONLY
    assert len(compared) >= 14
    assert {key: totals[key] for key in compared} == {key: cli[key] for key in compared}
    assert cli["rows_not_in_report"] == 0  # so nothing a batch cannot see was left out


def test_reconcile_handler_returns_each_figure_of_its_batch(report: Report) -> None:
    (output,) = run_batches(report, size=100, fix=True)

    assert output["figures"] == {
        "rows_checked": 9,
        "drifted": 4,  # edited and "a b+c" differ, never-recorded is NULL, deleted is gone
        "fixed": 2,
        "missing_object": 1,
        "newer_than_report": 1,
    }


def test_reconcile_handler_with_fix_sets_the_size_s3_has_and_leaves_newer_rows(
    report: Report, operator_env: DocumentsTable
) -> None:
    run_batches(report, size=2, fix=True)

    sizes = operator_env.sizes()
    assert (sizes["uploads/edited.pdf"], sizes["uploads/a b+c.pdf"]) == (20, 8)
    assert operator_env.row("uploads/replaced.pdf") == (41, "0F")  # the event's, not the report's
    assert sizes["uploads/deleted.pdf"] == 5  # gone: reported, never changed


def test_reconcile_handler_without_fix_changes_no_row(
    report: Report, operator_env: DocumentsTable
) -> None:
    before = operator_env.sizes()

    run_batches(report, size=100, fix=False)

    assert operator_env.sizes() == before


def test_reconcile_handler_reads_the_manifest_once_per_environment(report: Report) -> None:
    rows = items(report.url)
    reconcile_handler(report.batch(rows[:3], fix=False), LambdaContext())
    boto3.client("s3").delete_object(Bucket=report.bucket, Key=report.manifest_key)

    output = reconcile_handler(report.batch(rows[3:], fix=False), LambdaContext())

    assert output["figures"]["rows_checked"] == len(rows) - 3


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the functions log (Powertools keeps the stdout it found at import)."""
    lines = io.StringIO()
    previous = reconcile_lambda.logger.registered_handler.setStream(lines)
    yield lines
    reconcile_lambda.logger.registered_handler.setStream(previous)


def test_reconcile_handler_logs_at_most_its_line_budget_and_counts_the_rest(
    bucket: str, operator_env: DocumentsTable, log_lines: io.StringIO
) -> None:
    names = [f"uploads/{index:03}.pdf" for index in range(LOG_LINES_PER_BATCH + 7)]
    operator_env.insert(*names)  # every row still NULL: the first night before a backfill
    url = write_inventory(bucket, [Listed(PREFIX + name, 1) for name in names])
    destination, _, key = url.removeprefix("s3://").partition("/")

    reconcile_handler(Report(url, destination, key).batch(items(url), fix=False), LambdaContext())

    logged = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert sum(line["message"] == "drift" for line in logged) == LOG_LINES_PER_BATCH
    (done,) = [line for line in logged if line["message"] == "batch reconciled"]
    assert (done["lines_not_logged"], done["drifted"]) == (7, LOG_LINES_PER_BATCH + 7)


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        ({"Records": []}, "'Items' list"),
        ({"Items": ["a,b,c"], "BatchInput": {}}, "'Items' list"),
        ({"Items": [{"Key": "k"}]}, "no BatchInput"),
        ({"Items": [], "BatchInput": {"manifest_bucket": "b"}}, "manifest_key"),
        (
            {"Items": [], "BatchInput": {"manifest_bucket": "b", "manifest_key": "k", "fix": "y"}},
            "true or false",
        ),
    ],
)
def test_reconcile_handler_refuses_an_event_the_state_machine_does_not_send(
    event: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ReconcileEventError, match=complaint):
        reconcile_handler(event, LambdaContext())


# --- the run's summary -----------------------------------------------------------------------


def test_summary_handler_adds_up_the_batches_into_the_clis_figures(
    report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, cli = run_json(capsys, "check", "--inventory", report.url)
    map_run = write_results(run_batches(report, size=2, fix=False))

    summary = summary_handler(summary_event(report, map_run, fix=False), LambdaContext())

    # `type` names each document; `complete` also weighs batches and rows a batch cannot see.
    compared = {key for key in cli if key in summary} - WHOLE_RUN_ONLY - {"type", "complete"}
    assert len(compared) >= 15
    assert {key: summary[key] for key in compared} == {key: cli[key] for key in compared}
    assert (summary["batches_succeeded"], summary["batches_failed"]) == (5, 0)


def test_summary_handler_writes_the_summary_beside_the_results_and_as_the_latest(
    report: Report,
) -> None:
    map_run = write_results(run_batches(report, size=100, fix=True))

    summary = summary_handler(summary_event(report, map_run, fix=True), LambdaContext())

    bucket = map_run["ResultWriterDetails"]["Bucket"]
    s3 = boto3.client("s3")
    for key in (f"reconciliation/{RUN_ID}/summary.json", "reconciliation/latest-summary.json"):
        written = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert written == summary
    assert (summary["inventory"], summary["map_run_arn"], summary["fix"]) == (
        report.url,
        MAP_RUN_ARN,
        True,
    )


def test_summary_handler_publishes_each_figure_as_one_metric_data_point(
    report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    map_run = write_results(run_batches(report, size=100, fix=True))
    capsys.readouterr()

    summary_handler(summary_event(report, map_run, fix=True), LambdaContext())

    assert emf_metrics(capsys.readouterr().out) == {
        c.METRIC_RECONCILE_ROWS_CHECKED: 9,
        c.METRIC_RECONCILE_DRIFT: 4,
        c.METRIC_RECONCILE_FIXED: 2,
        c.METRIC_RECONCILE_OBJECT_MISSING: 1,
        c.METRIC_RECONCILE_NEWER: 1,
        c.METRIC_RECONCILE_BATCHES_FAILED: 0,
    }


def test_summary_handler_counts_failed_batches_and_quotes_their_errors(
    report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = {
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:reconcile/Map:x",
        "Status": "FAILED",
        "Error": "PostgresError",
        "Cause": '{"errorMessage": "cannot connect to Postgres: timeout expired"}',
    }
    map_run = write_results(run_batches(report, size=100, fix=False), [failed, failed])
    capsys.readouterr()

    summary = summary_handler(summary_event(report, map_run, fix=False), LambdaContext())

    assert (summary["batches_failed"], summary["complete"]) == (2, False)
    assert summary["failures"][0] == {"error": "PostgresError", "cause": failed["Cause"]}
    assert emf_metrics(capsys.readouterr().out)[c.METRIC_RECONCILE_BATCHES_FAILED] == 2


# Refused before any figure exists, so Powertools has no metric to flush, and says so.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_summary_handler_refuses_input_without_the_map_runs_result_location() -> None:
    report = Report("s3://inventory/reports/manifest.json", "inventory", "reports/manifest.json")
    event = summary_event(report, {"MapRunArn": MAP_RUN_ARN}, fix=False)
    with pytest.raises(ReconcileEventError, match="ResultWriterDetails"):
        summary_handler(event, LambdaContext())
