"""Builders every test layer shares: S3 event bodies, SQS → Lambda events, a Lambda context,
the recorder's environment for a table, and the Django-shaped table itself."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from size_recorder.adapters.sqs import queue_arn
from tests.conftest import load_event

if TYPE_CHECKING:
    from tests.conftest import DocumentsTable

_TEMPLATE = json.loads(load_event("s3_put.json"))["Records"][0]


def s3_record(key: str, size: object, sequencer: str | None = None) -> dict[str, object]:
    """One S3 notification record for `key` as it appears in the event (already encoded)."""
    record: dict[str, object] = json.loads(json.dumps(_TEMPLATE))
    obj = record["s3"]["object"]  # type: ignore[index]
    obj.update(key=key, size=size)
    if sequencer is None:
        del obj["sequencer"]
    else:
        obj["sequencer"] = sequencer
    return record


def s3_body(key: str, size: object, sequencer: str | None = None) -> str:
    """An S3 notification body with one record."""
    return json.dumps({"Records": [s3_record(key, size, sequencer)]})


def sqs_event(
    *bodies: str, queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:q"
) -> dict[str, Any]:
    """An SQS → Lambda event with one record per body (message ids m0, m1, ...)."""
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"handle-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


@dataclass
class LambdaContext:
    """What Lambda passes as `context`, with a real deadline: the time left shrinks as it runs."""

    timeout_ms: int = 30_000
    function_name: str = "size-recorder"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:size-recorder"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))


def recorder_env(table: DocumentsTable, **extra: str) -> dict[str, str]:
    """The recorder's environment for `table`, with django-storages' `media/` location."""
    return {
        "DATABASE_URL": table.url,
        "SIZE_RECORDER_TABLE": table.qualified,
        "SIZE_RECORDER_KEY_PREFIX": "media/",
        **extra,
    }


def create_documents_table(table: DocumentsTable) -> None:
    """The table as Django creates it for a `Document` model, in the table's own schema."""
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{table.schema}"')
        conn.execute(
            f'CREATE TABLE "{table.schema}".{table.name} ('
            " id bigserial PRIMARY KEY,"
            " file varchar(1024) NOT NULL,"
            " size_bytes bigint,"
            " size_sequencer text)"
        )
        conn.execute(f'CREATE INDEX ON "{table.schema}".{table.name} (file)')


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
