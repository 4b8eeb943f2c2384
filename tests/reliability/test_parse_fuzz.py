"""Property-based fuzzing of event parsing: whatever a queue delivers, parsing ends in records
or the recorder's own `EventParseError`, never another exception.

Any other exception would escape `Recorder.record` and fail the whole batch on every receive, so
one hostile message would drag its good neighbours into the DLQ with it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from size_recorder.core.events import (
    MAX_KEY_BYTES,
    EventParseError,
    Invalid,
    ObjectCreated,
    ObjectRemoved,
    Skipped,
    parse_body,
)
from tests.support.events import load_event

# Postgres' bigint, the widest size column the store accepts.
MAX_SIZE = 2**63 - 1

S3_TEMPLATE: dict[str, Any] = json.loads(load_event("s3_put.json"))
EVENTBRIDGE_TEMPLATE: dict[str, Any] = json.loads(load_event("eventbridge_object_created.json"))

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)

# Values that look like what a field should hold, and values that are subtly or wildly wrong.
hostile_keys = st.one_of(
    st.text(min_size=1, max_size=60),
    st.text(max_size=40).map(lambda name: "media/" + name),
    st.text(alphabet=st.sampled_from("%+/ aZ09'\";-\x00\ud800é€"), max_size=40),
    st.sampled_from(
        [
            "media/ok.txt",
            "media/%ZZ",
            "media/%ff%fe",
            "media/%ED%A0%80",  # an encoded UTF-16 surrogate: not UTF-8
            "media/\ud800",  # a lone surrogate as JSON can carry it
            "media/a%00b",
            "media/'; DROP TABLE documents_document; --",
            "",
            "+",
            "%",
            "a" * (MAX_KEY_BYTES + 1),
            "é" * 600,
        ]
    ),
)
hostile_sizes = st.one_of(
    st.integers(min_value=0, max_value=2**63 - 1),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 1e300, 1.5, "1024", None, True, [], {}]),
)
hostile_sequencers = st.one_of(
    st.none(),
    st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=24),
    st.text(alphabet="0123456789abcdefABCDEFxyz", max_size=30),
    json_scalars,
)


def _maybe(valid: st.SearchStrategy[Any], weight: int = 3) -> st.SearchStrategy[Any]:
    """Mostly a plausible value (weight : 2), sometimes an arbitrary JSON value in its place.

    (Repeating `valid` inside `one_of` does not weight it: Hypothesis dedupes the branches.)
    """
    return st.integers(0, weight + 1).flatmap(
        lambda i: valid if i < weight else json_scalars if i == weight else json_values
    )


@st.composite
def near_valid_s3(draw: st.DrawFn) -> str:
    """An S3 notification with every field replaced, sometimes, by something hostile."""
    records = []
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        record = json.loads(json.dumps(S3_TEMPLATE["Records"][0]))
        record["eventSource"] = draw(_maybe(st.just("aws:s3"), 16))
        record["eventName"] = draw(
            _maybe(
                st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "ObjectCreated:"]), 8
            )
        )
        obj = record["s3"]["object"]
        obj["key"] = draw(_maybe(hostile_keys, 6))
        obj["size"] = draw(_maybe(hostile_sizes, 6))
        obj["sequencer"] = draw(_maybe(hostile_sequencers, 6))
        record["s3"]["bucket"]["name"] = draw(_maybe(st.text(max_size=20), 16))
        replaced = draw(st.sampled_from([None] * 9 + ["s3", "object", "bucket"]))
        if replaced == "s3":
            record["s3"] = draw(json_values)
        elif replaced is not None:
            record["s3"][replaced] = draw(json_values)
        records.append(record)
    document: Any = {"Records": draw(_maybe(st.just(records), 16))}
    if draw(st.booleans()):  # sometimes wrapped in an SNS envelope, sometimes in a broken one
        document = {
            "Type": "Notification",
            "Message": draw(_maybe(st.just(json.dumps(document)), 4)),
        }
    return json.dumps(document)


@st.composite
def near_valid_eventbridge(draw: st.DrawFn) -> str:
    document = json.loads(json.dumps(EVENTBRIDGE_TEMPLATE))
    document["detail-type"] = draw(
        _maybe(st.sampled_from(["Object Created", "Object Deleted", ""]))
    )
    detail = document["detail"]
    detail["object"]["key"] = draw(_maybe(hostile_keys))
    detail["object"]["size"] = draw(_maybe(hostile_sizes))
    detail["object"]["sequencer"] = draw(_maybe(hostile_sequencers))
    detail["reason"] = draw(json_scalars)
    detail["bucket"] = draw(_maybe(st.just(detail["bucket"]), 6))
    return json.dumps(document)


bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    near_valid_s3(),
    near_valid_eventbridge(),
)


def _check_entry(entry: object) -> None:
    assert isinstance(entry, ObjectCreated | ObjectRemoved | Skipped | Invalid), entry
    if isinstance(entry, ObjectCreated | ObjectRemoved):
        assert isinstance(entry.key, str)
        assert entry.key
        assert "\x00" not in entry.key
        # encode() raises for lone surrogates, which Postgres cannot store either.
        assert len(entry.key.encode("utf-8")) <= MAX_KEY_BYTES
        if isinstance(entry, ObjectCreated):
            assert type(entry.size) is int
            assert 0 <= entry.size <= MAX_SIZE
        else:
            assert entry.size is None
        assert entry.sequencer is None or (
            entry.sequencer and set(entry.sequencer) <= set("0123456789ABCDEF")
        )
    else:
        assert isinstance(entry.reason, str)
        assert entry.reason
    # Whatever an entry carries ends in a JSON log line: it must be encodable Unicode.
    for text in (entry.bucket, entry.key, getattr(entry, "reason", None)):
        if text is not None:
            text.encode("utf-8")


@pytest.mark.slow
def test_parse_body_returns_records_or_its_own_error_for_any_body() -> None:
    """10,000 hostile bodies: each yields usable records or an `EventParseError`, nothing else.

    Usable means what the store can write without a database error: a non-empty key Postgres
    can hold (valid UTF-8, no NUL, at most S3's 1,024 bytes) and a size that fits a bigint.
    """
    tried = {"bodies": 0, "entries": 0, "created": 0, "parse_errors": 0}

    @settings(
        max_examples=10_000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies)
    def fuzz(body: str) -> None:
        tried["bodies"] += 1
        try:
            entries = parse_body(body)
        except EventParseError as exc:
            error = str(exc)
        else:
            error = None
        if error is not None:
            tried["parse_errors"] += 1
            assert error, "an EventParseError must say what was wrong"
            return
        assert isinstance(entries, list)
        assert entries
        tried["entries"] += len(entries)
        tried["created"] += sum(isinstance(e, ObjectCreated) for e in entries)
        for entry in entries:
            _check_entry(entry)

    fuzz()
    print(
        f"\nparse_body fuzz: {tried['bodies']} bodies -> {tried['entries']} entries"
        f" ({tried['created']} ObjectCreated), {tried['parse_errors']} EventParseError,"
        " 0 other exceptions"
    )
    assert tried["bodies"] >= 10_000
