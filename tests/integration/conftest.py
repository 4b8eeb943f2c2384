"""Fixtures for the operator commands (replay, backfill, check): the environment an operator's
shell would have, a bucket, and a queue whose dead letters arrive the way production's do."""

from __future__ import annotations

import boto3
import pytest

from size_recorder import constants as c
from tests.integration.pipeline import PREFIX, Pipeline
from tests.support.aws import queue_with_dlq, unique
from tests.support.postgres import DocumentsTable


@pytest.fixture
def operator_env(
    moto_endpoint: str, documents: DocumentsTable, monkeypatch: pytest.MonkeyPatch
) -> DocumentsTable:
    """The variables an operator exports before running `size-recorder` against moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv(c.ENV_DATABASE_URL, documents.url)
    monkeypatch.setenv(c.ENV_TABLE, documents.qualified)
    monkeypatch.setenv(c.ENV_KEY_PREFIX, PREFIX)
    # Unmatched messages come back after 1 s instead of 2 s: the DLQ fills faster.
    monkeypatch.setenv(c.ENV_UNMATCHED_RETRY_BASE_S, "1")
    return documents


@pytest.fixture
def bucket(operator_env: DocumentsTable) -> str:
    name = unique("uploads")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


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
