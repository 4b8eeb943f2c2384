"""A simulated S3 bucket for the model test: objects, versions, and the events S3 sends.

It copies the S3 facts the recorder relies on (see /work/shared/DESIGN.md):
- every change emits one notification record carrying a sequencer; for one key, sequencers
  strictly increase when the shorter is right-padded with zeros and both are compared as
  strings, and their lengths vary (so a newer sequencer can be the shorter string);
- keys in events are form-URL-encoded (space → `+`, `+` → `%2B`); keys in listings are plain;
- create events carry the size; delete events carry none;
- a copy is a create event on the destination key (`ObjectCreated:Copy`), a multipart upload
  one `ObjectCreated:CompleteMultipartUpload`;
- on a versioned bucket a DELETE without a version adds a delete marker
  (`ObjectRemoved:DeleteMarkerCreated`), and deleting a specific version makes the one below it
  current with no create event for it.

`SimulatedS3Client` is a fake S3 *client* exposing exactly what `backfill` and `check` call
(`list_objects_v2`, `head_object`), reading this bucket. Only the database must be real in
these tests; S3 is faked, as moto would be, but synchronously and with sequencers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

from tests.support.events import s3_record

# Sequencers are formatted on this many hex digits, then trailing zeros are dropped or added:
# the right-padded value (the order) never changes, only the string's length does.
SEQUENCER_DIGITS = 20
# The bucket's clock starts here; S3's LastModified has whole seconds, so changes can share one.
EPOCH = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class S3Event:
    """One notification record, as S3 would send it for one change of one key."""

    number: int  # emission order in the bucket, for messages and failure reports
    key: str
    name: str  # eventName: ObjectCreated:Put, ObjectRemoved:DeleteMarkerCreated, ...
    size: int | None  # None for removals
    sequencer: str
    version_id: str | None

    @property
    def created(self) -> bool:
        return self.name.startswith("ObjectCreated:")

    def body(self, bucket: str) -> str:
        """The SQS message body S3 sends for this event (one record per message)."""
        record: dict[str, Any] = s3_record(
            quote_plus(self.key, safe="/"), self.size, self.sequencer
        )
        record["eventName"] = self.name
        record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
        obj = record["s3"]["object"]
        obj["eTag"] = f"{self.number:032x}"
        if not self.created:  # S3's removal records carry neither size nor eTag
            del obj["size"], obj["eTag"]
        if self.version_id is not None:
            obj["versionId"] = self.version_id
        return json.dumps({"Records": [record]})


@dataclass(slots=True)
class _Version:
    version_id: str | None  # None on an unversioned bucket
    size: int | None  # None: a delete marker
    last_modified: datetime
    etag: str


@dataclass(slots=True)
class _SequencerClock:
    """One key's sequencers: strictly increasing, of varying length, as S3's."""

    value: int
    rng: random.Random

    def next(self) -> str:
        # Steps of 16**k leave trailing zeros that can be dropped; others make full strings.
        self.value += self.rng.choice((1, 0x10, 0x100, 0x1000, 0x10000)) * self.rng.randint(1, 40)
        digits = f"{self.value:0{SEQUENCER_DIGITS}X}".rstrip("0")
        return digits.ljust(self.rng.choice((14, 16, 18, 20, 22)), "0")


@dataclass(slots=True)
class SimulatedBucket:
    """One bucket's objects and versions, and every event its changes emitted."""

    name: str
    versioned: bool
    rng: random.Random
    objects: dict[str, list[_Version]] = field(default_factory=dict)
    events: list[S3Event] = field(default_factory=list)
    # Every size each key has ever held: the only sizes a row naming that key may hold.
    held: dict[str, set[int]] = field(default_factory=dict)
    _clocks: dict[str, _SequencerClock] = field(default_factory=dict)
    _versions: int = 0
    _sizes: int = 0
    _now: datetime = EPOCH

    def fresh_size(self, kind: str) -> int:
        """A size no key has held yet ("fresh", "huge": beyond 32 bits), or 0 ("zero")."""
        if kind == "zero":
            return 0
        self._sizes += 1
        return self._sizes * 1_009 + (2**40 if kind == "huge" else 0)

    def current_size(self, key: str) -> int | None:
        """The current version's size, or None when the key has no object (or a marker)."""
        current = self.current(key)
        return None if current is None else current.size

    def current(self, key: str) -> _Version | None:
        """The current version, or None when the key has no object or a delete marker is on top."""
        versions = self.objects.get(key)
        return versions[-1] if versions and versions[-1].size is not None else None

    def put(self, key: str, size: int, how: str = "Put") -> S3Event:
        """PUT (or multipart complete, or copy into) `key`: a new current version."""
        version = self._new_version(size)
        if self.versioned:
            self.objects.setdefault(key, []).append(version)
        else:
            self.objects[key] = [version]
        self.held.setdefault(key, set()).add(size)
        return self._emit(key, f"ObjectCreated:{how}", size, version.version_id)

    def copy(self, source: str, destination: str) -> S3Event | None:
        size = self.current_size(source)
        return None if size is None else self.put(destination, size, "Copy")

    def delete(self, key: str) -> S3Event | None:
        """DELETE without a version: removes the object, or (versioned) adds a delete marker.

        A versioned bucket adds a marker even over an absent key, and says so in an event; an
        unversioned bucket deleting an absent key changes nothing, so no event is simulated.
        """
        if self.versioned:
            marker = self._new_version(None)
            self.objects.setdefault(key, []).append(marker)
            return self._emit(key, "ObjectRemoved:DeleteMarkerCreated", None, marker.version_id)
        if self.objects.pop(key, None) is None:
            return None
        return self._emit(key, "ObjectRemoved:Delete", None, None)

    def delete_version(self, key: str, pick: int) -> S3Event | None:
        """DELETE of one version (a marker included): the one below becomes current, silently."""
        versions = self.objects.get(key)
        if not self.versioned or not versions:
            return None
        removed = versions.pop(pick % len(versions))
        if not versions:
            del self.objects[key]
        return self._emit(key, "ObjectRemoved:Delete", None, removed.version_id)

    def versions(self, key: str) -> int:
        return len(self.objects.get(key, ()))

    def listing(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every current object under `prefix`, in S3's (UTF-8 binary) order."""
        return [(key, v.size) for key, v in self.listed(prefix) if v.size is not None]

    def listed(self, prefix: str) -> list[tuple[str, _Version]]:
        return sorted(
            (key, version)
            for key in self.objects
            if key.startswith(prefix) and (version := self.current(key)) is not None
        )

    def _emit(self, key: str, name: str, size: int | None, version_id: str | None) -> S3Event:
        clock = self._clocks.get(key)
        if clock is None:
            # Each key starts elsewhere: sequencers are only comparable for the same key.
            start = ((0x55AED6 << 32) + self.rng.randrange(2**32)) << 16
            clock = self._clocks[key] = _SequencerClock(start, self.rng)
        event = S3Event(len(self.events), key, name, size, clock.next(), version_id)
        self.events.append(event)
        return event

    def _new_version(self, size: int | None) -> _Version:
        self._versions += 1
        self._now += timedelta(seconds=self.rng.choice((0, 1, 1, 2)))
        return _Version(
            f"v{self._versions:04d}" if self.versioned else None,
            size,
            self._now,
            f'"{self._versions:032x}"',
        )


@dataclass(slots=True)
class SimulatedS3Client:
    """The S3 calls `backfill` and `check` make, answered from a `SimulatedBucket`.

    `during_read`, when set, runs once right after the first answer is computed and before it
    is returned: what happens while a long listing (or the first HEAD) is on its way, which is
    the window in which events land under an operator's tool.
    """

    bucket: SimulatedBucket
    during_read: Callable[[], None] | None = None
    # key → the size the last answer gave for it (None: HEAD found nothing): what the tool knows.
    seen: dict[str, int | None] = field(default_factory=dict)

    def list_objects_v2(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        MaxKeys: int = 1000,
        StartAfter: str = "",
        ContinuationToken: str = "",
    ) -> dict[str, Any]:
        self._check_bucket(Bucket, "ListObjectsV2")
        after = ContinuationToken or StartAfter
        listed = [(k, v) for k, v in self.bucket.listed(Prefix) if k > after]
        page = listed[:MaxKeys]
        response: dict[str, Any] = {
            "Contents": [
                {"Key": key, "Size": v.size, "LastModified": v.last_modified, "ETag": v.etag}
                for key, v in page
            ],
            "KeyCount": len(page),
            "IsTruncated": len(listed) > MaxKeys,
        }
        if response["IsTruncated"]:
            response["NextContinuationToken"] = page[-1][0]
        self.seen.update((key, v.size) for key, v in page)
        return self._answer(response)

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._check_bucket(Bucket, "HeadObject")
        current = self.bucket.current(Key)
        self.seen[Key] = None if current is None else current.size
        if current is None:
            self._answer(None)
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        response = {
            "ContentLength": current.size,
            "LastModified": current.last_modified,
            "ETag": current.etag,
        }
        if current.version_id is not None:
            response["VersionId"] = current.version_id
        return self._answer(response)

    def _answer(self, response: Any) -> Any:
        hook, self.during_read = self.during_read, None
        if hook is not None:
            hook()
        return response

    def _check_bucket(self, name: str, operation: str) -> None:
        if name != self.bucket.name:
            raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": name}}, operation)
