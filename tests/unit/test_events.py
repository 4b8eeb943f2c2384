"""How message bodies become records: every accepted shape, every rejection with a reason."""

from __future__ import annotations

import json

import pytest

from size_recorder.core.events import (
    EventParseError,
    Invalid,
    ObjectCreated,
    ObjectRemoved,
    Skipped,
    decode_key,
    is_newer,
    parse_body,
    parse_size,
)
from tests.support.events import load_event


def only(entries: list[object]) -> object:
    assert len(entries) == 1
    return entries[0]


def test_parse_body_reads_an_s3_notification_record() -> None:
    record = only(parse_body(load_event("s3_put.json")))
    assert record == ObjectCreated(
        bucket="example-bucket",
        key="media/uploads/red flower.jpg",
        size=1024,
        etag="0123456789abcdef0123456789abcdef",
        sequencer="0055AED6DCD90281E5",
        event_name="ObjectCreated:Put",
    )


def test_parse_body_reads_every_record_of_one_body() -> None:
    records = parse_body(load_event("s3_put_two_records.json"))
    assert [(r.key, r.size) for r in records if isinstance(r, ObjectCreated)] == [
        ("media/a.txt", 10),
        ("media/b.txt", 20),
    ]


def test_parse_body_decodes_spaces_plus_percent_quotes_and_unicode_in_keys() -> None:
    record = only(parse_body(load_event("s3_put_odd_key.json")))
    assert isinstance(record, ObjectCreated)
    assert record.key == "media/uploads/café menu + prices% 'quoted'.pdf"


def test_parse_body_skips_the_s3_test_event() -> None:
    entry = only(parse_body(load_event("s3_test_event.json")))
    assert entry == Skipped("s3:TestEvent", bucket="example-bucket")


def test_parse_body_reads_a_deletion_as_a_removal_without_a_size() -> None:
    entry = only(parse_body(load_event("s3_delete.json")))
    assert isinstance(entry, ObjectRemoved)
    assert entry.key == "media/uploads/red flower.jpg"
    assert entry.event_name == "ObjectRemoved:Delete"
    assert entry.size is None


def test_parse_body_skips_events_that_neither_create_nor_remove() -> None:
    document = json.loads(load_event("s3_delete.json"))
    document["Records"][0]["eventName"] = "ObjectRestore:Completed"
    entry = only(parse_body(json.dumps(document)))
    assert isinstance(entry, Skipped)
    assert "ObjectRestore:Completed is neither" in entry.reason


def test_parse_body_unwraps_an_sns_envelope() -> None:
    record = only(parse_body(load_event("sns_envelope.json")))
    assert isinstance(record, ObjectCreated)
    assert (record.key, record.size) == ("media/uploads/red flower.jpg", 1024)


def test_parse_body_reads_an_eventbridge_object_created_event() -> None:
    record = only(parse_body(load_event("eventbridge_object_created.json")))
    assert isinstance(record, ObjectCreated)
    assert record.key == "media/uploads/red flower.jpg"
    assert record.size == 1024
    assert record.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    assert record.sequencer == "0055AED6DCD90281E5"


@pytest.mark.parametrize(
    "key",
    ["media/c++ notes (1).pdf", "media/100%25 done.txt", "media/2023-08-08T14:03:40.zip"],
)
def test_eventbridge_key_with_plus_or_percent_is_taken_literally(key: str) -> None:
    """EventBridge sends keys unencoded: `c++ notes.pdf` must not become `c   notes.pdf`, the
    name of another object (and maybe another row)."""
    document = json.loads(load_event("eventbridge_object_created.json"))
    document["detail"]["object"]["key"] = key
    record = only(parse_body(json.dumps(document)))
    assert isinstance(record, ObjectCreated)
    assert record.key == key


def test_eventbridge_key_s3_cannot_hold_is_invalid() -> None:
    document = json.loads(load_event("eventbridge_object_created.json"))
    document["detail"]["object"]["key"] = "media/a\u0000b"
    entry = only(parse_body(json.dumps(document)))
    assert isinstance(entry, Invalid)
    assert "NUL" in entry.reason


def test_parse_body_reads_an_eventbridge_deletion_as_a_removal() -> None:
    entry = only(parse_body(load_event("eventbridge_object_deleted.json")))
    assert entry == ObjectRemoved(
        bucket="example-bucket",
        key="media/uploads/red flower.jpg",
        sequencer="0055AED6DCD90281E5",
        version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        event_name="ObjectRemoved:Delete",
    )


def test_parse_body_reads_an_eventbridge_delete_marker_as_a_removal() -> None:
    document = json.loads(load_event("eventbridge_object_deleted.json"))
    document["detail"]["deletion-type"] = "Delete Marker Created"
    entry = only(parse_body(json.dumps(document)))
    assert isinstance(entry, ObjectRemoved)
    assert entry.event_name == "ObjectRemoved:DeleteMarkerCreated"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "JSON list, not an object"),
        ('{"hello": "world"}', "unknown event shape"),
        ('{"Records": []}', "non-empty list"),
        ('{"Type": "Notification", "Message": "{oops"}', "Message is not JSON"),
        ('{"Type": "Notification", "Message": 3}', "Message is not a string"),
    ],
)
def test_parse_body_rejects_unreadable_bodies_with_a_reason(body: str, message: str) -> None:
    with pytest.raises(EventParseError, match=message):
        parse_body(body)


def test_parse_body_rejects_nested_sns_envelopes() -> None:
    inner = json.dumps({"Type": "Notification", "Message": load_event("s3_put.json")})
    with pytest.raises(EventParseError, match="nested"):
        parse_body(json.dumps({"Type": "Notification", "Message": inner}))


def test_parse_body_marks_a_record_without_size_invalid() -> None:
    document = json.loads(load_event("s3_put.json"))
    del document["Records"][0]["s3"]["object"]["size"]
    entry = only(parse_body(json.dumps(document)))
    assert entry == Invalid("size is missing", "example-bucket", "media/uploads/red+flower.jpg")


def test_parse_body_marks_a_record_from_another_source_invalid() -> None:
    document = json.loads(load_event("s3_put.json"))
    document["Records"][0]["eventSource"] = "aws:sqs"
    entry = only(parse_body(json.dumps(document)))
    assert isinstance(entry, Invalid)
    assert "not 'aws:s3'" in entry.reason


def test_parse_body_keeps_good_records_beside_a_bad_one() -> None:
    document = json.loads(load_event("s3_put_two_records.json"))
    document["Records"][0]["s3"]["object"]["size"] = -1
    first, second = parse_body(json.dumps(document))
    assert isinstance(first, Invalid)
    assert isinstance(second, ObjectCreated)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("a+b%2Bc", "a b+c"),
        ("uploads%2Fx.pdf", "uploads/x.pdf"),  # moto encodes '/'
        ("uploads/x.pdf", "uploads/x.pdf"),  # real S3 does not
        ("%E6%97%A5%E6%9C%AC.txt", "日本.txt"),
        ("100%25", "100%"),
        ("bad%zzescape", "bad%zzescape"),  # not an escape: kept literally, as S3 would
    ],
)
def test_decode_key_undoes_form_url_encoding(raw: str, key: str) -> None:
    assert decode_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("%FF%FE", "does not decode to UTF-8"),
        ("a%00b", "NUL"),
        ("", "empty"),
        ("k" * 1025, "1024-byte limit"),
    ],
)
def test_decode_key_rejects_keys_s3_cannot_have(raw: str, message: str) -> None:
    with pytest.raises(EventParseError, match=message):
        decode_key(raw)


@pytest.mark.parametrize(("raw", "size"), [(0, 0), (7, 7), (2048.0, 2048), (2**40, 2**40)])
def test_parse_size_accepts_whole_numbers(raw: object, size: int) -> None:
    assert parse_size(raw) == size


@pytest.mark.parametrize("raw", [-1, 1.5, "12", True, None, [1]])
def test_parse_size_rejects_anything_else(raw: object) -> None:
    with pytest.raises(EventParseError):
        parse_size(raw)


@pytest.mark.parametrize(
    ("candidate", "current", "newer"),
    [
        ("0055AED6DCD90281E6", "0055AED6DCD90281E5", True),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E5", False),
        ("0055AED6DCD90282", "0055AED6DCD90281E5", True),  # shorter, right-padded: newer
        ("0055AED6DCD90281E4FF", "0055AED6DCD90281E5", False),  # longer, still older
        ("0055AED6DCD90281E5", None, True),
        (None, "0055AED6DCD90281E5", False),
        (None, None, False),
    ],
)
def test_is_newer_pads_the_shorter_sequencer_on_the_right(
    candidate: str | None, current: str | None, newer: bool
) -> None:
    assert is_newer(candidate, current) is newer
