"""The Secrets Manager path: an RDS-shaped secret instead of DATABASE_URL, including RDS-managed
secrets (`rds!db-…`) that hold only a username and password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict

from size_recorder import constants as c
from size_recorder.adapters.credentials import conninfo_from_secret
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message
from tests.support.events import load_event
from tests.support.postgres import DocumentsTable


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
            c.ENV_DB_SECRET_ARN: arn,
            c.ENV_TABLE: documents.qualified,
            c.ENV_KEY_PREFIX: "media/",
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
        conninfo_from_secret(arn, settings_for(arn))


def settings_for(arn: str, **env: str) -> Settings:
    return Settings.from_env(
        {
            c.ENV_DB_SECRET_ARN: arn,
            c.ENV_TABLE: "documents_document",
            c.ENV_KEY_PREFIX: "media/",
            **env,
        }
    )


def rds_managed_secret(secrets, url: str) -> str:  # type: ignore[no-untyped-def]
    """What RDS creates with ManageMasterUserPassword: a `rds!db-…` name, username and password
    only. Returns its ARN (which holds a `!`)."""
    only = {key: rds_secret(url)[key] for key in ("username", "password")}
    created = secrets.create_secret(
        Name="rds!db-1234abcd-5678-90ef-abcd-1234567890ab", SecretString=json.dumps(only)
    )
    arn: str = created["ARN"]
    assert ":secret:rds!db-" in arn
    return arn


def test_rds_managed_secret_records_with_the_address_from_the_variables(
    secrets,
    documents: DocumentsTable,  # type: ignore[no-untyped-def]
) -> None:
    arn = rds_managed_secret(secrets, documents.url)
    address = rds_secret(documents.url)
    documents.insert("uploads/red flower.jpg")
    settings = Settings.from_env(
        {
            c.ENV_DB_SECRET_ARN: arn,
            c.ENV_TABLE: documents.qualified,
            c.ENV_KEY_PREFIX: "media/",
            c.ENV_DB_HOST: str(address["host"]),
            c.ENV_DB_PORT: str(address["port"]),
            c.ENV_DB_NAME: str(address["dbname"]),
        }
    )
    store = postgres_store(settings)
    batch = build_recorder(settings, store).record([Message("m", load_event("s3_put.json"))])
    store.close()
    assert batch.messages[0].records[0].outcome is Outcome.RECORDED
    assert documents.sizes() == {"uploads/red flower.jpg": 1024}


def test_rds_managed_secret_without_a_host_variable_names_it(secrets) -> None:  # type: ignore[no-untyped-def]
    arn = rds_managed_secret(secrets, "postgresql://postgres@/postgres")
    with pytest.raises(ConfigError, match=f"names no host.*set {c.ENV_DB_HOST}"):
        conninfo_from_secret(arn, settings_for(arn))


def test_variables_win_over_the_secrets_address(secrets) -> None:  # type: ignore[no-untyped-def]
    """Behind RDS Proxy the instance's secret names the instance; the function must reach the
    proxy: the variables, when set, replace the secret's host, port and database."""
    instance = {
        "host": "documents.abc.eu-west-1.rds.amazonaws.com",
        "port": 5432,
        "username": "app",
        "password": "pw",
        "dbname": "app",
    }
    arn = secrets.create_secret(Name="instance", SecretString=json.dumps(instance))["ARN"]
    proxy = "documents.proxy-abc.eu-west-1.rds.amazonaws.com"
    settings = settings_for(
        arn, **{c.ENV_DB_HOST: proxy, c.ENV_DB_PORT: "6432", c.ENV_DB_NAME: "reports"}
    )
    assert conninfo_to_dict(conninfo_from_secret(arn, settings)) == {
        "host": proxy,
        "port": "6432",
        "user": "app",
        "password": "pw",
        "dbname": "reports",
    }


def test_secret_fills_what_the_variables_leave_unset(secrets) -> None:  # type: ignore[no-untyped-def]
    """Only the host set: port and database come from the secret; TLS left to libpq."""
    secret = {"host": "db", "port": 5433, "username": "app", "password": "pw", "dbname": "app"}
    arn = secrets.create_secret(Name="full", SecretString=json.dumps(secret))["ARN"]
    options = conninfo_to_dict(conninfo_from_secret(arn, settings_for(arn, **{c.ENV_DB_HOST: "x"})))
    assert (options["host"], options["port"], options["dbname"]) == ("x", "5433", "app")
    assert "sslmode" not in options


def test_secret_without_port_or_database_connects_to_5432_and_postgres(secrets) -> None:  # type: ignore[no-untyped-def]
    secret = {"host": "db", "username": "app", "password": "pw"}
    arn = secrets.create_secret(Name="bare", SecretString=json.dumps(secret))["ARN"]
    options = conninfo_to_dict(conninfo_from_secret(arn, settings_for(arn)))
    assert (options["port"], options["dbname"]) == ("5432", "postgres")


def test_secret_with_a_root_certificate_verifies_the_server(secrets) -> None:  # type: ignore[no-untyped-def]
    secret = {"host": "db", "username": "app", "password": "pw"}
    arn = secrets.create_secret(Name="verified", SecretString=json.dumps(secret))["ARN"]
    settings = settings_for(arn, **{c.ENV_DB_SSL_ROOT_CERT: "/opt/rds-global-bundle.pem"})
    options = conninfo_to_dict(conninfo_from_secret(arn, settings))
    assert (options["sslmode"], options["sslrootcert"]) == (
        "verify-full",
        "/opt/rds-global-bundle.pem",
    )
