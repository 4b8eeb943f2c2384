"""Lambda entry point: an SQS batch in, a partial batch response out.

Thin on purpose: the work is `Recorder.record`, shared with the worker and the replay tool, which
parses the whole batch and writes it in one round trip. The response lists the messages that
were not recorded, so SQS redelivers exactly those. A batch where every message failed is
answered the same way, not raised: an all-unmatched batch is normal (the rows are not inserted
yet) and must not count as a function error.

The function reads S3 events only through its SQS queue (the stack wires nothing else); any
other event is refused with `NotAnSqsBatchError`.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.adapters.telemetry import report
from size_recorder.adapters.wiring import build_recorder
from size_recorder.core.config import Settings
from size_recorder.core.outcomes import BatchResult
from size_recorder.core.recorder import Message, Recorder

# Powertools' own variables win; the defaults keep a function deployed without them working
# (a Metrics object without a namespace would fail the invocation after the write).
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or c.SERVICE_NAME)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or c.METRICS_NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or c.SERVICE_NAME,
)


class NotAnSqsBatchError(ValueError):
    """The event is not a batch from an SQS event source mapping: the function is miswired."""


@cache
def recorder() -> Recorder:
    """Built on the first invocation and kept while the environment is warm."""
    return build_recorder(Settings.from_env(os.environ))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = _sqs_records(event)
    messages = [_message(record) for record in records]
    batch = recorder().record(messages, remaining_ms=context.get_remaining_time_in_millis)
    report(batch, logger, metrics)
    _retry_unmatched_soon(batch, records)
    return {"batchItemFailures": [{"itemIdentifier": m.message_id} for m in batch.failed]}


def _sqs_records(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's SQS records; raises rather than report an empty batch as a success.

    An event source mapping never sends an empty batch, so an event without records is a
    misconfiguration (a test invoke, another trigger): raising makes it a visible error.
    """
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise NotAnSqsBatchError(
            f"expected an SQS batch with a non-empty 'Records' list, got keys {sorted(event)}"
        )
    sources = {record.get("eventSource") for record in records}
    if sources != {"aws:sqs"}:
        raise NotAnSqsBatchError(
            f"expected records from 'aws:sqs', got {sorted(map(str, sources))}:"
            " this function reads S3 events only through its SQS queue"
        )
    return records


def _message(record: dict[str, Any]) -> Message:
    attributes = record.get("attributes") or {}
    return Message(
        message_id=record["messageId"],
        body=record.get("body") or "",
        receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
    )


def _retry_unmatched_soon(batch: BatchResult, records: list[dict[str, Any]]) -> None:
    """Make unmatched-only messages visible again after a short delay, not the queue's timeout."""
    delays = recorder().retry_delays(batch)
    if not delays:
        return
    by_queue: dict[str, list[tuple[str, int]]] = {}
    for record in records:
        if record["messageId"] in delays:
            by_queue.setdefault(record["eventSourceARN"], []).append(
                (record["receiptHandle"], delays[record["messageId"]])
            )
    try:
        client = sqs.sqs_client()
        for arn, entries in by_queue.items():
            sqs.change_visibility(client, sqs.queue_url_from_arn(client, arn), entries)
    except Exception:  # a retry that comes later than planned is not worth failing for
        logger.exception("could not shorten the visibility of unmatched messages")
