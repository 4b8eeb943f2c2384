"""The Lambda entry point: SQS event in, partial batch response out, rows in Postgres."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from size_recorder import constants as c
from size_recorder.adapters.sqs import queue_arn
from size_recorder.aws_lambda import handler
from tests.support.events import load_event, sqs_event
from tests.support.lambda_context import LambdaContext
from tests.support.postgres import DocumentsTable

QUEUE = "uploads-events"


@pytest.fixture
def queue() -> Iterator[tuple[str, str]]:
    """(url, arn) of a moto queue the handler can change visibility on."""
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        arn = queue_arn(sqs, url)
        yield url, arn


@pytest.fixture(autouse=True)
def configured(documents: DocumentsTable, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(c.ENV_DATABASE_URL, documents.url)
    monkeypatch.setenv(c.ENV_TABLE, documents.qualified)
    monkeypatch.setenv(c.ENV_KEY_PREFIX, "media/")
    handler.recorder.cache_clear()
    yield
    handler.recorder.cache_clear()


def test_lambda_handler_records_sizes_and_reports_no_failures(
    documents: DocumentsTable, queue: tuple[str, str]
) -> None:
    documents.insert("uploads/red flower.jpg")
    event = sqs_event(load_event("s3_put.json"), load_event("s3_test_event.json"))
    response = handler.lambda_handler(event, LambdaContext())
    assert response == {"batchItemFailures": []}
    assert documents.sizes() == {"uploads/red flower.jpg": 1024}


def test_lambda_handler_reports_only_the_failed_messages(
    documents: DocumentsTable, queue: tuple[str, str]
) -> None:
    documents.insert("uploads/red flower.jpg")
    event = sqs_event(load_event("s3_put.json"), "{broken", load_event("sns_envelope.json"))
    response = handler.lambda_handler(event, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_lambda_handler_reports_a_batch_where_everything_failed_without_raising(
    queue: tuple[str, str],
) -> None:
    response = handler.lambda_handler(sqs_event("{", "}"), LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}


def test_lambda_handler_shortens_the_visibility_of_unmatched_messages(
    documents: DocumentsTable, queue: tuple[str, str]
) -> None:
    url, arn = queue
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody=load_event("s3_put.json"))
    received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"][0]
    event = sqs_event(received["Body"], queue_arn=arn)
    event["Records"][0]["receiptHandle"] = received["ReceiptHandle"]

    response = handler.lambda_handler(event, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    redelivered = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
    assert json.loads(redelivered["Messages"][0]["Body"]) == json.loads(received["Body"])


def test_lambda_handler_refuses_a_direct_s3_invocation(documents: DocumentsTable) -> None:
    documents.insert("uploads/red flower.jpg")
    with pytest.raises(handler.NotAnSqsBatchError, match="only through its SQS queue"):
        handler.lambda_handler(json.loads(load_event("s3_put.json")), LambdaContext())
    assert documents.sizes() == {"uploads/red flower.jpg": None}


def test_lambda_handler_fails_every_message_when_time_is_nearly_up(
    documents: DocumentsTable, queue: tuple[str, str]
) -> None:
    documents.insert("uploads/red flower.jpg")
    event = sqs_event(load_event("s3_put.json"))
    response = handler.lambda_handler(event, LambdaContext(timeout_ms=800))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert documents.sizes() == {"uploads/red flower.jpg": None}


def test_lambda_handler_names_the_variable_of_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, queue: tuple[str, str]
) -> None:
    monkeypatch.setenv(c.ENV_TABLE, "documents; DROP TABLE x")
    with pytest.raises(ValueError, match=c.ENV_TABLE):
        handler.lambda_handler(sqs_event(load_event("s3_put.json")), LambdaContext())


@pytest.mark.parametrize("event", [{}, {"Records": []}], ids=["no Records", "empty Records"])
def test_lambda_handler_refuses_an_event_without_records(event: dict[str, Any]) -> None:
    with pytest.raises(handler.NotAnSqsBatchError, match="non-empty 'Records' list"):
        handler.lambda_handler(event, LambdaContext())
