"""Events as the recorder receives them: recorded ones from tests/events/, S3 notification
bodies built from the recorded put, and SQS → Lambda events wrapping them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> str:
    """A recorded event from tests/events/, as the raw text a queue would deliver."""
    return (EVENTS_DIR / name).read_text(encoding="utf-8")


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
