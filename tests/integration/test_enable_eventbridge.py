"""`size-recorder enable-eventbridge` against moto: EventBridge goes on, and a bucket that
already sends ObjectCreated to another team's queue keeps doing so (the CDK notifications
handler's history of dropping such notifications is why this command exists)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from size_recorder.cli import main
from size_recorder.core.events import parse_body
from tests.support.aws import unique

# The pattern the construct's EventBridge rule holds for a bucket and the `media/` prefix
# (tests/infra/test_stack.py asserts the template's pattern has this shape).
MEDIA_PREFIX = "media/"


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    _report_eventbridge_like_s3(monkeypatch)
    return moto_endpoint


def _report_eventbridge_like_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 stores `EventBridgeConfiguration` and sends the bucket's events to EventBridge,
    but leaves it out of GetBucketNotificationConfiguration, which real S3 returns (as
    `<EventBridgeConfiguration/>`). Add it, so the command reads what S3 would answer."""
    from moto.s3.responses import S3Response

    original = S3Response.get_bucket_notification

    def get_bucket_notification(self: S3Response) -> Any:
        status, headers, body = original(self)
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if config is not None and config.event_bridge is not None:
            element = "<EventBridgeConfiguration/>"
            if body.endswith("/>"):  # nothing else configured: an empty element
                body = body[: -len("/>")] + f">{element}</NotificationConfiguration>"
            else:
                body = body.replace(
                    "</NotificationConfiguration>", f"{element}</NotificationConfiguration>"
                )
        return status, headers, body

    monkeypatch.setattr(S3Response, "get_bucket_notification", get_bucket_notification)


@pytest.fixture
def bucket_with_other_queue(aws: str) -> tuple[str, str]:
    """A bucket whose ObjectCreated events already go to another team's queue (no filter)."""
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket = unique("shared-media")
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=unique("thumbnails"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "thumbnails", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    drain(queue_url)  # moto's s3:TestEvent
    return bucket, queue_url


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message body now in the queue, deleted."""
    sqs = boto3.client("sqs")
    bodies = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def notification_configuration(bucket: str) -> dict[str, Any]:
    response = boto3.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    response.pop("ResponseMetadata")
    return response


def enable(bucket: str, *flags: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["enable-eventbridge", "--bucket", bucket, "--json", *flags]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_enable_eventbridge_keeps_the_other_queue_notification(
    bucket_with_other_queue: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, _ = bucket_with_other_queue
    before = notification_configuration(bucket)

    result = enable(bucket, capsys=capsys)

    after = notification_configuration(bucket)
    assert after["EventBridgeConfiguration"] == {}
    assert after["QueueConfigurations"] == before["QueueConfigurations"]
    assert result["changed"] is True
    assert result["eventbridge_before"] is False
    assert result["eventbridge_after"] is True
    assert [k["id"] for k in result["kept"]] == ["thumbnails"]


def test_enable_eventbridge_uploads_still_reach_the_other_queue(
    bucket_with_other_queue: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, other_queue = bucket_with_other_queue
    enable(bucket, capsys=capsys)

    boto3.client("s3").put_object(Bucket=bucket, Key="media/cat.jpg", Body=b"x" * 42)

    bodies = [b for b in drain(other_queue) if "Records" in b]
    # moto encodes `/` in event keys as %2F; S3 keeps it: decode as the recorder does.
    keys = [unquote_plus(r["s3"]["object"]["key"]) for body in bodies for r in body["Records"]]
    assert keys == ["media/cat.jpg"]


# EventBridge carries keys unencoded: a `+` is a plus, not a space.
@pytest.mark.parametrize("key", ["media/cat.jpg", "media/c++ notes (1).pdf"])
def test_enable_eventbridge_uploads_reach_the_recorder_queue_through_a_rule(
    key: str, bucket_with_other_queue: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole EventBridge path: the rule the construct makes, its queue, the recorder's
    parser reading what arrives, under the object's own key."""
    bucket, _ = bucket_with_other_queue
    sqs, events = boto3.client("sqs"), boto3.client("events")
    recorder_queue = sqs.create_queue(QueueName=unique("recorder"))["QueueUrl"]
    recorder_arn = sqs.get_queue_attributes(QueueUrl=recorder_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = unique("size-recorder")
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [bucket]},
                    "object": {"key": [{"prefix": MEDIA_PREFIX}]},
                },
            }
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": recorder_arn}])
    enable(bucket, capsys=capsys)

    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 42)
    s3.put_object(Bucket=bucket, Key="exports/report.csv", Body=b"y")  # outside the prefix

    created = [entry for body in drain(recorder_queue) for entry in parse_body(json.dumps(body))]
    assert [(entry.key, entry.size) for entry in created] == [(key, 42)]


def test_enable_eventbridge_twice_changes_nothing_the_second_time(
    bucket_with_other_queue: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, _ = bucket_with_other_queue
    enable(bucket, capsys=capsys)
    first = notification_configuration(bucket)

    result = enable(bucket, capsys=capsys)

    assert result["changed"] is False
    assert result["eventbridge_before"] is True
    assert notification_configuration(bucket) == first


def test_enable_eventbridge_dry_run_changes_nothing(
    bucket_with_other_queue: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, _ = bucket_with_other_queue
    before = notification_configuration(bucket)

    result = enable(bucket, "--dry-run", capsys=capsys)

    assert notification_configuration(bucket) == before
    assert "EventBridgeConfiguration" not in before
    assert result["would_enable"] is True
    assert result["changed"] is False
    assert result["notifications_kept"] == 1


def test_enable_eventbridge_text_names_what_it_kept(
    bucket_with_other_queue: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, _ = bucket_with_other_queue
    assert main(["enable-eventbridge", "--bucket", bucket]) == 0
    out = capsys.readouterr().out
    assert "kept: queue arn:aws:sqs:" in out
    assert "s3:ObjectCreated:* (id thumbnails)" in out


def test_enable_eventbridge_missing_bucket_is_one_line_exit_2(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["enable-eventbridge", "--bucket", unique("no-such-bucket")]) == 2
    err = capsys.readouterr().err
    assert "NoSuchBucket" in err
    assert "Traceback" not in err
