"""End to end: an object uploaded outside Django, recorded by the worker, served from the column.

The worker runs in-process through the CLI, configured by `recorder_environment(Document)` and
connected as the role holding only `recorder_grant_sql(Document, role)`: the documented settings
and grant are what make it work.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from size_recorder.adapters.sqs import queue_arn
from size_recorder.cli import main
from size_recorder.django import recorder_environment
from tests.django.documents.models import Document
from tests.django.project import DjangoProject, RecorderRole


def _notifying_queue(project: DjangoProject, prefix: str) -> str:
    """A queue that S3 notifies of every object created under `prefix`; its URL."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=project.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.create_queue(QueueName=f"size-recorder-django-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = queue_arn(sqs, url)
    project.s3_client().put_bucket_notification_configuration(
        Bucket=project.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return url


def test_worker_recorded_size_is_served_from_column(
    django_project: DjangoProject,
    recorder_role: RecorderRole,
    s3_requests: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a row naming an object that another service uploads, outside Django
    name = f"worker-{uuid.uuid4().hex[:8]}/quarterly report.pdf"
    key = django_project.key_prefix + name
    queue_url = _notifying_queue(django_project, prefix=key.rsplit("/", 1)[0] + "/")
    doc = Document.objects.create(file=name)
    django_project.s3_client().put_object(Bucket=django_project.bucket, Key=key, Body=b"%" * 2048)
    # WHEN the worker drains the queue with the model's settings and the recorder's role
    for variable, value in recorder_environment(Document).items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("DATABASE_URL", recorder_role.database_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", django_project.endpoint_url)
    code = main(
        ["worker", "--queue-url", queue_url, "--exit-when-empty", "--wait-seconds", "0", "--json"]
    )
    # THEN Django serves the recorded size without asking S3
    assert code == 0, capsys.readouterr()
    s3_requests.clear()
    assert Document.objects.get(pk=doc.pk).file.size == 2048, json.dumps(capsys.readouterr())
    assert s3_requests == []
