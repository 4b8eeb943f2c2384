"""Logs and metrics for a batch: every skip and failure logged with its reason and counted."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from size_recorder import constants as c
from size_recorder.core.outcomes import BatchResult, Outcome

_QUIET = frozenset({Outcome.RECORDED})
_EXPECTED = frozenset({Outcome.STALE, Outcome.SKIPPED})


def report(batch: BatchResult, logger: Logger, metrics: Metrics | None = None) -> None:
    """One log line per record that was not simply recorded, one metric per outcome."""
    debug = logger.log_level <= logging.DEBUG
    for message in batch.messages:
        for record in message.records:
            if record.outcome in _QUIET and not debug:
                continue
            log = logger.info if record.outcome in _EXPECTED | _QUIET else logger.warning
            log(
                f"record {record.outcome}",
                outcome=str(record.outcome),
                reason=record.reason,
                message_id=message.message_id,
                receive_count=message.receive_count,
                bucket=record.bucket,
                key=record.key,
                size=record.size,
                table=record.table,
            )
    counts = batch.counts()
    by_ledger = batch.stale_by_ledger()
    logger.info(
        "batch processed",
        messages=len(batch.messages),
        messages_failed=len(batch.failed),
        extra={
            **{str(outcome): count for outcome, count in counts.items()},
            **({"stale_by_ledger": by_ledger} if by_ledger else {}),
        },
    )
    if metrics is None:
        return
    for outcome, count in counts.items():
        metrics.add_metric(name=outcome.metric, unit=MetricUnit.Count, value=count)
    if by_ledger:
        metrics.add_metric(name=c.METRIC_STALE_BY_LEDGER, unit=MetricUnit.Count, value=by_ledger)
    if batch.failed:
        metrics.add_metric(
            name=c.METRIC_MESSAGES_FAILED, unit=MetricUnit.Count, value=len(batch.failed)
        )
