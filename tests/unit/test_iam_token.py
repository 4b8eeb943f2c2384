"""IAM database authentication: the token is signed locally, reused until shortly before it
expires, sent only with TLS required, and never shown."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from psycopg.conninfo import conninfo_to_dict

from size_recorder import constants as c
from size_recorder.adapters.credentials import (
    IAM_TOKEN_REUSE_S,
    IamAuthConninfo,
    conninfo_provider,
)
from size_recorder.core.config import ConfigError, Settings

HOST = "documents.cluster-abc.eu-west-1.rds.amazonaws.com"
ENV = {
    c.ENV_TABLE: "documents_document",
    c.ENV_DB_IAM_USER: "size_recorder",
    c.ENV_DB_HOST: HOST,
    c.ENV_DB_NAME: "app",
}


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class CountingSigner:
    """Signs `token-1`, `token-2`, ...: each call is a new token."""

    calls: list[tuple[str, int, str]] = field(default_factory=list)

    def __call__(self, host: str, port: int, user: str) -> str:
        self.calls.append((host, port, user))
        return f"token-{len(self.calls)}"


def iam(
    env: dict[str, str] | None = None, clock: Clock | None = None
) -> tuple[IamAuthConninfo, CountingSigner]:
    signer = CountingSigner()
    settings = Settings.from_env(env or ENV)
    return IamAuthConninfo(settings, sign=signer, clock=clock or Clock()), signer


def password(conninfo: str) -> str:
    return str(conninfo_to_dict(conninfo)["password"])


def test_settings_with_an_iam_user_get_the_iam_conninfo() -> None:
    assert isinstance(conninfo_provider(Settings.from_env(ENV)), IamAuthConninfo)


def test_token_is_signed_for_the_host_port_and_user() -> None:
    provider, signer = iam({**ENV, c.ENV_DB_PORT: "6432"})
    provider()
    assert signer.calls == [(HOST, 6432, "size_recorder")]


def test_token_is_reused_while_young() -> None:
    clock = Clock()
    provider, signer = iam(clock=clock)
    first = password(provider())
    clock.now += IAM_TOKEN_REUSE_S - 1
    assert password(provider()) == first
    assert len(signer.calls) == 1


def test_token_is_signed_anew_ten_minutes_after_the_last() -> None:
    """Five minutes before RDS would refuse it (15), a new one is signed."""
    clock = Clock()
    provider, _ = iam(clock=clock)
    provider()
    clock.now += IAM_TOKEN_REUSE_S
    assert password(provider()) == "token-2"
    clock.now += IAM_TOKEN_REUSE_S - 1
    assert password(provider()) == "token-2"
    assert IAM_TOKEN_REUSE_S == 600


def test_token_is_signed_anew_when_the_clock_went_back() -> None:
    clock = Clock()
    provider, _ = iam(clock=clock)
    provider()
    clock.now -= 60
    assert password(provider()) == "token-2"


def test_conninfo_requires_tls_and_carries_the_address() -> None:
    provider, _ = iam({**ENV, c.ENV_DB_PORT: "6432"})
    assert conninfo_to_dict(provider()) == {
        "host": HOST,
        "port": "6432",
        "user": "size_recorder",
        "dbname": "app",
        "sslmode": "require",
        "password": "token-1",
    }


@pytest.mark.parametrize("variable", [c.ENV_DB_SSL_ROOT_CERT, c.ENV_PGSSLROOTCERT])
def test_conninfo_verifies_the_server_when_a_ca_bundle_is_named(variable: str) -> None:
    provider, _ = iam({**ENV, variable: "/opt/rds-global-bundle.pem"})
    options = conninfo_to_dict(provider())
    assert (options["sslmode"], options["sslrootcert"]) == (
        "verify-full",
        "/opt/rds-global-bundle.pem",
    )


def test_boto3_signs_for_the_region_lambda_sets() -> None:
    """The real signer: a presigned `connect` URL for this host, user and region, valid 15
    minutes. AWS_REGION (Lambda's) wins over AWS_DEFAULT_REGION."""
    env = {**ENV, c.ENV_AWS_REGION: "eu-west-1", c.ENV_AWS_DEFAULT_REGION: "us-east-1"}
    token = password(conninfo_provider(Settings.from_env(env))())
    url = urlsplit(f"https://{token}")
    query = parse_qs(url.query)
    assert (url.hostname, url.port) == (HOST, 5432)
    assert query["Action"] == ["connect"]
    assert query["DBUser"] == ["size_recorder"]
    assert query["X-Amz-Expires"] == ["900"]
    assert "/eu-west-1/rds-db/aws4_request" in query["X-Amz-Credential"][0]


def test_boto3_signing_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("signing an IAM auth token tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    provider = conninfo_provider(Settings.from_env({**ENV, c.ENV_AWS_REGION: "eu-west-1"}))
    assert "X-Amz-Signature=" in password(provider())


def test_boto3_signing_logs_no_part_of_the_token_even_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """botocore.auth logs a presigned URL's canonical request and signature at DEBUG; while a
    token is signed those records are dropped, and botocore's other logs still flow."""
    caplog.set_level(logging.DEBUG)
    provider = conninfo_provider(Settings.from_env({**ENV, c.ENV_AWS_REGION: "eu-west-1"}))
    token = password(provider())
    signature = token.split("X-Amz-Signature=")[1]
    assert "X-Amz-Credential" not in caplog.text
    assert signature not in caplog.text
    assert "botocore" in caplog.text  # the client's creation was logged: logging was on


def test_no_region_anywhere_is_a_config_error_naming_aws_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(c.ENV_AWS_DEFAULT_REGION, raising=False)
    monkeypatch.delenv(c.ENV_AWS_REGION, raising=False)
    provider = conninfo_provider(Settings.from_env(ENV))
    with pytest.raises(ConfigError, match=f"set {c.ENV_AWS_REGION}"):
        provider()


def test_token_is_not_in_the_providers_repr() -> None:
    provider, _ = iam()
    token = password(provider())
    assert token not in repr(provider)
