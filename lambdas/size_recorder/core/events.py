"""Turn a queue message body into plain records: what was created or removed, and its size.

Everything here is pure (stdlib only) so the Lambda, the worker and the replay tool parse
exactly the same way. A body yields `ObjectCreated` and `ObjectRemoved` records to write,
`Skipped` entries that are acknowledged on purpose, or raises `EventParseError` naming what was
wrong.

Shapes accepted, one per message body:
1. an S3 event notification (`Records[]` with `eventSource: aws:s3`), possibly several records;
2. the `s3:TestEvent` S3 sends when a notification is configured (skipped);
3. an SNS envelope (`Type: Notification`, `Message` = one of these shapes as a JSON string);
4. an EventBridge "Object Created" or "Object Deleted" event from `aws.s3`.

A removal (`ObjectRemoved:Delete`, `ObjectRemoved:DeleteMarkerCreated`) carries no size: the key's
size is unknown from then on, until a newer create. Deleting the current version of a versioned
object makes an older version current without any create event, so "unknown" is the only honest
size after any removal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

# S3 refuses keys longer than this many UTF-8 bytes, so a longer one cannot be a real upload.
MAX_KEY_BYTES = 1024
# The largest size a bigint column holds, far above S3's largest object. A bigger number cannot
# be a real size, and letting it through would fail the whole batch's UPDATE (out of range).
MAX_SIZE_BYTES = 2**63 - 1


class EventParseError(ValueError):
    """A body, or one record in it, that cannot be turned into an object size."""


@dataclass(frozen=True, slots=True)
class ObjectCreated:
    """One object that now exists in S3, with the size the event reported."""

    bucket: str
    key: str
    size: int
    etag: str | None = None
    sequencer: str | None = None
    version_id: str | None = None
    event_name: str = "ObjectCreated:Put"


@dataclass(frozen=True, slots=True)
class ObjectRemoved:
    """An object (or one version of it) that was deleted: its key's size is no longer known."""

    bucket: str
    key: str
    sequencer: str | None = None
    version_id: str | None = None
    event_name: str = "ObjectRemoved:Delete"

    @property
    def size(self) -> None:
        """No size: what the key holds now is unknown (NULL in its row)."""
        return None


# What the recorder writes a row from: a size, or the news that the size is no longer known.
ObjectChange = ObjectCreated | ObjectRemoved

# The removals S3 reports for a key: a delete (of the object or of one version) and a delete
# marker put over the current version. Both leave the key's current size unknown.
REMOVAL_EVENTS = frozenset({"ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated"})
_EVENTBRIDGE_REMOVALS = {
    "Permanently Deleted": "ObjectRemoved:Delete",
    "Delete Marker Created": "ObjectRemoved:DeleteMarkerCreated",
}


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry acknowledged without a write, and why (test event, a deletion, ...)."""

    reason: str
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A record inside an otherwise readable body that cannot be used."""

    reason: str
    bucket: str | None = None
    key: str | None = None


ParsedEntry = ObjectCreated | ObjectRemoved | Skipped | Invalid


def parse_body(body: str) -> list[ParsedEntry]:
    """Parse one SQS message body.

    Raises `EventParseError` when the body as a whole is unreadable (not JSON, unknown shape);
    a single bad record among good ones comes back as `Invalid` so its neighbours still count.
    """
    try:
        document = json.loads(body)
    except (ValueError, TypeError, RecursionError) as exc:
        raise EventParseError(f"body is not JSON: {exc}") from None
    _reject_lone_surrogates(body, document, "body")
    return _parse_document(document)


# A `\uD800`-`\uDFFF` escape: half of a UTF-16 pair. Only when one is found is the decoded
# document checked for a half left alone, which no AWS service sends and no log line can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_lone_surrogates(text: str, document: Any, what: str) -> None:
    """Refuse JSON whose escapes decode to a lone surrogate: not Unicode, so it cannot be a key,
    a bucket or a reason in a log line (the JSON logger would drop the whole line)."""
    if not _SURROGATE_ESCAPE.search(text):
        return
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        raise EventParseError(
            f"{what} escapes a lone UTF-16 surrogate: not valid Unicode"
        ) from None


def _parse_document(document: Any, *, _depth: int = 0) -> list[ParsedEntry]:
    """Parse a decoded body, or the decoded `Message` of an SNS envelope."""
    if not isinstance(document, dict):
        raise EventParseError(f"body is a JSON {type(document).__name__}, not an object")
    if "Records" in document:
        return _parse_s3_notification(document["Records"])
    if document.get("Event") == "s3:TestEvent":
        return [Skipped("s3:TestEvent", bucket=_str_or_none(document.get("Bucket")))]
    if document.get("Type") == "Notification" and "Message" in document:
        if _depth > 0:
            raise EventParseError("SNS envelope nested inside another envelope")
        message = document["Message"]
        if not isinstance(message, str):
            raise EventParseError("SNS envelope's Message is not a string")
        try:
            inner = json.loads(message)
        except (ValueError, RecursionError) as exc:
            raise EventParseError(f"SNS envelope's Message is not JSON: {exc}") from None
        _reject_lone_surrogates(message, inner, "SNS envelope's Message")
        return _parse_document(inner, _depth=_depth + 1)
    if document.get("source") == "aws.s3" and "detail-type" in document:
        return [_parse_eventbridge(document)]
    raise EventParseError(f"unknown event shape (top-level keys: {_describe_keys(document)})")


def decode_key(raw: str) -> str:
    """Decode an S3 notification's form-URL-encoded key (`a+b%2Bc` → `a b+c`), then check it.

    S3 notifications encode keys this way; moto additionally encodes `/` as `%2F`, which decodes
    the same. Bytes that do not decode as UTF-8 mean the key was mangled on the way: no real S3
    key can hold them.
    """
    try:
        key = unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        raise EventParseError(f"key {raw!r} does not decode to UTF-8") from None
    return checked_key(key, raw)


def checked_key(key: str, raw: str | None = None) -> str:
    """`key` if S3 could hold it: not empty, no NUL, valid Unicode, at most 1,024 UTF-8 bytes.

    EventBridge events carry the key as it is, not encoded, and are checked with this alone:
    a real account's event shows `raw/health-check/2023-08-08T14:03:40.532432.zip` with its
    colons, which a form-encoded notification key writes as `%3A`, and moto sends EventBridge
    keys unencoded too. Decoding them would turn `c++ notes.pdf` into `c   notes.pdf`: another
    object's name, so another row's size.
    """
    raw = key if raw is None else raw
    if not key:
        raise EventParseError("key is empty")
    if "\x00" in key:
        raise EventParseError(f"key {raw!r} contains a NUL byte")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON can carry "\ud800"): not UTF-8 either
        raise EventParseError(f"key {raw!r} is not valid Unicode") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise EventParseError(f"key is longer than S3's {MAX_KEY_BYTES}-byte limit")
    return key


def parse_size(raw: Any) -> int:
    """The object size in bytes; some tooling sends integral floats, nothing sends negatives."""
    if isinstance(raw, bool):
        raise EventParseError(f"size {raw!r} is not a number")
    if isinstance(raw, int):
        size = raw
    elif isinstance(raw, float) and raw.is_integer():
        size = int(raw)
    elif raw is None:
        raise EventParseError("size is missing")
    else:
        raise EventParseError(f"size {raw!r} is not a whole number of bytes")
    if size < 0:
        raise EventParseError(f"size {size} is negative")
    if size > MAX_SIZE_BYTES:
        raise EventParseError(f"size {size} is larger than any object S3 can store")
    return size


def normalize_sequencer(raw: Any) -> str | None:
    """Upper-case hex sequencer, or None when the event has none (moto, some replays)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise EventParseError(f"sequencer {raw!r} is not a string")
    sequencer = raw.upper()
    if sequencer.strip("0123456789ABCDEF"):  # something left: a character that is not hex
        raise EventParseError(f"sequencer {raw!r} is not hexadecimal")
    return sequencer


def _parse_s3_notification(records: Any) -> list[ParsedEntry]:
    if not isinstance(records, list) or not records:
        raise EventParseError("Records is not a non-empty list")
    return [_parse_s3_record(record) for record in records]


def _parse_s3_record(record: Any) -> ParsedEntry:
    if not isinstance(record, dict):
        return Invalid("record is not a JSON object")
    source = record.get("eventSource")
    if source != "aws:s3":
        return Invalid(f"record's eventSource is {source!r}, not 'aws:s3'")
    try:
        s3 = _mapping(record, "s3")
        bucket = _required_str(_mapping(s3, "bucket"), "name")
        obj = _mapping(s3, "object")
        raw_key = _required_str(obj, "key")
    except EventParseError as exc:
        return Invalid(str(exc))
    event_name = record.get("eventName")
    if not isinstance(event_name, str) or not (
        event_name.startswith("ObjectCreated:") or event_name in REMOVAL_EVENTS
    ):
        return Skipped(
            f"{event_name} is neither an ObjectCreated event nor a removal",
            bucket=bucket,
            key=raw_key,
        )
    try:
        key = decode_key(raw_key)
        if event_name in REMOVAL_EVENTS:
            return ObjectRemoved(
                bucket=bucket,
                key=key,
                sequencer=normalize_sequencer(obj.get("sequencer")),
                version_id=_str_or_none(obj.get("versionId")),
                event_name=event_name,
            )
        return ObjectCreated(
            bucket=bucket,
            key=key,
            size=parse_size(obj.get("size")),
            etag=_str_or_none(obj.get("eTag")),
            sequencer=normalize_sequencer(obj.get("sequencer")),
            version_id=_str_or_none(obj.get("versionId")),
            event_name=event_name,
        )
    except EventParseError as exc:
        return Invalid(str(exc), bucket=bucket, key=raw_key)


def _parse_eventbridge(document: dict[str, Any]) -> ParsedEntry:
    detail_type = document.get("detail-type")
    try:
        detail = _mapping(document, "detail")
        bucket = _required_str(_mapping(detail, "bucket"), "name")
        obj = _mapping(detail, "object")
        raw_key = _required_str(obj, "key")
    except EventParseError as exc:
        return Invalid(f"EventBridge {detail_type!r} event: {exc}")
    removal = (
        _EVENTBRIDGE_REMOVALS.get(str(detail.get("deletion-type")))
        if detail_type == "Object Deleted"
        else None
    )
    if detail_type != "Object Created" and removal is None:
        return Skipped(
            f"EventBridge {detail_type!r} is neither Object Created nor a deletion", bucket, raw_key
        )
    try:
        if removal is not None:
            return ObjectRemoved(
                bucket=bucket,
                key=checked_key(raw_key),
                sequencer=normalize_sequencer(obj.get("sequencer")),
                version_id=_str_or_none(obj.get("version-id")),
                event_name=removal,
            )
        return ObjectCreated(
            bucket=bucket,
            key=checked_key(raw_key),
            size=parse_size(obj.get("size")),
            etag=_str_or_none(obj.get("etag")),
            sequencer=normalize_sequencer(obj.get("sequencer")),
            version_id=_str_or_none(obj.get("version-id")),
            event_name=f"ObjectCreated:{detail.get('reason') or 'EventBridge'}",
        )
    except EventParseError as exc:
        return Invalid(str(exc), bucket=bucket, key=raw_key)


def _mapping(parent: dict[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise EventParseError(f"'{name}' is missing or not an object")
    return value


def _required_str(parent: dict[str, Any], name: str) -> str:
    value = parent.get(name)
    if not isinstance(value, str):
        raise EventParseError(f"'{name}' is missing or not a string")
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _describe_keys(document: dict[str, Any]) -> str:
    keys = sorted(str(k) for k in document)[:8]
    return ", ".join(repr(k) for k in keys) or "none"


def is_newer(candidate: str | None, current: str | None) -> bool:
    """Whether `candidate` is a later event for the same key than `current`.

    The S3 User Guide: right-pad the shorter sequencer with zeros, then compare as strings.
    Sequencers are only comparable for the same key. An event without one (moto, hand-made
    replays) carries no ordering, so it never counts as newer than one that has it.
    """
    if candidate is None:
        return False
    if current is None:
        return True
    width = max(len(candidate), len(current))
    return candidate.ljust(width, "0") > current.ljust(width, "0")
