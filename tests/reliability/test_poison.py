"""Poison messages: malformed and hostile bodies mixed into good traffic. Every good record is
recorded, exactly the bad messages are reported failed, and SQS's redrive policy carries them,
and only them, to the DLQ.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger

from size_recorder.adapters.sqs import send
from size_recorder.aws_lambda import handler
from size_recorder.core.recorder import Recorder
from size_recorder.ops.worker import run_worker
from tests.reliability.poison import BAD_MAKERS, bad_bodies
from tests.support.aws import queue_with_dlq, unique
from tests.support.events import load_event, s3_body
from tests.support.lambda_context import LambdaContext
from tests.support.postgres import DocumentsTable, recorder_env

BAD_COUNT = 1_000
# Through moto's SQS fewer: its ReceiveMessage costs ~0.1-0.5 s here with a thousand messages
# queued. A hundred still covers every kind of bad body several times.
DLQ_BAD_COUNT = 108


def lambda_event(messages: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for message_id, body in messages
        ]
    }


@pytest.fixture
def lambda_env(documents: DocumentsTable, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in recorder_env(documents).items():
        monkeypatch.setenv(name, value)
    handler.recorder.cache_clear()
    yield
    handler.recorder.cache_clear()


@pytest.mark.usefixtures("lambda_env")
def test_lambda_handler_fails_exactly_the_poison_messages_among_good_ones(
    documents: DocumentsTable,
) -> None:
    """1,000 bad bodies shuffled among 4,000 good ones, 100 per invocation: the response lists
    exactly the bad messages, and every good record is in its row."""
    rng = random.Random(1_000)  # noqa: S311 - reproducible shuffles, not secrets
    good = {f"g/{i}": rng.randrange(2**40) for i in range(4_000)}
    documents.insert(*good)
    messages = [
        (f"good-{i}", s3_body(f"media/{key}", size)) for i, (key, size) in enumerate(good.items())
    ]
    messages += [(f"bad-{n}", body) for n, body in enumerate(bad_bodies(BAD_COUNT))]
    messages.append(("test-event", load_event("s3_test_event.json")))
    rng.shuffle(messages)

    reported: set[str] = set()
    for start in range(0, len(messages), 100):
        response = handler.lambda_handler(
            lambda_event(messages[start : start + 100]), LambdaContext()
        )
        reported |= {item["itemIdentifier"] for item in response["batchItemFailures"]}

    assert reported == {f"bad-{n}" for n in range(BAD_COUNT)}
    assert documents.sizes() == good
    print(
        f"\npoison: {len(messages)} messages ({BAD_COUNT} bad, {len(BAD_MAKERS)} kinds) through"
        f" the handler; {len(reported)} reported failed, all of them bad; {len(good)} good"
        " rows right"
    )


@pytest.mark.usefixtures("lambda_env")
def test_lambda_handler_logs_a_reason_for_every_poison_message(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Each bad message leaves one JSON log line naming it and why, even bodies with lone
    surrogates: before the fix, the logger dropped those lines ("--- Logging error ---")."""
    bodies = bad_bodies(len(BAD_MAKERS) * 4)
    # UTF-8 and strict, like Lambda's stdout: a string that is not Unicode cannot be written.
    log_lines = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    previous = handler.logger.registered_handler.setStream(log_lines)
    try:
        handler.lambda_handler(
            lambda_event([(f"bad-{n}", body) for n, body in enumerate(bodies)]), LambdaContext()
        )
    finally:
        handler.logger.registered_handler.setStream(previous)
    written = log_lines.buffer.getvalue().decode("utf-8")
    logged = [json.loads(line) for line in written.splitlines()]
    reasons = {
        line["message_id"]: line["reason"]
        for line in logged
        if line.get("message") == "record invalid"
    }
    assert sorted(reasons) == sorted(f"bad-{n}" for n in range(len(bodies)))
    assert all(reasons.values())
    assert "Logging error" not in capfd.readouterr().err


@pytest.mark.slow
def test_worker_poison_messages_end_in_the_dlq_and_only_they(
    moto_endpoint: str,
    documents: DocumentsTable,
    make_recorder: Callable[..., Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through moto's SQS with a redrive policy (maxReceiveCount 2, visibility 1 s so a failed
    message soon comes back): the worker records the good ones, the bad ones are received twice
    and moved to the DLQ, and nothing else is there."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    sqs = boto3.client("sqs")
    queues = queue_with_dlq(sqs, unique("poison"), max_receive_count=2, visibility_timeout_s=1)
    url, dlq_url = queues.url, queues.dlq_url
    good = {f"w/{i}": 10 + i for i in range(50)}
    documents.insert(*good)
    bad = set(bad_bodies(DLQ_BAD_COUNT, for_sqs=True))
    bodies = [s3_body(f"media/{key}", size) for key, size in good.items()] + sorted(bad)
    random.Random(2).shuffle(bodies)  # noqa: S311 - reproducible shuffles, not secrets
    assert send(sqs, url, bodies) == []

    stats = run_worker(
        recorder=make_recorder(recorder_env(documents)),
        client=sqs,
        queue_url=url,
        logger=Logger(service="size-recorder-tests", level="ERROR"),
        # One ReceiveMessage per batch, and a long poll that outlasts the visibility timeout so
        # the worker stays until the redrive policy has moved every bad message.
        batch_size=10,
        wait_seconds=2,
        exit_when_empty=True,
    )

    in_dlq: list[str] = []
    while page := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []):
        in_dlq += [m["Body"] for m in page]
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(page)
            ],
        )
    assert len(in_dlq) == len(bad)
    assert set(in_dlq) == bad
    assert documents.sizes() == good
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"
    print(
        f"\nDLQ: {len(bodies)} messages sent, worker saw {stats.messages} deliveries;"
        f" {len(in_dlq)} in the DLQ = exactly the {len(bad)} bad ones; {len(good)} rows right"
    )


class ReceivesOneMessageTwice:
    """An SQS client whose one receive returns the same message twice (at-least-once delivery,
    or visibility 0), each copy with its own receipt handle."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.receives = 0
        self.delete_batches: list[list[str]] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self.receives += 1
        if self.receives > 1:
            return {}
        copy = {"MessageId": "dup", "Body": self.body, "Attributes": {}}
        return {"Messages": [{**copy, "ReceiptHandle": "r1"}, {**copy, "ReceiptHandle": "r2"}]}

    def delete_message_batch(
        self, *, QueueUrl: str, Entries: list[dict[str, str]]
    ) -> dict[str, Any]:
        self.delete_batches.append([e["ReceiptHandle"] for e in Entries])
        return {}


def test_worker_deletes_each_copy_of_a_message_received_twice(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """Both copies are acknowledged, so both receipt handles are deleted, each exactly once."""
    documents.insert("twice.bin")
    client = ReceivesOneMessageTwice(s3_body("media/twice.bin", 2))
    run_worker(
        recorder=make_recorder(recorder_env(documents)),
        client=client,
        queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q",
        logger=Logger(service="size-recorder-tests", level="ERROR"),
        wait_seconds=0,
        exit_when_empty=True,
    )
    assert documents.sizes() == {"twice.bin": 2}
    assert sorted(h for batch in client.delete_batches for h in batch) == ["r1", "r2"]
