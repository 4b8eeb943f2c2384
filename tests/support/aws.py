"""Names no other test uses, and a queue with its dead-letter queue, on moto."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from size_recorder.adapters.sqs import queue_arn


def unique(prefix: str) -> str:
    """A bucket/queue name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True, slots=True)
class QueueWithDlq:
    url: str
    arn: str
    dlq_url: str


def queue_with_dlq(
    sqs: Any, name: str, *, max_receive_count: int, visibility_timeout_s: int | None = None
) -> QueueWithDlq:
    """A queue whose redrive policy moves a message to its DLQ after `max_receive_count`."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    policy = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": max_receive_count}
    attributes = {"RedrivePolicy": json.dumps(policy)}
    if visibility_timeout_s is not None:
        attributes["VisibilityTimeout"] = str(visibility_timeout_s)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return QueueWithDlq(url=url, arn=queue_arn(sqs, url), dlq_url=dlq_url)
