"""What a batch's report logs and counts (adapters/telemetry.py), read back from Powertools'
own output: JSON log lines, and CloudWatch embedded metrics on stdout."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics

from size_recorder import constants as c
from size_recorder.adapters.telemetry import report
from size_recorder.core.outcomes import BatchResult, MessageResult, Outcome, RecordResult

BY_ROW = RecordResult(Outcome.STALE, "row already holds this or a newer event", "b", "media/a")
BY_LEDGER = RecordResult(
    Outcome.STALE, "the sequencer ledger holds ...", "b", "media/b", by_ledger=True
)


# Powertools configures a service's logger once per process, stream included: a name of this
# module's own, so that its stream is the one set here.
LOG = io.StringIO()
LOGGER = Logger(service="size-recorder-telemetry-tests", stream=LOG)


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    # Powertools keeps metrics on the class: start and end with none left by anyone.
    metrics = Metrics(namespace=c.METRICS_NAMESPACE, service=c.SERVICE_NAME)
    metrics.clear_metrics()
    yield metrics
    metrics.clear_metrics()


def reported(
    capsys: pytest.CaptureFixture[str], metrics: Metrics, *records: RecordResult
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The log lines and the metrics (by name) the report of one message of `records` gives."""
    batch = BatchResult((MessageResult("m", 1, records),))
    LOG.seek(0)
    LOG.truncate()
    report(batch, LOGGER, metrics)
    metrics.flush_metrics()
    logs = [json.loads(line) for line in LOG.getvalue().splitlines()]
    emitted = {
        metric["Name"]: sum(line[metric["Name"]])  # one value per add_metric call
        for line in map(json.loads, capsys.readouterr().out.splitlines())
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    return logs, emitted


def test_a_record_the_ledger_refused_counts_as_stale_and_stale_by_ledger(
    capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    _, emitted = reported(capsys, metrics, BY_LEDGER, BY_ROW)

    assert emitted == {c.METRIC_STALE: 2.0, c.METRIC_STALE_BY_LEDGER: 1.0}


def test_a_record_only_its_row_refused_counts_as_stale_alone(
    capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    _, emitted = reported(capsys, metrics, BY_ROW)

    assert emitted == {c.METRIC_STALE: 1.0}


def test_a_record_the_ledger_refused_is_logged_with_its_reason_and_counted_in_the_batch_line(
    capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    logs, _ = reported(capsys, metrics, BY_LEDGER)

    record_line, batch_line = logs
    assert (record_line["message"], record_line["reason"]) == ("record stale", BY_LEDGER.reason)
    assert (batch_line["message"], batch_line["stale"], batch_line["stale_by_ledger"]) == (
        "batch processed",
        1,
        1,
    )
