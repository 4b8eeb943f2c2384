"""SQS access for the handler's unmatched retries, the worker and the operator tools.

boto3 is imported on first use only: the Lambda's `DATABASE_URL` path never needs it unless a
record is unmatched. Clients honour boto3's standard settings (`AWS_ENDPOINT_URL`, profiles,
region), so the same code runs against AWS, moto or any SQS-compatible endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

# SQS refuses batch calls with more entries than this.
SQS_BATCH_LIMIT = 10
# SQS's longest visibility timeout: 12 hours.
MAX_VISIBILITY_S = 43_200

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    message_id: str
    body: str
    receipt_handle: str
    receive_count: int


@cache
def sqs_client() -> Any:
    """One client per process (creating one costs ~50 ms)."""
    import boto3

    return boto3.client("sqs")


def queue_url_from_arn(client: Any, arn: str) -> str:
    """The queue URL for an `arn:aws:sqs:region:account:name`, as the endpoint spells it."""
    return _queue_url(client, arn)


def queue_url_from_arn_cache_clear() -> None:
    _queue_url.cache_clear()


@cache
def _queue_url(client: Any, arn: str) -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"{arn!r} is not an SQS queue ARN")
    response = client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
    return str(response["QueueUrl"])


def receive(
    client: Any, queue_url: str, *, max_messages: int, wait_seconds: int
) -> list[ReceivedMessage]:
    """Up to `max_messages` messages: the first call long-polls, the rest only top the batch up."""
    received: list[ReceivedMessage] = []
    wait = wait_seconds
    while len(received) < max_messages:
        response = client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(SQS_BATCH_LIMIT, max_messages - len(received)),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        page = response.get("Messages", [])
        received.extend(
            ReceivedMessage(
                message_id=m["MessageId"],
                body=m["Body"],
                receipt_handle=m["ReceiptHandle"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in page
        )
        if not page:
            break
        wait = 0
    return received


def delete(client: Any, queue_url: str, receipt_handles: Sequence[str]) -> list[str]:
    """Delete messages; the receipt handles SQS refused to delete come back."""
    refused: list[str] = []
    for chunk in chunks(receipt_handles, SQS_BATCH_LIMIT):
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        refused.extend(chunk[int(f["Id"])] for f in response.get("Failed", []))
    return refused


def change_visibility(client: Any, queue_url: str, delays: Sequence[tuple[str, int]]) -> list[str]:
    """Make each message (receipt handle, seconds) visible again after its delay.

    Returns the receipt handles SQS refused; those simply wait out the queue's own timeout.
    """
    refused: list[str] = []
    for chunk in chunks(delays, SQS_BATCH_LIMIT):
        entries = [
            {
                "Id": str(i),
                "ReceiptHandle": handle,
                "VisibilityTimeout": max(0, min(seconds, MAX_VISIBILITY_S)),
            }
            for i, (handle, seconds) in enumerate(chunk)
        ]
        response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        refused.extend(chunk[int(f["Id"])][0] for f in response.get("Failed", []))
    return refused


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# SQS refuses a batch whose bodies add up to more than this (the documented 256 KiB limit; the
# newer 1 MiB limit is not available on every endpoint, so stay under the old one).
SQS_BATCH_BYTES = 256 * 1024

# Task states after which ListMessageMoveTasks will not change any more.
MOVE_TASK_FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})

# Error codes (besides any HTTP 5xx) meaning "this endpoint cannot run a move task": moto answers
# 500 NotImplementedError, other emulators answer with one of these.
_NOT_IMPLEMENTED_CODES = frozenset(
    {"NotImplemented", "NotImplementedError", "InvalidAction", "UnknownOperationException"}
)


@dataclass(frozen=True, slots=True)
class MoveTask:
    """One native DLQ redrive task, as ListMessageMoveTasks reports it."""

    status: str
    moved: int
    to_move: int | None
    handle: str | None = None
    failure_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in MOVE_TASK_FINISHED


def send(client: Any, queue_url: str, bodies: Sequence[str]) -> list[int]:
    """Send bodies in as few batches as SQS allows; the indexes of the bodies it refused."""
    refused: list[int] = []
    for batch in _send_batches(bodies):
        entries = [{"Id": str(i), "MessageBody": bodies[i]} for i in batch]
        response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        refused.extend(int(f["Id"]) for f in response.get("Failed", []))
    return sorted(refused)


def _send_batches(bodies: Sequence[str]) -> Iterator[list[int]]:
    batch: list[int] = []
    size = 0
    for index, body in enumerate(bodies):
        length = len(body.encode("utf-8"))
        if batch and (len(batch) == SQS_BATCH_LIMIT or size + length > SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += length
    if batch:
        yield batch


def queue_arn(client: Any, queue_url: str) -> str:
    response = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(response["Attributes"]["QueueArn"])


def visible_count(client: Any, queue_url: str) -> int:
    """ApproximateNumberOfMessages: what a DLQ alarm counts (approximate, lags a little)."""
    response = client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(response["Attributes"]["ApproximateNumberOfMessages"])


def dead_letter_target(client: Any, queue_url: str) -> str | None:
    """The ARN of the dead-letter queue this queue's redrive policy names; None without one."""
    response = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    policy = response.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    target = json.loads(policy).get("deadLetterTargetArn")
    return str(target) if target else None


def dead_letter_sources(client: Any, dlq_url: str) -> list[str]:
    """URLs of the queues whose redrive policy names this DLQ."""
    urls: list[str] = []
    paginator = client.get_paginator("list_dead_letter_source_queues")
    for page in paginator.paginate(QueueUrl=dlq_url):
        urls.extend(page.get("queueUrls", []))
    return urls


def start_move_task(
    client: Any, *, source_arn: str, destination_arn: str | None = None
) -> str | None:
    """Start SQS's native redrive from a DLQ; None when the endpoint does not implement it.

    Without `destination_arn` SQS sends each message back to the queue it came from.
    """
    from botocore.exceptions import ClientError

    params = {"SourceArn": source_arn}
    if destination_arn is not None:
        params["DestinationArn"] = destination_arn
    try:
        response = client.start_message_move_task(**params)
    except ClientError as exc:
        if _not_implemented(exc):
            return None
        raise
    return str(response["TaskHandle"])


def latest_move_task(client: Any, source_arn: str) -> MoveTask | None:
    """The most recent move task from this DLQ (SQS lists the newest first)."""
    response = client.list_message_move_tasks(SourceArn=source_arn, MaxResults=1)
    results = response.get("Results", [])
    if not results:
        return None
    task = results[0]
    to_move = task.get("ApproximateNumberOfMessagesToMove")
    return MoveTask(
        status=str(task["Status"]),
        moved=int(task.get("ApproximateNumberOfMessagesMoved", 0)),
        to_move=None if to_move is None else int(to_move),
        handle=task.get("TaskHandle"),
        failure_reason=task.get("FailureReason"),
    )


def _not_implemented(exc: Any) -> bool:
    response = getattr(exc, "response", {}) or {}
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    code = str(response.get("Error", {}).get("Code", ""))
    return status >= 500 or code in _NOT_IMPLEMENTED_CODES


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A queue's approximate counts, as its CloudWatch metrics and alarms see them."""

    visible: int  # ApproximateNumberOfMessages: waiting to be received
    in_flight: int  # ApproximateNumberOfMessagesNotVisible: received, neither deleted nor back
    delayed: int  # ApproximateNumberOfMessagesDelayed: sent with a delay not yet over

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def queue_counts(client: Any, queue_url: str) -> QueueCounts:
    response = client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )
    attributes = response["Attributes"]
    return QueueCounts(
        visible=int(attributes["ApproximateNumberOfMessages"]),
        in_flight=int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def queue_name(queue_url: str) -> str:
    """The queue's name, the last segment of its URL: what CloudWatch's SQS metrics are
    dimensioned by (`QueueName`)."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]
