"""Reconcile rows with an S3 Inventory report, one batch of the report's rows at a time.

The per-batch work of `size-recorder check --inventory` and `backfill --inventory`, and all the
work of a reconcile Lambda fed by a Step Functions Distributed Map (`reconcile_batch`): one code
path, so both give the same answers for the same report.

A batch's rows are read (skipping versions that are not the latest, delete markers and folder
markers), routed to targets as the recorder routes keys, and written per target in one
statement each: a fill (`backfill`) or a compare (`check`), each its own short transaction.

How a check decides, when the report may be 48 hours old. The report says what each object was
when S3 took it (the manifest's `creationTimestamp`, T). A row can be newer than that: an upload
or a delete after T was recorded from its event, while the report still shows the old size or
no object. From the row alone a newer row and a lost event look alike (a sequencer orders the
events of one key but says nothing about time), so the report only picks the rows to look at,
and S3 decides, asked after the row was read:
- a row that agrees with the report: nothing to do, no request;
- a NULL row with no sequencer whose object the report lists: `still null`, no request (no fix
  applies to it; `backfill` fills it under its own rules);
- any other row that disagrees (a different size, NULL after a recorded delete, a row whose name
  the report lacks): one HEAD, sent after the row was read.
  - no object: `gone`;
  - the object was last modified at or after T: newer than the report, counted and never drift,
    never fixed: the next report judges it;
  - otherwise the object has not changed since T and its size now is the one to compare: equal,
    nothing to do (the report was behind); a NULL row is `still null`; a different size is
    `differs`, and a fix sets that size only on rows that still hold the size and sequencer read
    before the HEAD, so an event recorded since always wins.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from itertools import islice
from typing import Any, Literal, NamedTuple
from urllib.parse import unquote_plus

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowsRead, RowStore
from size_recorder.core.config import Settings, Target
from size_recorder.ops.check import Drift, FixOutcome

# Inventory rows per chunk: each chunk is one statement per target, its own transaction.
CHUNK_ROWS = 10_000
# HEADs of the rows a chunk disagrees with, sent at once. Since inventory workers leave their
# HEADs to the command, one process sends them all. Measured against moto's server through
# benchmarks.delay_proxy, 2 cores with the model's deep run beside it: 400 HEADs at 10 ms RTT,
# 13.3 s one at a time against 7.0 s eight at a time; 200 at 30 ms RTT, 10.7 s against 3.5 s.
# moto's own CPU caps the first; S3's latency is the second's shape.
HEADS_AT_ONCE = 8

Mode = Literal["check", "backfill"]
# What S3, asked after the row was read, says about a row the report disagrees with.
Verdict = Literal["gone", "newer than report", "still null", "differs", "agrees"]
# Inventory rows that never name a row's object.
Skip = Literal["not latest", "delete marker", "folder marker"]

_SKIPPED: dict[Skip, str] = {
    "not latest": "objects_not_latest",
    "delete marker": "objects_delete_markers",
    "folder marker": "objects_folder_markers",
}


class InventoryError(ValueError):
    """An inventory report this tool cannot read (manifest, schema, a row), in one line."""


def field_name(name: str) -> str:
    """A field's name as matched: CSV manifests say `IsLatest`, Parquet and ORC `is_latest`."""
    return name.strip().replace("_", "").lower()


# The fields read; the first three are required.
REQUIRED_FIELDS = ("Bucket", "Key", "Size")
READ_FIELDS = frozenset(map(field_name, (*REQUIRED_FIELDS, "IsLatest", "IsDeleteMarker")))


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each field read sits in an inventory row, and whether keys are URL-encoded (CSV
    reports encode them as a form does: a space is `+`)."""

    bucket: int
    key: int
    size: int
    is_latest: int | None
    is_delete_marker: int | None
    encoded_keys: bool

    @classmethod
    def of(cls, names: Sequence[str], *, encoded_keys: bool) -> Layout:
        """Raises InventoryError when Bucket, Key or Size is missing."""
        positions = {field_name(name): index for index, name in enumerate(names)}
        missing = [name for name in REQUIRED_FIELDS if field_name(name) not in positions]
        if missing:
            raise InventoryError(
                f"the inventory's fields ({', '.join(names)}) lack {', '.join(missing)}"
            )
        return cls(
            positions["bucket"],
            positions["key"],
            positions["size"],
            positions.get("islatest"),
            positions.get("isdeletemarker"),
            encoded_keys,
        )


class Reported(NamedTuple):
    """A current object as the report gives it (a tuple: millions are made, ~3x faster than a
    frozen dataclass)."""

    bucket: str
    key: str
    size: int


def read_row(
    layout: Layout, values: Sequence[Any], decode: Callable[[str], str] = unquote_plus
) -> Reported | Skip:
    """One inventory row: the object it reports, or why it names no row's object.

    Values are strings (CSV, Step Functions items) or typed (Parquet, ORC); `decode` undoes
    the URL-encoding of a CSV report's keys. Raises InventoryError for a current object
    without a whole-number size.
    """
    if layout.is_latest is not None and _is(values[layout.is_latest], False):
        return "not latest"
    if layout.is_delete_marker is not None and _is(values[layout.is_delete_marker], True):
        return "delete marker"
    key = str(values[layout.key])
    if layout.encoded_keys:
        key = decode(key)
    if key.endswith("/"):
        return "folder marker"
    raw = values[layout.size]
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise InventoryError(f"{key!r}: the size {raw!r} is not a whole number") from None
    if size < 0:
        raise InventoryError(f"{key!r}: the size {raw!r} is negative")
    return Reported(str(values[layout.bucket]), key, size)


def _is(value: Any, flag: bool) -> bool:
    """A boolean field holds `flag`; empty (not reported) holds neither."""
    if isinstance(value, bool):
        return value is flag
    return isinstance(value, str) and value.strip().lower() == ("true" if flag else "false")


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What a batch (or a whole run: results add up) found and did. Keys are snake_case, as
    the JSON summaries print them."""

    objects_in_report: int = 0  # inventory rows read
    objects_not_latest: int = 0
    objects_delete_markers: int = 0
    objects_folder_markers: int = 0
    objects_outside_prefix: int = 0  # the CLI's --prefix
    objects_routed_nowhere: int = 0  # outside every configured prefix
    objects_in_scope: int = 0  # current objects routed to a target
    objects_matched: int = 0  # of those, objects whose name a row holds
    filled: int = 0  # backfill: rows filled (on a dry run: would be)
    rows_differing: int = 0
    rows_object_gone: int = 0
    rows_still_null: int = 0
    rows_newer_than_report: int = 0
    rows_not_in_report: int = 0  # rows whose name the report lacks (whole runs only)
    rows_null_after_delete: int = 0  # backfill: left NULL, a delete was recorded (whole runs)
    fixed: int = 0  # check --fix: rows set (on a dry run: would be)
    rows_changed_since_read: int = 0  # differed, then an event changed them: left alone
    s3_requests: int = 0

    def __add__(self, other: ReconcileResult) -> ReconcileResult:
        return ReconcileResult(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, int]) -> ReconcileResult:
        return cls(**{f.name: int(values.get(f.name, 0)) for f in fields(cls)})

    @property
    def drift(self) -> int:
        return self.rows_differing + self.rows_object_gone + self.rows_still_null

    @property
    def unrepaired(self) -> int:
        """Drift left; a dry run counts what the real run would leave."""
        return self.drift - self.fixed

    @property
    def nothing_matched(self) -> bool:
        """Objects were in scope but none names a row: almost always a wrong prefix or target."""
        return self.objects_in_scope > 0 and self.objects_matched == 0


@dataclass(frozen=True, slots=True)
class NewerThanReport:
    """A row the report disagrees with whose object changed after the report: not judged."""

    key: str
    recorded: int | None
    actual: int  # the object's size now
    last_modified: datetime


def _ignore(_: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Reconciler:
    """Batches of one report's rows against one row store (one connection), as `mode` says.

    `on_reported` (check) receives the names each chunk routes to a target, so a whole run can
    find the rows the report lacks. `confirm_with` takes the rows the report disagrees with
    instead of `confirm`: a worker process without an S3 client hands them to its parent, which
    judges them and counts what it finds. Callbacks run on the caller's thread.
    """

    settings: Settings
    rows: RowStore
    client: Any
    mode: Mode
    report_time: datetime
    fix: bool = False
    dry_run: bool = False
    prefix: str = ""
    on_drift: Callable[[Drift], None] = _ignore
    on_newer: Callable[[NewerThanReport], None] = _ignore
    on_reported: Callable[[Target, list[str]], None] | None = None
    confirm_with: (
        Callable[[Target, Sequence[tuple[RowsRead, str, str]]], ReconcileResult] | None
    ) = None

    def batches(
        self, layout: Layout, rows: Iterable[Sequence[Any]], *, chunk_rows: int = CHUNK_ROWS
    ) -> Iterator[ReconcileResult]:
        """Each chunk's result once its writes are committed: a caller may stop between any
        two, and what was yielded stays done."""
        iterator = iter(rows)
        while chunk := list(islice(iterator, chunk_rows)):
            yield self.chunk(layout, chunk)

    def chunk(self, layout: Layout, rows: Sequence[Sequence[Any]]) -> ReconcileResult:
        counts: Counter[str] = Counter(objects_in_report=len(rows))
        grouped = route(self.settings, layout, rows, prefix=self.prefix, counts=counts)
        for target, objects in grouped.items():
            if self.on_reported is not None:
                self.on_reported(target, list(objects))
            if self.mode == "backfill":
                sizes = [(name, reported.size) for name, reported in objects.items()]
                done = self.rows.fill_listed(target, sizes, dry_run=self.dry_run)
                counts["filled"] += done.rows
                counts["objects_matched"] += done.names_matched
            else:
                self._compare(target, objects, counts)
        return ReconcileResult(**counts)

    def confirm(
        self, target: Target, candidates: Sequence[tuple[RowsRead, str, str]]
    ) -> ReconcileResult:
        """Judge rows the report disagrees with, each with its object's bucket and key, by asking
        S3 now (one HEAD per key), then (with `fix`) set the sizes that differ where the rows
        still hold what was read."""
        objects = list(dict.fromkeys((bucket, key) for _, bucket, key in candidates))
        states = dict(zip(objects, self._head(objects), strict=True))
        counts: Counter[str] = Counter(s3_requests=len(objects))
        judged: list[tuple[RowsRead, str, Verdict, s3.ObjectState | None]] = []
        fixes: list[tuple[RowsRead, int]] = []
        for read, bucket, key in candidates:
            state = states[bucket, key]
            verdict = judge(read, state, self.report_time)
            judged.append((read, key, verdict, state))
            if verdict == "differs" and state is not None:
                fixes.append((read, state.size))
        fixed = self.rows.set_read(target, fixes, dry_run=self.dry_run) if self.fix else {}
        for read, key, verdict, state in judged:
            if verdict == "agrees":
                continue
            if verdict == "newer than report":
                assert state is not None
                counts["rows_newer_than_report"] += read.rows
                self.on_newer(NewerThanReport(key, read.size, state.size, state.last_modified))
                continue
            actual = None if state is None else state.size
            if verdict == "gone":
                counts["rows_object_gone"] += read.rows
                self._report("gone", key, read, actual)
            elif verdict == "still null":
                counts["rows_still_null"] += read.rows
                self._report("still null", key, read, actual)
            else:
                done = fixed.get(read, 0)
                counts["rows_differing"] += read.rows
                counts["fixed"] += done
                if self.fix:
                    counts["rows_changed_since_read"] += read.rows - done
                self._report("differs", key, read, actual, fixed=done)
        return ReconcileResult(**counts)

    def _head(self, objects: Sequence[tuple[str, str]]) -> list[s3.ObjectState | None]:
        """Each (bucket, key)'s state, HEADS_AT_ONCE at a time: each is a round trip to S3,
        and one process sends them all (the command, for every worker's rows; a reconcile
        Lambda, for its batch). boto3's clients are safe to share between threads."""

        def head(obj: tuple[str, str]) -> s3.ObjectState | None:
            return s3.head_object(self.client, bucket=obj[0], key=obj[1])

        if len(objects) <= 1:
            return [head(obj) for obj in objects]
        with ThreadPoolExecutor(min(HEADS_AT_ONCE, len(objects))) as pool:
            return list(pool.map(head, objects))

    def _compare(
        self, target: Target, objects: Mapping[str, Reported], counts: Counter[str]
    ) -> None:
        compared = self.rows.compare_reported(
            target, [(name, reported.size) for name, reported in objects.items()]
        )
        counts["objects_matched"] += compared.names_matched
        candidates: list[tuple[RowsRead, str, str]] = []
        for read, size in compared.disagreeing:
            reported = objects[read.name]
            if read.size is None and read.sequencer is None:
                # No event was ever recorded for it and no fix applies: the report is enough.
                counts["rows_still_null"] += read.rows
                self._report("still null", reported.key, read, size)
            else:
                candidates.append((read, reported.bucket, reported.key))
        if candidates:
            confirm = self.confirm_with or self.confirm
            counts.update(confirm(target, candidates).as_dict())

    def _report(
        self,
        kind: Literal["differs", "gone", "still null"],
        key: str,
        read: RowsRead,
        actual: int | None,
        *,
        fixed: int = 0,
    ) -> None:
        """One Drift per row (rows sharing a key and what was read are one group)."""
        for index in range(read.rows):
            outcome: FixOutcome | None = None
            if kind == "differs" and self.fix:
                if index < fixed:
                    outcome = "would fix" if self.dry_run else "fixed"
                else:
                    outcome = "changed since read"
            self.on_drift(Drift(kind, key, read.size, actual, outcome))


def judge(read: RowsRead, state: s3.ObjectState | None, report_time: datetime) -> Verdict:
    """What S3 now (`state`, None: no object) says about a row the report disagrees with.

    S3 gives whole seconds, so an object modified in the report's own second counts as newer.
    """
    if state is None:
        return "gone"
    if state.last_modified >= report_time.replace(microsecond=0):
        return "newer than report"
    if read.size is None:
        return "still null"
    return "agrees" if read.size == state.size else "differs"


def route(
    settings: Settings,
    layout: Layout,
    rows: Iterable[Sequence[Any]],
    *,
    prefix: str,
    counts: Counter[str],
) -> dict[Target, dict[str, Reported]]:
    """Current objects under `prefix` by target, then by the name a row would hold (the key
    routed as the recorder routes it); skips counted into `counts`."""
    grouped: dict[Target, dict[str, Reported]] = defaultdict(dict)
    decode = _by_directory_unquote()
    route_key = _by_directory_route(settings)
    for values in rows:
        reported = read_row(layout, values, decode)
        if isinstance(reported, str):
            counts[_SKIPPED[reported]] += 1
            continue
        if not reported.key.startswith(prefix):
            counts["objects_outside_prefix"] += 1
            continue
        found = route_key(reported.bucket, reported.key)
        if found is None or not found[1]:
            counts["objects_routed_nowhere"] += 1
            continue
        counts["objects_in_scope"] += 1
        grouped[found[0]][found[1]] = reported
    return dict(grouped)


# Decoding and routing each key from scratch took 4x the time of everything else a chunk does
# in Python (58 us against 14 us a key, 200,000 keys, on this shared machine), and a chunk's keys
# share a few directories: both are done once per directory. Each cache lives for one chunk.


def _by_directory_unquote() -> Callable[[str], str]:
    """unquote_plus, decoding each directory once.

    S3 Inventory encodes a key's slashes too (`media%2Fuploads%2Fa.pdf`). Splitting at the last
    `%2F` is exact: it is one whole ASCII byte, so no escape or UTF-8 sequence spans it.
    """
    directories: dict[str, str] = {}

    def decode(key: str) -> str:
        head, slash, tail = key.rpartition("%2F")
        if "%" in tail or "+" in tail:
            tail = unquote_plus(tail)
        if not slash:
            return tail
        directory = directories.get(head)
        if directory is None:
            directory = directories[head] = unquote_plus(head) + "/"
        return directory + tail

    return decode


def _by_directory_route(settings: Settings) -> Callable[[str, str], tuple[Target, str] | None]:
    """Settings.route as (target, name), asking once per bucket and directory.

    A prefix no longer than a key's directory (up to its last `/`) matches the key exactly when
    it matches the directory, so when every configured prefix is that short the directory's
    target is the key's, and the name is that target's `name_of` the key. Keys whose
    directory is shorter than the longest prefix are routed one by one.
    """
    longest = max(len(target.prefix) for target in settings.targets)
    directories: dict[tuple[str, str], Target | None] = {}

    def route_key(bucket: str, key: str) -> tuple[Target, str] | None:
        cut = key.rfind("/") + 1
        if cut < longest:
            found = settings.route(bucket, key)
            return None if found is None else (found.target, found.name)
        where = (bucket, key[:cut])
        if where not in directories:
            found = settings.route(bucket, key[:cut])
            directories[where] = None if found is None else found.target
        target = directories[where]
        return None if target is None else (target, target.name_of(key))

    return route_key


def reconcile_batch(
    settings: Settings,
    rows: RowStore,
    items: Sequence[Mapping[str, Any]],
    *,
    fix: bool,
    report_time: datetime,
    client: Any,
    dry_run: bool = False,
    on_drift: Callable[[Drift], None] = _ignore,
    on_newer: Callable[[NewerThanReport], None] = _ignore,
) -> ReconcileResult:
    """Check (and with `fix`, repair) the rows a batch of inventory rows names, as
    `size-recorder check --inventory` does for each chunk of a data file.

    `items` are what a Distributed Map's ItemReader gives for an S3 inventory manifest (it
    reads CSV reports): one object per row, named by the manifest's fileSchema (`Bucket`, `Key`,
    `Size`, and `IsLatest`, `IsDeleteMarker` when the report has versions), every value a
    string and keys URL-encoded as in the CSV file. `report_time` is the manifest's
    `creationTimestamp`. Rows the report lacks need the whole report: only the CLI finds them.
    """
    if not items:
        return ReconcileResult()
    names = list(items[0])
    layout = Layout.of(names, encoded_keys=True)
    reconciler = Reconciler(
        settings,
        rows,
        client,
        "check",
        report_time,
        fix=fix,
        dry_run=dry_run,
        on_drift=on_drift,
        on_newer=on_newer,
    )
    values = ([item.get(name) for name in names] for item in items)
    return sum(reconciler.batches(layout, values), ReconcileResult())
