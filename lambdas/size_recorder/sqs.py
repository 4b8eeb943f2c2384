"""SQS access for the handler's unmatched retries, the worker and the replay tool.

boto3 is imported on first use only: the Lambda's `DATABASE_URL` path never needs it unless a
record is unmatched. Clients honour boto3's standard settings (`AWS_ENDPOINT_URL`, profiles,
region), so the same code runs against AWS, moto or any SQS-compatible endpoint.
"""

from __future__ import annotations

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
