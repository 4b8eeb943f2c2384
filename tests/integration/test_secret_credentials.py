"""The Secrets Manager path: an RDS-shaped secret instead of DATABASE_URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from size_recorder.adapters.credentials import conninfo_from_secret
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message
from tests.conftest import DocumentsTable, load_event


@pytest.fixture
def secrets() -> Iterator[object]:
    with mock_aws():
        yield boto3.client("secretsmanager")


def rds_secret(url: str) -> dict[str, object]:
    """The JSON RDS writes into a generated secret, pointing at the test server."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    return {
        "engine": "postgres",
        "host": host,
        "port": parts.port or 5432,
        "username": parts.username or "postgres",
        "password": "not-checked-by-the-embedded-server",
        "dbname": parts.path.lstrip("/") or "postgres",
    }


def test_recorder_connects_with_the_secret_when_no_database_url_is_set(
    secrets,
    documents: DocumentsTable,  # type: ignore[no-untyped-def]
) -> None:
    arn = secrets.create_secret(Name="db", SecretString=json.dumps(rds_secret(documents.url)))[
        "ARN"
    ]
    documents.insert("uploads/red flower.jpg")
    settings = Settings.from_env(
        {
            "SIZE_RECORDER_DB_SECRET_ARN": arn,
            "SIZE_RECORDER_TABLE": documents.qualified,
            "SIZE_RECORDER_KEY_PREFIX": "media/",
        }
    )
    store = postgres_store(settings)
    recorder = build_recorder(settings, store)
    batch = recorder.record([Message("m", load_event("s3_put.json"))])
    store.close()
    assert batch.messages[0].records[0].outcome is Outcome.RECORDED
    assert documents.sizes() == {"uploads/red flower.jpg": 1024}


def test_conninfo_from_secret_names_the_missing_fields(secrets) -> None:  # type: ignore[no-untyped-def]
    arn = secrets.create_secret(Name="half", SecretString=json.dumps({"host": "db"}))["ARN"]
    with pytest.raises(ConfigError, match="lacks username, password"):
        conninfo_from_secret(arn)
