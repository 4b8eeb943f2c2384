"""`adapters.presigned`: what a worker process's GET does when S3 answers with an error."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import pytest

from size_recorder.adapters import presigned

SIGNED = presigned.SignedGet("https://b.s3.amazonaws.com/a.csv.gz?X-Amz-Signature=s3cr3t", None)


def s3_error(status: int, code: str, message: str) -> urllib.error.HTTPError:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return urllib.error.HTTPError(SIGNED.url, status, "", Message(), io.BytesIO(body))


def answering(monkeypatch: pytest.MonkeyPatch, *answers: Any) -> list[str]:
    """urlopen gives each answer in turn (raising the errors); the URLs it was asked for."""
    asked: list[str] = []
    remaining = list(answers)

    def urlopen(url: str, **_: Any) -> Any:
        asked.append(url)
        answer = remaining.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(presigned.time, "sleep", lambda _: None)
    return asked


def test_a_get_that_s3_asks_to_slow_down_is_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = answering(monkeypatch, s3_error(503, "SlowDown", "Reduce"), io.BytesIO(b"rows"))

    assert presigned.open_get(SIGNED).read() == b"rows"
    assert asked == [SIGNED.url, SIGNED.url]


def test_a_refused_get_is_one_line_with_s3s_code_and_without_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = answering(monkeypatch, s3_error(403, "AccessDenied", "Access Denied"))

    with pytest.raises(presigned.SignedGetError) as raised:
        presigned.open_get(SIGNED)

    assert str(raised.value) == "GetObject failed: HTTP 403 AccessDenied: Access Denied"
    assert len(asked) == 1  # a refusal is not retried


def test_a_signed_get_leaves_its_url_out_of_its_repr() -> None:
    assert "s3cr3t" not in repr(SIGNED)
