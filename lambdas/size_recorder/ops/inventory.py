"""Backfill and check from an S3 Inventory report on one machine, at any bucket size.

An inventory report is a `manifest.json` naming data files (gzipped CSV, Parquet or ORC) that
list every object of the source bucket; S3 writes it daily or weekly, so nothing lists the
bucket. This module reads the manifest, then the data files in parallel (`workers` processes,
each with its own database connection), each streamed in chunks through `ops.reconcile`, the
code a reconcile Lambda runs per batch. Processes rather than threads: reading rows is Python
work, and threads take turns on one core for it. Worker processes hold no S3 client: each reads
its file through a URL this process signs for it, and hands the rows the report disagrees with
back here, where one client asks S3 about them (`_Run._in_workers` says why and what it costs).

Memory stays bounded by the workers: each holds one chunk, and a CSV file is read as it
arrives (gzip and csv over the response stream). Parquet and ORC need to seek, so each is
copied to a temporary file first and read a row group or stripe at a time, through pyarrow
(the `inventory` extra).

A run can stop at any time. Each chunk commits on its own; a data file is recorded as done in
a small state file once all its chunks are, and a run started again with the same state file
skips those files (the state names the manifest, by digest, and the options: it cannot resume
another run). A file interrupted halfway is read again from its start: fills and fixes only
touch rows still as they were read, so doing a chunk twice changes nothing. A complete run
removes its state file.

After the last file, a whole run does what needs the whole report: `check` finds the rows in
scope whose name the report lacks (the names it routed are kept in a temporary table) and
judges each as `ops.reconcile` judges a disagreeing row; `backfill` names the rows it left NULL.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import importlib
import io
import json
import multiprocessing
import os
import queue
import re
import signal
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from size_recorder.adapters import presigned, s3
from size_recorder.adapters.postgres.rows import RowsRead, RowStore
from size_recorder.core.config import Settings, Target
from size_recorder.core.scope import Scope, owns, scopes
from size_recorder.ops.backfill import Unfilled, left_null
from size_recorder.ops.check import Drift
from size_recorder.ops.reconcile import (
    CHUNK_ROWS,
    READ_FIELDS,
    InventoryError,
    Layout,
    Mode,
    NewerThanReport,
    Reconciler,
    ReconcileResult,
    field_name,
    route,
)

# `fileFormat` as S3 writes it.
FORMATS = ("CSV", "Parquet", "ORC")
# Names in a Parquet schema (`optional binary key (STRING);`) and an ORC one (`key:string`).
_PARQUET_FIELD = re.compile(r"(?:required|optional|repeated)\s+\w+\s+(\w+)")
_ORC_FIELD = re.compile(r"(\w+):")
EXTRA_HINT = "pip install 'size-recorder[inventory]'"
# Rows the final steps read per page (a page of names, then their HEADs).
_PAGE = 1000
# How often the parent wakes, when no worker has news, to notice Ctrl-C.
_TICK_S = 0.2
# How long a worker's URL for its data file stays valid. S3 checks a presigned URL when the
# request arrives, not while the response streams, and a URL is signed as its file is handed
# to an idle worker, so it need only outlive a worker's start-up; an hour leaves room for a
# machine under load. Temporary credentials cap it anyway: see `s3.url_signer`.
_URL_EXPIRES_S = 3600


@dataclass(frozen=True, slots=True)
class DataFile:
    key: str
    size: int  # bytes, as stored (compressed)


@dataclass(frozen=True, slots=True)
class Manifest:
    """An inventory report's manifest.json, checked."""

    url: str
    bucket: str  # where the data files are: the report's destination bucket
    source_bucket: str  # the bucket the report lists
    file_format: str  # one of FORMATS
    fields: tuple[str, ...]
    report_time: datetime  # creationTimestamp: when S3 took the report
    files: tuple[DataFile, ...]
    digest: str  # sha256 of the manifest as read

    @property
    def total_bytes(self) -> int:
        return sum(data_file.size for data_file in self.files)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key); InventoryError otherwise."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key:
        raise InventoryError(f"{url!r} is not an s3://BUCKET/KEY address of a manifest.json")
    return bucket, key


def read_manifest(client: Any, url: str) -> Manifest:
    """The manifest at `url`, checked; InventoryError when it is not an inventory manifest."""
    bucket, key = parse_s3_url(url)
    return parse_manifest(s3.read_object(client, bucket=bucket, key=key), url=url)


def parse_manifest(raw: bytes, *, url: str) -> Manifest:
    """Raises InventoryError (one line, naming `url`) for anything but an inventory manifest
    whose rows name Bucket, Key and Size."""

    def refuse(reason: str) -> InventoryError:
        return InventoryError(f"{url} is not an S3 Inventory manifest: {reason}")

    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise refuse("not JSON") from None
    if not isinstance(document, dict):
        raise refuse("not a JSON object")
    missing = [
        name
        for name in ("sourceBucket", "fileFormat", "fileSchema", "files", "creationTimestamp")
        if name not in document
    ]
    if missing:
        raise refuse(f"no {', '.join(missing)}")
    file_format = next((f for f in FORMATS if f.lower() == str(document["fileFormat"]).lower()), "")
    if not file_format:
        raise refuse(f"fileFormat {document['fileFormat']!r} is none of {', '.join(FORMATS)}")
    fields = _schema_fields(file_format, str(document["fileSchema"]))
    if not fields:
        raise refuse(f"fileSchema {document['fileSchema']!r} names no field")
    try:
        Layout.of(fields, encoded_keys=False)
    except InventoryError as exc:
        raise refuse(str(exc)) from None
    try:
        report_time = datetime.fromtimestamp(int(document["creationTimestamp"]) / 1000, UTC)
        files = tuple(DataFile(str(f["key"]), int(f.get("size", 0))) for f in document["files"])
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        raise refuse("creationTimestamp or files[] is malformed") from None
    destination = str(document.get("destinationBucket") or parse_s3_url(url)[0])
    return Manifest(
        url=url,
        bucket=destination.removeprefix("arn:aws:s3:::"),
        source_bucket=str(document["sourceBucket"]),
        file_format=file_format,
        fields=fields,
        report_time=report_time,
        files=files,
        digest=hashlib.sha256(raw).hexdigest(),
    )


def _schema_fields(file_format: str, schema: str) -> tuple[str, ...]:
    if file_format == "CSV":
        return tuple(name.strip() for name in schema.split(",") if name.strip())
    pattern = _PARQUET_FIELD if file_format == "Parquet" else _ORC_FIELD
    return tuple(pattern.findall(schema))


def require_reader(manifest: Manifest) -> None:
    """Raise InventoryError, naming the extra to install, when the report's format needs
    pyarrow and it is missing; before a run starts rather than in its first worker."""
    if manifest.file_format != "CSV":
        _pyarrow(manifest.file_format)


def _pyarrow(file_format: str) -> ModuleType:
    # Imported by name: pyarrow ships no type information, so its API is typed Any here.
    module = "pyarrow.parquet" if file_format == "Parquet" else "pyarrow.orc"
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InventoryError(
            f"reading a {file_format} inventory needs pyarrow: {EXTRA_HINT}"
        ) from None


@contextlib.contextmanager
def open_data_file(
    client: Any,
    manifest: Manifest,
    data_file: DataFile,
    *,
    on_bytes: Callable[[int], None],
    signed: presigned.SignedGet | None = None,
) -> Iterator[tuple[Layout, Iterator[Sequence[Any]]]]:
    """A data file's rows as they are read, with their layout; `on_bytes` receives the stored
    bytes as they arrive. With `signed` (a worker process) the file is read through that URL,
    and `client` is not used."""
    if manifest.file_format == "CSV":
        stream = (
            presigned.open_get(signed)
            if signed is not None
            else s3.open_object(client, bucket=manifest.bucket, key=data_file.key)
        )
        try:
            raw = io.BufferedReader(_Counted(stream, on_bytes), 1 << 20)
            text = (
                io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline="")
                if data_file.key.endswith(".gz")
                else io.TextIOWrapper(raw, encoding="utf-8", newline="")
            )
            yield Layout.of(manifest.fields, encoded_keys=True), csv.reader(text)
        finally:
            stream.close()
        return
    reader = _pyarrow(manifest.file_format)
    with tempfile.TemporaryFile(prefix="size-recorder-inventory-") as copy:
        if signed is not None:
            _copy(signed, into=copy, on_bytes=on_bytes)
        else:
            s3.download(
                client, bucket=manifest.bucket, key=data_file.key, into=copy, on_bytes=on_bytes
            )
        copy.seek(0)
        if manifest.file_format == "Parquet":
            parquet = reader.ParquetFile(copy)
            names = _read_columns(parquet.schema_arrow.names)
            batches = parquet.iter_batches(batch_size=CHUNK_ROWS, columns=names)
        else:
            orc = reader.ORCFile(copy)
            names = _read_columns(orc.schema.names)
            batches = (orc.read_stripe(i, columns=names) for i in range(orc.nstripes))
        yield Layout.of(names, encoded_keys=False), _batch_rows(batches)


def _copy(signed: presigned.SignedGet, *, into: IO[bytes], on_bytes: Callable[[int], None]) -> None:
    """One GET, streamed to the file (a client's download would use parallel ranged GETs)."""
    with presigned.open_get(signed) as stream:
        while block := stream.read(1 << 20):
            into.write(block)
            on_bytes(len(block))


def _read_columns(names: Sequence[str]) -> list[str]:
    return [name for name in names if field_name(name) in READ_FIELDS]


def _batch_rows(batches: Iterator[Any]) -> Iterator[Sequence[Any]]:
    for batch in batches:
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


class _Counted(io.RawIOBase):
    """A response stream that reports the bytes read from it."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self._stream = stream
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self._on_bytes(len(data))
        return len(data)


# --- the state file ----------------------------------------------------------------------------


def default_state_path(identity: dict[str, Any]) -> Path:
    """In the current directory, named after the manifest and the options, so the same command
    run again finds it."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return Path.cwd() / f".size-recorder-{identity['mode']}-{digest}.json"


def run_identity(
    manifest: Manifest, *, mode: Mode, prefix: str, fix: bool, dry_run: bool
) -> dict[str, Any]:
    """What a state file must match to be resumed: the same report and the same options."""
    return {
        "manifest": manifest.url,
        "digest": manifest.digest,
        "mode": mode,
        "prefix": prefix,
        "fix": fix,
        "dry_run": dry_run,
    }


@dataclass(slots=True)
class _State:
    """The data files finished so far and what each found, rewritten whole after each file
    (write, fsync, rename), so a crash leaves the previous version or the new one."""

    path: Path
    identity: dict[str, Any]
    done: dict[str, ReconcileResult] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, identity: dict[str, Any]) -> _State:
        if not path.exists():
            return cls(path, identity)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            found = document["identity"]
            done = {key: ReconcileResult.from_dict(v) for key, v in document["done"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InventoryError(f"{path} is not a state file of size-recorder") from None
        if found != identity:
            raise InventoryError(
                f"{path} is the state of another run ({found.get('mode')} of"
                f" {found.get('manifest')} with other options): remove it, or pass another --state"
            )
        return cls(path, identity, done)

    def finish(self, key: str, result: ReconcileResult) -> None:
        self.done[key] = result
        document = {
            "identity": self.identity,
            "done": {key: value.as_dict() for key, value in self.done.items()},
        }
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", encoding="utf-8") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# --- a run -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InventoryResult:
    mode: Mode
    fix: bool
    dry_run: bool
    manifest: Manifest
    totals: ReconcileResult  # this run and the earlier ones it resumed
    files_done: int  # data files finished, in this run or earlier ones
    files_resumed: int  # of those, finished by an earlier run
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        """The run reached the end and left nothing: no drift (check), no NULL row (backfill),
        and the report's objects matched rows."""
        if self.interrupted or self.totals.nothing_matched:
            return False
        if self.mode == "check":
            return self.totals.unrepaired == 0
        return self.totals.rows_not_in_report == 0 and self.totals.rows_null_after_delete == 0


@dataclass(frozen=True, slots=True)
class InventoryProgress:
    done_bytes: int  # data files' stored bytes read (files an earlier run finished count whole)
    total_bytes: int


def run_inventory(
    *,
    settings: Settings,
    rows: RowStore,
    client: Any,
    manifest: Manifest,
    mode: Mode,
    state_path: Path,
    prefix: str = "",
    fix: bool = False,
    dry_run: bool = False,
    workers: int = 1,
    chunk_rows: int = CHUNK_ROWS,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[InventoryProgress], None] | None = None,
    on_drift: Callable[[Drift], None] | None = None,
    on_newer: Callable[[NewerThanReport], None] | None = None,
    on_unfilled: Callable[[Unfilled], None] | None = None,
) -> InventoryResult:
    """Backfill or check (with `fix`, repair) the rows the report's objects name.

    With one worker the data files are read here, on `rows` and `client`. With more, each
    worker is a process of its own (its own connection and S3 client; Python holds one core
    per process), reading whole data files and sending what it finds here in order: the
    callbacks and `rows` (which keeps check's temporary tables) are used by this process only.
    An error in a worker stops the others at their next chunk and is raised, as InventoryError,
    once they have; the files finished before stay recorded in the state file.

    Raises `ScopeError` when no configured target covers the source bucket and prefix,
    InventoryError for a report or state file that cannot be read.
    """
    covered = scopes(settings, bucket=manifest.source_bucket, prefix=prefix)
    require_reader(manifest)
    identity = run_identity(manifest, mode=mode, prefix=prefix, fix=fix, dry_run=dry_run)
    run = _Run(
        job=_Job(settings, manifest, mode, prefix, fix, dry_run, chunk_rows),
        rows=rows,
        client=client,
        state=_State.load(state_path, identity),
        should_stop=should_stop,
        on_progress=on_progress or (lambda _: None),
        on_drift=on_drift or (lambda _: None),
        on_newer=on_newer or (lambda _: None),
        on_unfilled=on_unfilled or (lambda _: None),
    )
    return run.execute(covered, workers=workers)


@dataclass(frozen=True, slots=True)
class _Job:
    """What reading a data file needs; sent to each worker process."""

    settings: Settings
    manifest: Manifest
    mode: Mode
    prefix: str
    fix: bool
    dry_run: bool
    chunk_rows: int

    def reconciler(self, rows: RowStore, client: Any, **callbacks: Any) -> Reconciler:
        """The job's `Reconciler` on this process's connection and S3 client."""
        return Reconciler(
            self.settings,
            rows,
            client,
            self.mode,
            self.manifest.report_time,
            fix=self.fix,
            dry_run=self.dry_run,
            prefix=self.prefix,
            **callbacks,
        )


# What reading a data file reports, in order: ("bytes", count), ("drift", Drift),
# ("newer", NewerThanReport), ("reported", (Target, names)), in a worker process ("confirm",
# (key, Target, candidates)) for the parent to judge, and last ("done", (key, result or None
# for a names-only read, whether the file was read to its end)).
_Event = tuple[str, Any]
# Rows the report disagrees with, each with its object's bucket and key (`Reconciler.confirm`).
_Candidates = Sequence[tuple[RowsRead, str, str]]


def _read(
    job: _Job,
    data_file: DataFile,
    *,
    names_only: bool,
    rows: RowStore,
    client: Any,
    emit: Callable[[_Event], None],
    stopping: Callable[[], bool],
    signed: presigned.SignedGet | None = None,
    confirm_with: Callable[[Target, _Candidates], ReconcileResult] | None = None,
) -> None:
    """Read one data file in chunks, each committed before the next, and stop between two
    when `stopping` says so. `names_only`: only route it, for check's names (a file an earlier
    run finished). `signed` and `confirm_with`: see `open_data_file` and `Reconciler`."""
    read = [0]

    def count(size: int) -> None:
        read[0] += size

    reconciler = job.reconciler(
        rows,
        client,
        on_drift=lambda drift: emit(("drift", drift)),
        on_newer=lambda newer: emit(("newer", newer)),
        on_reported=(
            (lambda target, names: emit(("reported", (target, names))))
            if job.mode == "check"
            else None
        ),
        confirm_with=confirm_with,
    )
    total, complete = ReconcileResult(s3_requests=1), True  # the file's GET
    opened = open_data_file(client, job.manifest, data_file, on_bytes=count, signed=signed)
    with opened as (layout, values):
        if names_only:
            grouped = route(job.settings, layout, values, prefix=job.prefix, counts=Counter())
            for target, objects in grouped.items():
                emit(("reported", (target, list(objects))))
        else:
            for result in reconciler.batches(layout, values, chunk_rows=job.chunk_rows):
                total += result
                emit(("bytes", read[0]))
                read[0] = 0
                if stopping():
                    complete = False
                    break
    emit(("done", (data_file.key, None if names_only else total, complete)))


# This worker process's job, connection, event queue and stop event (`_start_worker`).
_worker: dict[str, Any] = {}


def _start_worker(job: _Job, events: Any, stop: Any) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and tells workers through
    # `stop`, so each ends its chunk and says so. SIGTERM keeps its default: it is how the pool
    # ends the other workers once one has died, and a worker ignoring it would hang the run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(job=job, events=events, stop=stop, rows=RowStore.from_settings(job.settings))


def _work(data_file: DataFile, names_only: bool, signed: presigned.SignedGet) -> None:
    """One data file, in a worker process, read through `signed`. Errors come back as
    InventoryError (one line, naming the file), which any process can unpickle."""
    emit: Callable[[_Event], None] = _worker["events"].put

    def hand_over(target: Target, candidates: _Candidates) -> ReconcileResult:
        emit(("confirm", (data_file.key, target, list(candidates))))
        return ReconcileResult()  # counted by the parent, which asks S3

    try:
        _read(
            _worker["job"],
            data_file,
            names_only=names_only,
            rows=_worker["rows"],
            client=None,
            emit=emit,
            stopping=_worker["stop"].is_set,
            signed=signed,
            confirm_with=hand_over,
        )
    except InventoryError:
        raise
    except Exception as exc:
        raise InventoryError(f"{data_file.key}: {exc}") from None


def _one_line(error: BaseException) -> BaseException:
    """A worker's error as the parent raises it: a worker process that died (killed, out of
    memory) leaves the pool broken, which says nothing about why."""
    if isinstance(error, BrokenProcessPool):
        return InventoryError(
            "a worker process ended without finishing its data file (killed, or out of memory?)"
        )
    return error


class _Run:
    """One run: reads the files (here or in worker processes), handles their events here."""

    def __init__(
        self,
        *,
        job: _Job,
        rows: RowStore,
        client: Any,
        state: _State,
        should_stop: Callable[[], bool],
        on_progress: Callable[[InventoryProgress], None],
        on_drift: Callable[[Drift], None],
        on_newer: Callable[[NewerThanReport], None],
        on_unfilled: Callable[[Unfilled], None],
    ) -> None:
        self.job = job
        self.rows = rows
        self.client = client
        self.state = state
        self.should_stop = should_stop
        self.on_progress = on_progress
        self.on_drift = on_drift
        self.on_newer = on_newer
        self.on_unfilled = on_unfilled
        self._bytes = 0
        self._finished = 0  # files read to their end in this run
        self._partial = ReconcileResult()  # what files stopped halfway did
        self._done: set[str] = set()  # files whose last event arrived
        self._failed: set[str] = set()  # files whose rows could not be judged here
        self._requests = 0  # S3 requests of no one file (the workers' HeadBucket)
        self._confirmed: dict[str, ReconcileResult] = {}  # by file: workers' rows judged here
        # Judges rows here: those workers send, and at the end those the report lacks.
        self._judge = job.reconciler(rows, client, on_drift=on_drift, on_newer=on_newer)

    def execute(self, covered: Sequence[Scope], *, workers: int) -> InventoryResult:
        manifest, state = self.job.manifest, self.state
        resumed = [f for f in manifest.files if f.key in state.done]
        pending = [f for f in manifest.files if f.key not in state.done]
        self._bytes = sum(f.size for f in resumed)
        work = [(f, False) for f in pending]
        if self.job.mode == "check":
            self.rows.start_reported()
            # check needs every routed name: files an earlier run finished are read again.
            work += [(f, True) for f in resumed]
        if workers == 1:
            self._here(work)
        else:
            self._in_workers(work, workers)
        # the manifest, re-reads, the workers' HeadBucket
        requests = 1 + (len(resumed) if self.job.mode == "check" else 0) + self._requests
        totals = sum(state.done.values(), self._partial + ReconcileResult(s3_requests=requests))
        interrupted = self._finished < len(pending)
        if not interrupted:
            totals += self._finish(covered, totals)
            state.remove()
        return InventoryResult(
            self.job.mode,
            self.job.fix,
            self.job.dry_run,
            manifest,
            totals,
            len(state.done),
            len(resumed),
            interrupted=interrupted,
        )

    def _here(self, work: Sequence[tuple[DataFile, bool]]) -> None:
        for data_file, names_only in work:
            if self.should_stop():
                return
            _read(
                self.job,
                data_file,
                names_only=names_only,
                rows=self.rows,
                client=self.client,
                emit=self._handle,
                stopping=self.should_stop,
            )

    def _in_workers(self, work: Sequence[tuple[DataFile, bool]], workers: int) -> None:
        """Each data file in a worker process; their events handled here as they come. The
        queue is bounded, so workers wait for this process rather than fill its memory."""
        # Spawned, not forked from this process, which holds sockets. A forkserver with this
        # module and boto3 preloaded was measured here (check of 200,000 rows, 4 workers, the
        # whole process tree's PSS): 291-294 MB against spawn's 296-298 MB, and it saves each
        # worker's imports (1.4 CPU s) once per run, not per row. Not worth what it costs: its
        # workers inherit the environment of its first start (credentials, endpoint), and
        # their CPU time escapes wait4 (the benchmark's CPU figure).
        #
        # Workers never import boto3 (its modules and an S3 client were ~21 MB of each one's
        # PSS): each reads its file through a URL signed here, and sends the rows the report
        # disagrees with back here, where this process's client HEADs them (and `fix` sets
        # their sizes on this process's connection) as their event arrives. Measured with the
        # benchmark's own figure (`BENCH_INVENTORY_OBJECTS=1000000 python -m
        # benchmarks.inventory`, check of 1,000,000 rows, 4 workers, the whole tree's PSS):
        # 301-304 MB before, 215-218 MB after, and 18-19 CPU s against 21-24; at 10,000,000
        # rows on the idle machine, 219 MB against 310 MB (docs/benchmarks.md). What it costs:
        # those HEADs are this process's, where each worker sent its own (with one row in 100
        # differing, 2,000 HEADs to moto sent one at a time: 33-67 s against 29-49 s, no clear
        # difference on a loaded machine), so they go out `reconcile.HEADS_AT_ONCE` at a time;
        # and one HeadBucket per run (`s3.url_signer`). A URL is signed as its file goes to an idle
        # worker, not all up front, so a run that outlives temporary credentials still signs
        # with fresh ones.
        context = multiprocessing.get_context("spawn")
        events = context.Queue(maxsize=4 * workers)
        stop = context.Event()
        error: BaseException | None = None
        sign = s3.url_signer(self.client, bucket=self.job.manifest.bucket, expires_s=_URL_EXPIRES_S)
        self._requests += 1  # its HeadBucket
        waiting = deque(work)
        with ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self.job, events, stop),
        ) as pool:
            awaiting: dict[Future[None], str] = {}
            while waiting or awaiting:
                reading = sum(key not in self._done for key in awaiting.values())
                while waiting and reading < workers and error is None and not stop.is_set():
                    data_file, names_only = waiting.popleft()
                    try:
                        signed = sign(data_file.key)
                        awaiting[pool.submit(_work, data_file, names_only, signed)] = data_file.key
                    except BrokenProcessPool as exc:
                        error = _one_line(exc)
                    except Exception as exc:
                        error = InventoryError(f"{data_file.key}: {exc}")
                    reading += 1
                if error is not None or stop.is_set():
                    waiting.clear()
                try:
                    self._handle(events.get(timeout=_TICK_S))
                except queue.Empty:
                    pass
                except InventoryError as exc:
                    error = error or exc
                for future in [f for f in awaiting if f.done()]:
                    # A file's "done" event may still be on its way after its task returned.
                    if future.cancelled() or awaiting[future] in self._done:
                        del awaiting[future]
                    elif (failed := future.exception()) is not None:
                        error = error or _one_line(failed)
                        del awaiting[future]
                if error is not None or self.should_stop():
                    stop.set()
                    for future in awaiting:
                        future.cancel()
        if error is not None:
            raise error

    def _handle(self, event: _Event) -> None:
        kind, value = event
        if kind == "drift":
            self.on_drift(value)
        elif kind == "newer":
            self.on_newer(value)
        elif kind == "reported":
            self.rows.add_reported(*value)
        elif kind == "confirm":
            key, target, candidates = value
            try:
                found = self._judge.confirm(target, candidates)
            except Exception as exc:
                # Ends the run as the worker's own error would have, the file left unfinished.
                self._failed.add(key)
                raise InventoryError(f"{key}: {exc}") from None
            self._confirmed[key] = self._confirmed.get(key, ReconcileResult()) + found
        elif kind == "bytes":
            self._bytes += value
            self.on_progress(InventoryProgress(self._bytes, self.job.manifest.total_bytes))
        else:
            key, result, complete = value
            self._done.add(key)
            if result is None or key in self._failed:
                return
            result += self._confirmed.pop(key, ReconcileResult())
            if complete:
                self.state.finish(key, result)
                self._finished += 1
            else:
                self._partial += result

    def _finish(self, covered: Sequence[Scope], totals: ReconcileResult) -> ReconcileResult:
        """What needs the whole report, once every file is done."""
        job = self.job
        if job.mode == "backfill":
            left = left_null(
                job.settings,
                self.rows,
                covered,
                filled=totals.filled,
                dry_run=job.dry_run,
                absent="not in report",
                page_size=_PAGE,
                on_unfilled=self.on_unfilled,
            )
            return ReconcileResult(
                rows_not_in_report=left.absent, rows_null_after_delete=left.after_delete
            )
        self.rows.collect_unreported(covered)
        result = ReconcileResult()
        for scope in covered:
            for page in self.rows.unreported_pages(scope, page_size=_PAGE):
                candidates = [
                    (read, scope.bucket, scope.key(read.name))
                    for read in page
                    if owns(job.settings, scope, read.name)
                ]
                found = ReconcileResult(rows_not_in_report=sum(r.rows for r, _, _ in candidates))
                result += found + self._judge.confirm(scope.target, candidates)
        return result
