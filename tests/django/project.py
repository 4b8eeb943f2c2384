"""The test Django project's names and shapes, for test modules (the fixtures that build it
are in tests/django/conftest.py, which configures Django's settings from these names)."""

from __future__ import annotations

import json
import secrets
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
    """A login role (holding only the grants from `recorder_grant_sql`, once given)."""

    name: str
    database_url: str


def create_login_role(database_url: str) -> RecorderRole:
    """A login role with no privileges yet, and a database URL that logs in as it."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"size_recorder_{uuid.uuid4().hex[:8]}"
    password = secrets.token_hex(16)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    return RecorderRole(name, make_conninfo(database_url, user=name, password=password))


def drop_role(database_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


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
