"""An upload pipeline on moto (bucket → queue → DLQ) as the operator commands see it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import boto3

from size_recorder.cli import main

# The prefix django-storages' AWS_LOCATION puts in front of every name the app stores.
PREFIX = "media/"


@dataclass(frozen=True, slots=True)
class Pipeline:
    bucket: str
    queue_url: str
    dlq_url: str

    def upload(self, *names: str, size: int = 100) -> None:
        """Upload objects whose rows (named without the prefix) may not exist yet."""
        s3 = boto3.client("s3")
        for name in names:
            s3.put_object(Bucket=self.bucket, Key=PREFIX + name, Body=b"x" * size)

    def fill_dlq(self, count: int) -> None:
        """Let the worker fail the unmatched uploads until SQS moves them to the DLQ.

        As in production: the worker acknowledges the s3:TestEvent, reports the uploads
        unmatched and shortens their visibility; the next receive past maxReceiveCount moves
        them to the DLQ (moto moves on receive, as SQS does).
        """
        main(["worker", "--queue-url", self.queue_url, "--exit-when-empty", "--wait-seconds", "0"])
        sqs = boto3.client("sqs")
        deadline = time.monotonic() + 15
        while dlq_count(self.dlq_url) < count:
            assert time.monotonic() < deadline, "messages did not reach the DLQ"
            sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=1, VisibilityTimeout=0)


def dlq_count(url: str) -> int:
    """Visible plus in-flight messages: everything still in the queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
