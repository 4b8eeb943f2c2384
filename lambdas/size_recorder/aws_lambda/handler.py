"""Lambda entry point: an SQS batch in, a partial batch response out.

Thin on purpose: the work is `Recorder.record`, shared with the worker and the replay tool.
The whole batch is written in one round trip first; Powertools' batch utility then builds the
partial batch response from each message's outcome, so exactly the messages that were not
recorded are retried. A batch where every message failed is reported, not raised: an
all-unmatched batch is normal (rows not inserted yet) and must not count as a function error.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from size_recorder import constants as c
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
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class MessageNotRecorded(Exception):
    """Raised for a message that was not recorded: Powertools lists it in batchItemFailures,
    and a direct S3 invocation that raises it is retried by Lambda."""


@cache
def recorder() -> Recorder:
    """Built on the first invocation and kept while the environment is warm."""
    return build_recorder(Settings.from_env(os.environ))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:s3":
        return _record_s3_invocation(event, context)
    with _collector_paused():
        messages = [_message(record) for record in records]
        batch = recorder().record(messages, remaining_ms=context.get_remaining_time_in_millis)
    report(batch, logger, metrics)
    _retry_unmatched_soon(batch, records)
    failed = {m.message_id: m.reason() for m in batch.failed}

    def check(record: SQSRecord) -> None:
        if record.message_id in failed:
            raise MessageNotRecorded(failed[record.message_id])

    response = process_partial_response(
        event=event, record_handler=check, processor=processor, context=context
    )
    return dict(response)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a batch's parsing and writing.

    A batch allocates a few objects per record (decoded bodies, records, results), all acyclic
    and freed by reference counting; yet every 700 allocations start a collection, and the
    older generations' collections rescan the whole heap (the warm function's modules included).
    At 10,000 records that was a fifth of the handler's time.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _message(record: dict[str, Any]) -> Message:
    attributes = record.get("attributes") or {}
    return Message(
        message_id=record["messageId"],
        body=record.get("body") or "",
        receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
    )


def _record_s3_invocation(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 invoking the function directly: one 'message'; failing it makes Lambda retry it."""
    message = Message(message_id=context.aws_request_id, body=json.dumps(event))
    batch = recorder().record([message], remaining_ms=context.get_remaining_time_in_millis)
    report(batch, logger, metrics)
    if batch.failed:
        raise MessageNotRecorded(batch.failed[0].reason())
    return {"recorded": len(batch.messages[0].records)}


def _retry_unmatched_soon(batch: BatchResult, records: list[dict[str, Any]]) -> None:
    delays = recorder().retry_delays(batch)
    if not delays:
        return
    from size_recorder.adapters import sqs

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
