"""Poison: bodies no S3 notification can be, in 27 kinds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.support.events import s3_body, s3_record


def _record_body(**changes: Any) -> str:
    record = s3_record("media/poison.bin", 1)
    obj = record["s3"]["object"]  # type: ignore[index]
    for name, value in changes.items():
        if name in {"key", "size", "sequencer"}:
            obj[name] = value
        else:
            record[name] = value
    return json.dumps({"Records": [record]})


# Each maker turns a serial number into one bad body; the number keeps every body distinct.
BAD_MAKERS: list[Callable[[int], str]] = [
    lambda n: f"not json {n}",
    lambda n: s3_body(f"media/p{n}", 1)[:-7],  # truncated
    lambda n: json.dumps([n, "a list"]),
    lambda n: json.dumps(n),
    lambda n: json.dumps({"hello": n}),
    lambda n: json.dumps({"Records": [], "n": n}),
    lambda n: json.dumps({"Records": f"not a list {n}"}),
    lambda n: _record_body(eventSource=f"aws:sqs{n}"),
    lambda n: _record_body(size=None, key=f"media/p{n}"),
    lambda n: _record_body(size=-n - 1),
    lambda n: _record_body(size=n + 0.5),
    lambda n: _record_body(size=str(n)),
    lambda n: _record_body(size=2**63 + n),
    lambda n: _record_body(key=f"media/p{n}%00.bin"),
    lambda n: _record_body(key=f"media/{n}" + "x" * 1100),
    lambda n: _record_body(key=f"media/p{n}%ff"),
    lambda n: _record_body(key=f"media/p{n}\ud800"),
    lambda n: _record_body(key=f"media/p{n}", sequencer=f"not-hex-{n}"),
    lambda n: _record_body(key=f"media/p{n}", sequencer=n),
    lambda n: json.dumps({"Type": "Notification", "Message": f"{{not json {n}"}),
    lambda n: json.dumps({"Type": "Notification", "Message": n}),
    lambda n: (
        json.dumps(
            {
                "Type": "Notification",
                "Message": json.dumps({"Type": "Notification", "Message": "{}"}),
            }
        )[:-1]
        + f', "n": {n}}}'
    ),
    lambda n: json.dumps({"source": "aws.s3", "detail-type": "Object Created", "n": n}),
    lambda n: "[" * (1_100 + n) + "]" * (1_100 + n),  # deeper than json's recursion limit
    lambda n: json.dumps({"Records": [{"s3": "x" * 20_000, "n": n}]}),  # a big body
    lambda n: "\x00" * (n % 7 + 1) + str(n),  # SQS refuses these; a Lambda test event may not
    lambda n: " " * (n // len(BAD_MAKERS)),  # empty, then only whitespace
]


def sqs_accepts(body: str) -> bool:
    """SQS refuses empty bodies and control characters other than tab, LF and CR."""
    return bool(body) and all(c >= " " or c in "\t\n\r" for c in body)


def bad_bodies(count: int, *, for_sqs: bool = False) -> list[str]:
    """`count` distinct bad bodies cycling through every kind (SQS-sendable ones if asked)."""
    bodies: list[str] = []
    n = 0
    while len(bodies) < count:
        body = BAD_MAKERS[n % len(BAD_MAKERS)](n)
        n += 1
        if not for_sqs or sqs_accepts(body):
            bodies.append(body)
    assert len(set(bodies)) == count
    return bodies
