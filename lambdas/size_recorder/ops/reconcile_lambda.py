"""The nightly reconciliation's Lambda entry points: one batch of inventory rows, then the run's
summary.

The stack's Step Functions state machine (size_recorder_cdk/reconcile.py) starts when S3
Inventory writes a `manifest.json`. A Distributed Map reads the report's rows itself (ItemReader,
InputType MANIFEST) and sends them, in batches, to `reconcile_handler`; then `summary_handler`
adds up what the batches returned. This is ops code that happens to run in Lambda: it lives in
ops/ and ships in the reconciliation's own bundle (the recorder's bundle holds no ops code).

A batch, as the ItemBatcher builds it:

    {"Items": [{"Bucket": "media", "Key": "media/a+b.pdf", "Size": "8", ...}, ...],
     "BatchInput": {"manifest_bucket": "...", "manifest_key": ".../manifest.json", "fix": true}}

Each item is one CSV row of the report, named by the manifest's fileSchema, every value a string
as the file holds it (keys URL-encoded). The batch goes through `ops.reconcile.reconcile_batch`,
the code `size-recorder check --inventory` runs on each chunk, so both give the same answers.
The manifest is read once per warm environment, for its creationTimestamp: the report's time,
which decides whether a row is newer than the report. Rows the report lacks need the whole
report: only the CLI finds those.

Step Functions retries a batch that failed (Postgres unreachable, Lambda throttled). Every fix is
a compare-and-set on what that attempt read, so a second attempt undoes nothing and counts what
it finds then.

The summary reads the Map Run's results (the ResultWriter's JSON Lines: one batch's return value
per line, failed batches in FAILED files), writes the totals beside them and, as
latest-summary.json, under the results prefix, and publishes the run's figures as CloudWatch
metrics (EMF): one data point per run, which the drift alarm compares with its threshold.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from size_recorder import constants as c
from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.core.config import Settings
from size_recorder.ops.check import Drift
from size_recorder.ops.inventory import read_manifest
from size_recorder.ops.reconcile import NewerThanReport, ReconcileResult, reconcile_batch

# Powertools' own variables win, as in the recorder's handler.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or c.SERVICE_NAME)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or c.METRICS_NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or c.SERVICE_NAME,
)

# Lines logged per batch for drifting or newer rows. The first night before any backfill can find
# every row still NULL: a line each would cost more than the run. The counts cover the rest.
LOG_LINES_PER_BATCH: Final = 50
# Failed batches whose error the summary quotes, and how much of each cause.
FAILURE_SAMPLES: Final = 5
_CAUSE_CHARS: Final = 500
# The ResultWriter's file groups: what finished, what failed, what never started.
_RESULT_GROUPS: Final = ("SUCCEEDED", "FAILED", "PENDING")


class ReconcileEventError(ValueError):
    """The event is not what the reconciliation's state machine sends: the function is miswired."""


# --- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """What a run reports as metrics, from its totals."""

    rows_checked: int  # inventory rows read
    drifted: int  # rows whose size disagreed with S3 (differs, object gone, still NULL)
    fixed: int  # of those, rows set to the size S3 has
    missing_object: int  # rows naming an object that no longer exists
    newer_than_report: int  # rows changed after the report was taken: left to the next one

    @classmethod
    def of(cls, result: ReconcileResult) -> Figures:
        return cls(
            rows_checked=result.objects_in_report,
            drifted=result.drift,
            fixed=result.fixed,
            missing_object=result.rows_object_gone,
            newer_than_report=result.rows_newer_than_report,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# Each figure's metric: one data point per run.
METRICS: Final = {
    "rows_checked": c.METRIC_RECONCILE_ROWS_CHECKED,
    "drifted": c.METRIC_RECONCILE_DRIFT,
    "fixed": c.METRIC_RECONCILE_FIXED,
    "missing_object": c.METRIC_RECONCILE_OBJECT_MISSING,
    "newer_than_report": c.METRIC_RECONCILE_NEWER,
}


# --- a batch -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchInput:
    """What the state machine adds to every batch, and to the summary step's input."""

    manifest_url: str
    fix: bool

    @classmethod
    def of(cls, given: Any) -> BatchInput:
        """Raises ReconcileEventError unless `given` names the manifest and says whether to fix."""
        if not isinstance(given, dict):
            raise ReconcileEventError("no BatchInput: the state machine sets one on every batch")
        bucket, key, fix = (
            given.get(c.BATCH_MANIFEST_BUCKET),
            given.get(c.BATCH_MANIFEST_KEY),
            given.get(c.BATCH_FIX),
        )
        if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
            raise ReconcileEventError(
                f"expected {c.BATCH_MANIFEST_BUCKET} and {c.BATCH_MANIFEST_KEY} naming the"
                f" inventory's manifest, got keys {sorted(given)}"
            )
        if not isinstance(fix, bool):
            raise ReconcileEventError(f"{c.BATCH_FIX} must be true or false, got {fix!r}")
        return cls(f"s3://{bucket}/{key}", fix)


@dataclass(frozen=True, slots=True)
class Batch:
    items: Sequence[Mapping[str, Any]]
    given: BatchInput

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Batch:
        """Raises ReconcileEventError for anything but an ItemBatcher's batch with our input."""
        items = event.get("Items")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ReconcileEventError(
                "expected a Distributed Map batch with an 'Items' list of inventory rows, got"
                f" keys {sorted(event)}"
            )
        return cls(items, BatchInput.of(event.get("BatchInput")))


class _LineBudget:
    """Logs a batch's drifting and newer rows, up to LOG_LINES_PER_BATCH lines."""

    def __init__(self) -> None:
        self.logged = 0
        self.not_logged = 0

    def _take(self) -> bool:
        if self.logged < LOG_LINES_PER_BATCH:
            self.logged += 1
            return True
        self.not_logged += 1
        return False

    def drift(self, drift: Drift) -> None:
        if self._take():
            logger.info(
                "drift",
                kind=drift.kind,
                key=drift.key,
                recorded=drift.recorded,
                actual=drift.actual,
                fix=drift.fix,
            )

    def newer(self, newer: NewerThanReport) -> None:
        if self._take():
            logger.info(
                "newer than the report: left to the next one",
                key=newer.key,
                recorded=newer.recorded,
                actual=newer.actual,
                last_modified=newer.last_modified.isoformat(),
            )


# Built on first use and kept while the environment is warm: one connection per environment,
# so the Distributed Map's MaxConcurrency bounds the connections.
@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@cache
def rows() -> RowStore:
    return RowStore.from_settings(settings())


@cache
def s3_client() -> Any:
    return s3.s3_client()


@lru_cache(maxsize=4)
def report_time(manifest_url: str) -> datetime:
    """The report's creationTimestamp; a manifest never changes, so one read per environment."""
    return read_manifest(s3_client(), manifest_url).report_time


@logger.inject_lambda_context
def reconcile_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = Batch.of(event)
    lines = _LineBudget()
    result = reconcile_batch(
        settings(),
        rows(),
        batch.items,
        fix=batch.given.fix,
        report_time=report_time(batch.given.manifest_url),
        client=s3_client(),
        on_drift=lines.drift,
        on_newer=lines.newer,
    )
    figures = Figures.of(result)
    logger.info(
        "batch reconciled",
        inventory=batch.given.manifest_url,
        items=len(batch.items),
        lines_not_logged=lines.not_logged,
        extra=figures.as_dict(),
    )
    return {"figures": figures.as_dict(), "result": result.as_dict()}


# --- the run's summary ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    error: str
    cause: str


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A whole run: the batches' results added up, and the batches that did not succeed."""

    inventory: str
    report_time: datetime
    fix: bool
    map_run_arn: str
    results: str  # the ResultWriter's manifest
    totals: ReconcileResult
    batches_succeeded: int
    batches_failed: int
    batches_pending: int  # never started: the Map Run failed first
    failures: tuple[Failure, ...] = field(default=())

    @property
    def figures(self) -> Figures:
        return Figures.of(self.totals)

    @property
    def complete(self) -> bool:
        """Every batch succeeded, no drift is left, and the report's objects matched rows."""
        return (
            self.batches_failed == 0
            and self.batches_pending == 0
            and self.totals.unrepaired == 0
            and not self.totals.nothing_matched
        )

    def as_dict(self) -> dict[str, Any]:
        """The summary's JSON: the figures, then every count in the CLI's summary keys."""
        return {
            "type": "reconciliation",
            "inventory": self.inventory,
            "report_time": self.report_time.isoformat(),
            "fix": self.fix,
            "map_run_arn": self.map_run_arn,
            "results": self.results,
            "batches_succeeded": self.batches_succeeded,
            "batches_failed": self.batches_failed,
            "batches_pending": self.batches_pending,
            **self.figures.as_dict(),
            **self.totals.as_dict(),
            "nothing_matched": self.totals.nothing_matched,
            "complete": self.complete,
            "failures": [asdict(failure) for failure in self.failures],
        }


def summarise(
    client: Any,
    *,
    results_bucket: str,
    results_key: str,
    inventory: str,
    report_time: datetime,
    fix: bool,
    map_run_arn: str,
) -> RunSummary:
    """Add up a Map Run's results, read line by line from the ResultWriter's files."""
    manifest = json.loads(s3.read_object(client, bucket=results_bucket, key=results_key))
    files = manifest.get("ResultFiles") or {}

    def lines(group: str) -> Iterable[dict[str, Any]]:
        for entry in files.get(group) or ():
            for line in s3.read_lines(client, bucket=results_bucket, key=entry["Key"]):
                if line.strip():
                    yield json.loads(line)

    totals, succeeded = ReconcileResult(), 0
    for output in lines("SUCCEEDED"):
        totals += ReconcileResult.from_dict(output["result"])
        succeeded += 1
    failed, failures = 0, list[Failure]()
    for execution in lines("FAILED"):
        failed += 1
        if len(failures) < FAILURE_SAMPLES:
            failures.append(
                Failure(
                    str(execution.get("Error") or execution.get("Status") or "unknown"),
                    str(execution.get("Cause") or "")[:_CAUSE_CHARS],
                )
            )
    return RunSummary(
        inventory=inventory,
        report_time=report_time,
        fix=fix,
        map_run_arn=map_run_arn,
        results=f"s3://{results_bucket}/{results_key}",
        totals=totals,
        batches_succeeded=succeeded,
        batches_failed=failed,
        batches_pending=sum(1 for _ in lines("PENDING")),
        failures=tuple(failures),
    )


def summary_keys(results_key: str) -> tuple[str, str]:
    """(the run's summary, beside its results; the latest summary, under the results prefix).

    The ResultWriter writes `PREFIX/MAP-RUN-ID/manifest.json`.
    """
    run = posixpath.dirname(results_key)
    prefix = posixpath.dirname(run)
    return (
        posixpath.join(run, c.RECONCILE_SUMMARY_NAME),
        posixpath.join(prefix, c.RECONCILE_LATEST_NAME),
    )


@metrics.log_metrics
@logger.inject_lambda_context
def summary_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`event`: the batches' BatchInput, and the Distributed Map's output as `map_run`
    ({"MapRunArn": ..., "ResultWriterDetails": {"Bucket": ..., "Key": ...}})."""
    map_run = event.get(c.SUMMARY_MAP_RUN)
    details = map_run.get("ResultWriterDetails") if isinstance(map_run, dict) else None
    if not isinstance(details, dict) or not details.get("Bucket") or not details.get("Key"):
        raise ReconcileEventError(
            f"expected the Distributed Map's output, with ResultWriterDetails, as"
            f" {c.SUMMARY_MAP_RUN!r}; got keys {sorted(event)}"
        )
    assert isinstance(map_run, dict)  # for mypy: `details` came from it
    given = BatchInput.of(event)
    summary = summarise(
        s3_client(),
        results_bucket=str(details["Bucket"]),
        results_key=str(details["Key"]),
        inventory=given.manifest_url,
        report_time=report_time(given.manifest_url),
        fix=given.fix,
        map_run_arn=str(map_run.get("MapRunArn") or ""),
    )
    document = summary.as_dict()
    body = json.dumps(document, indent=2).encode()
    for key in summary_keys(str(details["Key"])):
        s3.write_object(s3_client(), bucket=str(details["Bucket"]), key=key, body=body)
    for name, value in summary.figures.as_dict().items():
        metrics.add_metric(name=METRICS[name], unit=MetricUnit.Count, value=value)
    metrics.add_metric(
        name=c.METRIC_RECONCILE_BATCHES_FAILED,
        unit=MetricUnit.Count,
        value=summary.batches_failed + summary.batches_pending,
    )
    log = logger.info if summary.complete else logger.warning
    log(
        "reconciliation finished",
        extra={k: v for k, v in document.items() if k not in {"failures", "type"}},
    )
    for failure in summary.failures:
        logger.warning("batch failed", error=failure.error, cause=failure.cause)
    return document
