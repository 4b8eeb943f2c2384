"""The source queue and its DLQ, simulated, and a fake SQS client for the real `replay_dlq`.

The model delivers from the source queue itself (it plays Lambda's event source mapping: it
picks which visible messages form a batch, in which order, and calls `Recorder.record`). The
DLQ is handed to the real replay code through `SimulatedSqsClient`, which answers exactly the
calls `size_recorder.adapters.sqs` makes, with SQS's rules: a received message is in flight
(hidden) until deleted or made visible again, receipt handles change per receive, and the
receive count grows per receive. Only the database must be real in these tests.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

SOURCE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/uploads-events"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/uploads-events-dlq"


@dataclass(slots=True)
class QueuedMessage:
    message_id: str
    body: str
    receive_count: int = 0
    # Source queue: deliveries to sit out (a visibility delay). DLQ: whether it is in flight.
    delayed: int = 0
    in_flight: bool = False
    receipt_handle: str = ""


@dataclass(slots=True)
class SimulatedQueues:
    max_receive_count: int
    source: list[QueuedMessage] = field(default_factory=list)
    dlq: list[QueuedMessage] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, body: str) -> QueuedMessage:
        message = QueuedMessage(f"msg-{next(self._ids)}", body)
        self.source.append(message)
        return message

    def receive(self, message: QueuedMessage) -> bool:
        """One receive of a source message: False when SQS moves it to the DLQ instead.

        SQS moves a message on the receive after its count reached maxReceiveCount.
        """
        if message.receive_count >= self.max_receive_count:
            self.source.remove(message)
            self.dlq.append(message)
            return False
        message.receive_count += 1
        return True

    def queue(self, url: str) -> list[QueuedMessage]:
        if url == SOURCE_URL:
            return self.source
        if url == DLQ_URL:
            return self.dlq
        raise ClientError(
            {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": url}}, "Any"
        )


@dataclass(slots=True)
class SimulatedSqsClient:
    """The SQS calls the replay tool makes (receive, delete, visibility, send, attributes)."""

    queues: SimulatedQueues
    _handles: itertools.count[int] = field(default_factory=itertools.count)

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        queue = self.queues.queue(QueueUrl)
        values = {
            "ApproximateNumberOfMessages": str(sum(not m.in_flight for m in queue)),
            "ApproximateNumberOfMessagesNotVisible": str(sum(m.in_flight for m in queue)),
            "QueueArn": _arn(QueueUrl),
        }
        if QueueUrl == SOURCE_URL:
            values["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": _arn(DLQ_URL),
                    "maxReceiveCount": self.queues.max_receive_count,
                }
            )
        # As SQS: an attribute the queue does not have (the DLQ's redrive policy) is left out.
        return {"Attributes": {k: values[k] for k in AttributeNames if k in values}}

    def get_queue_url(self, *, QueueName: str, QueueOwnerAWSAccountId: str = "") -> dict[str, Any]:
        url = next((u for u in (SOURCE_URL, DLQ_URL) if u.endswith(f"/{QueueName}")), None)
        if url is None:
            self.queues.queue(QueueName)  # raises NonExistentQueue
        return {"QueueUrl": url}

    def get_paginator(self, operation: str) -> _Paginator:
        assert operation == "list_dead_letter_source_queues", operation
        return _Paginator()

    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int,
        WaitTimeSeconds: int = 0,
        MessageSystemAttributeNames: list[str] | None = None,
    ) -> dict[str, Any]:
        assert 1 <= MaxNumberOfMessages <= 10, "SQS refuses more than 10"
        visible = [m for m in self.queues.queue(QueueUrl) if not m.in_flight]
        messages = []
        for message in visible[:MaxNumberOfMessages]:
            message.in_flight = True
            message.receive_count += 1
            message.receipt_handle = f"{message.message_id}#{next(self._handles)}"
            messages.append(
                {
                    "MessageId": message.message_id,
                    "ReceiptHandle": message.receipt_handle,
                    "Body": message.body,
                    "Attributes": {"ApproximateReceiveCount": str(message.receive_count)},
                }
            )
        return {"Messages": messages} if messages else {}

    def delete_message_batch(
        self, *, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        queue = self.queues.queue(QueueUrl)
        failed = []
        for entry in self._batch(Entries):
            found = self._by_handle(queue, entry["ReceiptHandle"])
            if found is None:
                failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid"})
            else:
                queue.remove(found)
        return {"Failed": failed} if failed else {}

    def change_message_visibility_batch(
        self,
        *,
        QueueUrl: str,
        Entries: list[dict[str, Any]],
    ) -> dict[str, Any]:
        queue = self.queues.queue(QueueUrl)
        failed = []
        for entry in self._batch(Entries):
            found = self._by_handle(queue, entry["ReceiptHandle"])
            if found is None:
                failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid"})
            else:
                # No clock here: any positive timeout outlasts the replay run that set it.
                found.in_flight = entry["VisibilityTimeout"] > 0
        return {"Failed": failed} if failed else {}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert QueueUrl == SOURCE_URL, "replay sends only to the source queue"
        for entry in self._batch(Entries):
            self.queues.send(entry["MessageBody"])
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def start_message_move_task(self, **_: Any) -> dict[str, Any]:
        # As moto: the native move task is not implemented, so replay uses its copy loop.
        raise ClientError(
            {
                "Error": {"Code": "NotImplementedError", "Message": "no move tasks"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            },
            "StartMessageMoveTask",
        )

    def list_message_move_tasks(self, **_: Any) -> dict[str, Any]:
        return {"Results": []}

    @staticmethod
    def _batch(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert 1 <= len(entries) <= 10, "SQS refuses empty batches and more than 10 entries"
        return entries

    @staticmethod
    def _by_handle(queue: list[QueuedMessage], handle: str) -> QueuedMessage | None:
        return next((m for m in queue if m.in_flight and m.receipt_handle == handle), None)


class _Paginator:
    """ListDeadLetterSourceQueues: the source queue names the DLQ in its redrive policy."""

    def paginate(self, *, QueueUrl: str) -> list[dict[str, Any]]:
        return [{"queueUrls": [SOURCE_URL] if QueueUrl == DLQ_URL else []}]


def _arn(url: str) -> str:
    return f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"
