"""The test Django project's names and shapes, for test modules (the fixtures that build it
are in tests/django/conftest.py, which configures Django's settings from these names)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BUCKET = f"size-recorder-django-{uuid.uuid4().hex[:8]}"
# django-storages' AWS_LOCATION: every key starts with it, the FileField column does not.
LOCATION = "media"
KEY_PREFIX = f"{LOCATION}/"


@dataclass(frozen=True, slots=True)
class DjangoProject:
    """Where the project's resources live, for tests that talk to them without Django."""

    database_url: str
    endpoint_url: str
    bucket: str
    key_prefix: str = KEY_PREFIX

    def s3_client(self) -> Any:
        """A boto3 client that plays 'another service': it uploads outside Django."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@dataclass(frozen=True, slots=True)
class RecorderRole:
    """A login role holding only the grants from `recorder_grant_sql`."""

    name: str
    database_url: str


def s3_event(key: str, size: int, sequencer: str) -> str:
    """The body S3 sends to the queue when `key` is written."""
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": size, "sequencer": sequencer},
        },
    }
    return json.dumps({"Records": [record]})


# Delivers one upload's event for a Document's file name: (name, size, sequencer).
RecordUpload = Callable[[str, int, str], None]
