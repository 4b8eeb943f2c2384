"""The whole path on this machine: moto S3 → SQS notification → `size-recorder worker` → row."""

from __future__ import annotations

import json

import boto3
import pytest

from size_recorder import constants as c
from size_recorder.adapters.sqs import queue_arn
from size_recorder.cli import main
from tests.support.aws import unique
from tests.support.postgres import DocumentsTable

KEY = "media/uploads/my file+v2 – Ünïcødé.pdf"
BODY = b"%PDF-1.7 " + b"x" * 1234


@pytest.fixture
def pipeline(
    moto_endpoint: str, documents: DocumentsTable, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """(bucket, queue URL): a bucket notifying a queue, and the worker's environment set."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv(c.ENV_DATABASE_URL, documents.url)
    monkeypatch.setenv(c.ENV_TABLE, documents.qualified)
    monkeypatch.setenv(c.ENV_KEY_PREFIX, "media/")
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket, queue = unique("uploads"), unique("uploads-events")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = queue_arn(sqs, url)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return bucket, url


def test_worker_records_the_size_of_an_upload_with_an_awkward_key(
    pipeline: tuple[str, str], documents: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, url = pipeline
    documents.insert("uploads/my file+v2 – Ünïcødé.pdf")
    boto3.client("s3").put_object(Bucket=bucket, Key=KEY, Body=BODY)

    assert (
        main(["worker", "--queue-url", url, "--exit-when-empty", "--wait-seconds", "1", "--json"])
        == 0
    )

    assert documents.sizes() == {"uploads/my file+v2 – Ünïcødé.pdf": len(BODY)}
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"]["recorded"] == 1
    assert summary["records"]["skipped"] == 1  # the s3:TestEvent moto sends first
    assert summary["left_for_redelivery"] == 0


def test_worker_leaves_unmatched_messages_on_the_queue_and_exits_1(
    pipeline: tuple[str, str], documents: DocumentsTable
) -> None:
    bucket, url = pipeline
    boto3.client("s3").put_object(Bucket=bucket, Key="media/orphan.txt", Body=b"abc")

    code = main(["worker", "--queue-url", url, "--exit-when-empty", "--wait-seconds", "1"])

    assert code == 1
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_worker_refuses_to_start_with_bad_configuration(
    pipeline: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(c.ENV_SIZE_COLUMN, "bytes")
    assert main(["worker", "--queue-url", pipeline[1], "--exit-when-empty"]) == 2
    assert "SIZE_RECORDER_SIZE_COLUMN: column 'bytes' does not exist" in capsys.readouterr().err


def test_worker_keeps_consuming_while_postgres_is_unreachable(
    pipeline: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, url = pipeline
    monkeypatch.setenv(c.ENV_DATABASE_URL, "postgresql://nobody@127.0.0.1:9/app?connect_timeout=1")
    boto3.client("s3").put_object(Bucket=bucket, Key="media/while-down.txt", Body=b"abc")

    code = main(["worker", "--queue-url", url, "--exit-when-empty", "--wait-seconds", "1"])

    assert code == 1  # started, failed the message, left it for redelivery
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
