"""Fixtures for the operator commands (replay, backfill, check): the environment an operator's
shell would have, a bucket, and a queue whose dead letters arrive the way production's do."""

from __future__ import annotations

import time
from dataclasses import dataclass

import boto3
import pytest

from size_recorder.cli import main
from tests.support.aws import queue_with_dlq, unique
from tests.support.postgres import DocumentsTable

# The prefix django-storages' AWS_LOCATION puts in front of every name the app stores.
PREFIX = "media/"


@pytest.fixture
def operator_env(
    moto_endpoint: str, documents: DocumentsTable, monkeypatch: pytest.MonkeyPatch
) -> DocumentsTable:
    """The variables an operator exports before running `size-recorder` against moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("DATABASE_URL", documents.url)
    monkeypatch.setenv("SIZE_RECORDER_TABLE", documents.qualified)
    monkeypatch.setenv("SIZE_RECORDER_KEY_PREFIX", PREFIX)
    # Unmatched messages come back after 1 s instead of 2 s: the DLQ fills faster.
    monkeypatch.setenv("SIZE_RECORDER_UNMATCHED_RETRY_BASE_S", "1")
    return documents


@pytest.fixture
def bucket(operator_env: DocumentsTable) -> str:
    name = unique("uploads")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


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


@pytest.fixture
def pipeline(bucket: str) -> Pipeline:
    """Bucket → queue (maxReceiveCount 1) → DLQ, like the deployed stack with a short fuse."""
    queues = queue_with_dlq(boto3.client("sqs"), unique("uploads-events"), max_receive_count=1)
    boto3.client("s3").put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queues.arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return Pipeline(bucket, queues.url, queues.dlq_url)
