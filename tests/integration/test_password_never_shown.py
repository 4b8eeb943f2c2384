"""A connection string that cannot connect never shows its password, whatever runs it.

libpq quotes the token it cannot parse (`invalid percent-encoded token: "s3cr%zzet"`), and for
a bad IPv6 literal the whole URI; that token can be the password. Every entry point gets such a
string (and a well-formed one whose password is wrong, aimed at a closed port), and neither
stdout, stderr, a log record, the Powertools log stream nor an exception may hold the password,
as typed or percent-encoded. No Postgres is needed: none of these strings reaches one.
"""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import boto3
import pytest

from size_recorder import constants as c
from size_recorder import handler
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.adapters.wiring import postgres_store
from size_recorder.aws_lambda import handler as lambda_module
from size_recorder.cli import main
from size_recorder.core.config import Settings
from size_recorder.core.recorder import StoreError
from size_recorder.core.scope import scopes
from tests.support.aws import unique
from tests.support.events import s3_body, sqs_event
from tests.support.lambda_context import LambdaContext


@dataclass(frozen=True, slots=True)
class Leaky:
    """A DATABASE_URL that fails to connect, and the password it holds."""

    url: str
    password: str

    @property
    def forms(self) -> set[str]:
        """The password as typed and percent-encoded: either would give it away."""
        return {self.password, quote(self.password, safe="")}


LEAKY = {
    "bad-percent-escape": Leaky("postgresql://u:s3cr%zzet@127.0.0.1:1/db", "s3cr%zzet"),
    "bad-ipv6-literal": Leaky("postgresql://u:Ipv6-S3cret@[::1/db", "Ipv6-S3cret"),
    "wrong-password-closed-port": Leaky(
        "postgresql://u:Wr0ng-Pa55word@127.0.0.1:1/db", "Wr0ng-Pa55word"
    ),
}


@pytest.fixture(params=sorted(LEAKY))
def leaky(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Leaky:
    """The recorder's environment, with a DATABASE_URL that cannot connect."""
    case = LEAKY[request.param]
    monkeypatch.setenv(c.ENV_DATABASE_URL, case.url)
    monkeypatch.setenv(c.ENV_TABLE, "documents_document")
    monkeypatch.setenv(c.ENV_KEY_PREFIX, "media/")
    monkeypatch.setenv(c.ENV_CONNECT_TIMEOUT_S, "2")
    return case


class Transcript:
    """Everything the code under test said: stdout, stderr, log records, Powertools' stream."""

    def __init__(self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
        self._capfd = capfd
        self._caplog = caplog
        # Powertools' handler keeps the stream it found when its logger was first built (often
        # before capture started): point it here for the test.
        self.stream = io.StringIO()

    def text(self) -> str:
        out, err = self._capfd.readouterr()
        records = [
            f"{record.getMessage()} {vars(record)!r} {_exc_text(record)}"
            for record in self._caplog.records
        ]
        return "\n".join([out, err, self.stream.getvalue(), *records])


def _exc_text(record: logging.LogRecord) -> str:
    if not record.exc_info or record.exc_info[1] is None:
        return ""
    return exception_text(record.exc_info[1])


def exception_text(exc: BaseException) -> str:
    """The traceback as printed, and every exception in the chain, suppressed ones included."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [repr(current), repr(vars(current)) if hasattr(current, "__dict__") else ""]
        parts.append(repr(getattr(current, "object", "")))  # a UnicodeError's input
        pending += [current.__cause__, current.__context__]
    return "\n".join(parts)


@pytest.fixture
def transcript(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Transcript]:
    caplog.set_level(logging.DEBUG)
    said = Transcript(capfd, caplog)
    streams = [
        h for h in logging.getLogger(c.SERVICE_NAME).handlers if type(h) is logging.StreamHandler
    ]
    previous = [h.setStream(said.stream) for h in streams]
    yield said
    for h, stream in zip(streams, previous, strict=True):
        if stream is not None:
            h.setStream(stream)


def assert_never_shown(leaky: Leaky, text: str) -> None:
    for form in leaky.forms:
        assert form not in text


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto for the CLI; returns a queue URL holding one S3 notification."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    sqs = boto3.client("sqs")
    url: str = sqs.create_queue(QueueName=unique("leak"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=s3_body("media/a.pdf", 1))
    return url


def test_a_broken_connection_string_never_shows_its_password_in_the_lambda_handler(
    leaky: Leaky, transcript: Transcript
) -> None:
    lambda_module.recorder.cache_clear()
    try:
        response = handler.lambda_handler(
            sqs_event(s3_body("media/a.pdf", 1), s3_body("media/b.pdf", 2)), LambdaContext()
        )
    finally:
        lambda_module.recorder.cache_clear()

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    said = transcript.text() + str(response)
    assert "cannot connect to Postgres" in said
    assert_never_shown(leaky, said)


def test_a_broken_connection_string_never_shows_its_password_in_worker_output(
    leaky: Leaky, aws: str, transcript: Transcript
) -> None:
    code = main(["worker", "--queue-url", aws, "--exit-when-empty", "--wait-seconds", "0"])

    assert code == 1  # the message was left for redelivery
    said = transcript.text()
    assert "cannot connect to Postgres" in said
    assert_never_shown(leaky, said)


def test_a_broken_connection_string_never_shows_its_password_in_replay_direct_output(
    leaky: Leaky, aws: str, transcript: Transcript
) -> None:
    code = main(["replay", "--dlq-url", aws, "--mode", "direct"])

    assert code == 2
    said = transcript.text()
    assert "cannot connect to Postgres" in said
    assert_never_shown(leaky, said)


@pytest.mark.parametrize("command", ["backfill", "check"])
def test_a_broken_connection_string_never_shows_its_password_in_backfill_or_check_output(
    leaky: Leaky, aws: str, transcript: Transcript, command: str
) -> None:
    code = main([command, "--bucket", unique("uploads")])

    assert code == 2
    said = transcript.text()
    assert "cannot connect to Postgres" in said
    assert_never_shown(leaky, said)


@pytest.mark.slow  # the demo starts moto before it reaches Postgres
def test_a_broken_connection_string_never_shows_its_password_in_demo_output(
    leaky: Leaky, transcript: Transcript
) -> None:
    """The demo on a server of the user's (DATABASE_URL) stops before it starts anything."""
    assert main(["demo"]) == 2

    said = transcript.text()
    assert "cannot connect to Postgres" in said
    assert_never_shown(leaky, said)


def test_a_broken_connection_string_never_shows_its_password_in_a_postgres_store_error(
    leaky: Leaky, transcript: Transcript
) -> None:
    store = postgres_store(Settings.from_env({c.ENV_DATABASE_URL: leaky.url, c.ENV_TABLE: "t"}))

    with pytest.raises(StoreError, match="cannot connect to Postgres") as raised:
        store.verify()

    assert_never_shown(leaky, exception_text(raised.value) + transcript.text())


def test_a_broken_connection_string_never_shows_its_password_in_a_row_store_error(
    leaky: Leaky, transcript: Transcript
) -> None:
    """A library user's path: the row store built directly, then asked for a count."""
    settings = Settings.from_env({c.ENV_DATABASE_URL: leaky.url, c.ENV_TABLE: "t"})
    rows = RowStore.from_settings(settings)
    (scope,) = scopes(settings, bucket="uploads")

    with pytest.raises(StoreError, match="cannot connect to Postgres") as raised:
        rows.null_count(scope)

    assert_never_shown(leaky, exception_text(raised.value) + transcript.text())
