"""The demo itself: the real pipeline on this machine, driven the way an app and its users drive it.

`open_demo()` starts the endpoints, creates the table, bucket, queue and DLQ, and stops every
thread and process on exit. `Demo.run()` plays the scenario (`scenario.FILES`) while the worker,
the same `run_worker` and `Recorder` core that runs in Lambda, consumes the queue in a thread;
it returns a `DemoReport` that says, row by row, whether the size the app reads is right.

Progress goes to a `DemoObserver` (the CLI's rich display); nothing here prints.
"""

from __future__ import annotations

import functools
import io
import logging
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from aws_lambda_powertools import Logger

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.adapters.postgres.store import PostgresStore
from size_recorder.adapters.wiring import postgres_store
from size_recorder.core.config import Settings
from size_recorder.core.events import EventParseError, ObjectCreated, parse_body
from size_recorder.core.outcomes import BatchResult, Outcome
from size_recorder.core.recorder import Message, Recorder, SizeStore
from size_recorder.demo import operators
from size_recorder.demo.database import SEQUENCER_COLUMN, DocumentsTable, SizeWatcher
from size_recorder.demo.endpoints import Endpoints, interrupts_deferred, local_endpoints
from size_recorder.demo.operators import ToolRun
from size_recorder.demo.pipeline import (
    DEMO_TIMINGS,
    DEPLOYED_TIMINGS,
    Pipeline,
    Timings,
    create_pipeline,
    notify,
)
from size_recorder.demo.scenario import (
    FILES,
    KEY_PREFIX,
    LATE_ROW_DELAY_S,
    MULTIPART_PART_SIZE,
    DemoFile,
    Story,
    Upload,
    files_with,
)
from size_recorder.ops.worker import WorkerStats, run_worker

# Generous bounds for a loaded 2-core machine; the whole demo normally takes ~15 s.
EVENT_PATH_TIMEOUT_S = 20.0
DLQ_TIMEOUT_S = 30.0
REPAIR_TIMEOUT_S = 15.0
POLL_S = 0.05
# The worker's long poll; also how long stopping it can take.
WORKER_WAIT_S = 1
# Powertools configures a service's logger once per process; a separate name keeps the demo's
# file logging from hijacking (or being hijacked by) a `size-recorder worker` in the same process.
WORKER_LOG_SERVICE = "size-recorder-demo"
WORKER_LOG_FILE = "worker.log"


class DemoObserver(Protocol):
    """Where the demo reports progress: one step at a time, then a line saying how it went."""

    def step(self, title: str) -> None: ...

    def done(self, detail: str) -> None: ...


class DemoFailure(RuntimeError):
    """The demo could not run to the end (a thread died, a wait timed out)."""


@dataclass(frozen=True, slots=True)
class FileStatus:
    """One file's progress, for the live display."""

    name: str
    story: Story
    status: str
    done: bool


@dataclass(frozen=True, slots=True)
class RowReport:
    name: str
    story: Story
    upload: Upload
    expected: int
    size: int | None
    filled_by: str  # recorded | unmatched → recorded | replay | backfill | DLQ | not filled
    path: str  # what happened, in order: "PutObject → 2 unmatched → row → recorded"
    latency_s: float | None

    @property
    def ok(self) -> bool:
        return self.size == self.expected


@dataclass(frozen=True, slots=True)
class DemoReport:
    """Everything the demo shows at the end, and whether every row holds the right size."""

    table: str
    rows: tuple[RowReport, ...]
    outcomes: tuple[tuple[str, int], ...]
    latency_median_s: float | None
    latency_p95_s: float | None
    head_requests_filefield: int  # S3 requests to list these rows' sizes with FileField.size
    head_requests_now: int  # ... and reading size_bytes instead
    overrides: tuple[tuple[str, str, str], ...]
    worker: tuple[tuple[str, int], ...]
    problems: tuple[str, ...]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON values, for `--json`."""
        return {
            "ok": self.ok,
            "table": self.table,
            "rows": [
                {
                    "file": r.name,
                    "story": str(r.story),
                    "upload": str(r.upload),
                    "expected": r.expected,
                    "size_bytes": r.size,
                    "filled_by": r.filled_by,
                    "path": r.path,
                    "latency_s": _seconds(r.latency_s),
                    "ok": r.ok,
                }
                for r in self.rows
            ],
            "outcomes": dict(self.outcomes),
            "latency_median_s": _seconds(self.latency_median_s),
            "latency_p95_s": _seconds(self.latency_p95_s),
            "s3_requests_to_read_sizes": {
                "FileField.size": self.head_requests_filefield,
                "size_bytes": self.head_requests_now,
            },
            "demo_overrides": [
                {"setting": s, "deployed": d, "demo": v} for s, d, v in self.overrides
            ],
            "worker": dict(self.worker),
            "problems": list(self.problems),
            "elapsed_s": _seconds(self.elapsed_s),
        }


# The names docs/operations.md's commands use for the stack's outputs, and the worker's log.
ENV_QUEUE_URL = "QUEUE_URL"
ENV_DLQ_URL = "DLQ_URL"
ENV_BUCKET = "BUCKET"
ENV_WORKER_LOG = "WORKER_LOG"


@dataclass(frozen=True, slots=True)
class Access:
    """How to reach the running endpoints with other tools (`--keep`)."""

    endpoints: Endpoints
    pipeline: Pipeline
    table: DocumentsTable
    recorder_environment: Mapping[str, str]

    @property
    def worker_log(self) -> Path:
        return worker_log_path(self.endpoints)

    def environment(self) -> dict[str, str]:
        """What `--keep` exports: with these set, the runbook's commands paste as printed."""
        return {
            **self.endpoints.aws_environment(),
            **self.recorder_environment,
            ENV_QUEUE_URL: self.pipeline.queue_url,
            ENV_DLQ_URL: self.pipeline.dlq_url,
            ENV_BUCKET: self.pipeline.bucket,
            ENV_WORKER_LOG: str(self.worker_log),
        }


@contextmanager
def open_demo(
    *,
    database_url: str | None,
    observer: DemoObserver,
    timings: Timings = DEMO_TIMINGS,
) -> Iterator[Demo]:
    """Start everything the demo needs; stop and delete all of it on exit, whatever happened."""
    started = time.monotonic()
    observer.step("Starting moto (S3 + SQS) and Postgres on this machine")
    with local_endpoints(database_url=database_url) as endpoints:
        where = (
            "embedded, in a temporary directory"
            if endpoints.embedded_postgres
            else "from DATABASE_URL"
        )
        observer.done(f"moto at {endpoints.aws_endpoint_url}; Postgres {where}")
        demo = Demo(endpoints, observer, timings, started)
        try:
            demo.setup()
            yield demo
        finally:
            with interrupts_deferred():
                demo.close()


@dataclass(slots=True)
class _State:
    """What the threads have seen so far; guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    uploaded_at: dict[str, float] = field(default_factory=dict)
    row_at: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # by S3 key
    skipped: int = 0
    in_dlq: set[str] = field(default_factory=set)
    repaired_by: dict[str, str] = field(default_factory=dict)  # name → "replay" | "backfill"


class _ObservedRecorder(Recorder):
    """The production `Recorder`, telling the demo what became of each record it handled."""

    def __init__(
        self, settings: Settings, store: SizeStore, on_batch: Callable[[BatchResult], None]
    ) -> None:
        super().__init__(settings, store)
        self._on_batch = on_batch

    def record(
        self, messages: Sequence[Message], *, remaining_ms: Callable[[], int] | None = None
    ) -> BatchResult:
        batch = super().record(messages, remaining_ms=remaining_ms)
        self._on_batch(batch)
        return batch


# One handler for the process, re-pointed at each run's log file: see WORKER_LOG_SERVICE.
_WORKER_LOG_HANDLER: logging.StreamHandler[TextIO] = logging.StreamHandler(io.StringIO())


class Demo:
    """The running demo; build it with `open_demo()`."""

    def __init__(
        self, endpoints: Endpoints, observer: DemoObserver, timings: Timings, started: float
    ) -> None:
        self.endpoints = endpoints
        self.timings = timings
        self._observer = observer
        self._started = started
        self._s3 = endpoints.client("s3")
        self._sqs = endpoints.client("sqs")
        self._state = _State()
        self._scheduled: list[tuple[float, Callable[[], None]]] = []
        self._table = DocumentsTable.fresh(
            endpoints.database_url, embedded=endpoints.embedded_postgres
        )
        self._pipeline: Pipeline | None = None
        self._settings: Settings | None = None
        self._store: PostgresStore | None = None
        self._watcher: SizeWatcher | None = None
        self._worker: threading.Thread | None = None
        self._worker_stop = threading.Event()
        self._worker_stats: WorkerStats | None = None
        self._worker_error: BaseException | None = None
        self._log_file: TextIO | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def setup(self) -> None:
        self._observer.step("Creating documents_document, the bucket, its queue and DLQ")
        self._table.create()
        self._pipeline = create_pipeline(self._s3, self._sqs, timings=self.timings)
        self._settings = Settings.from_env(self.recorder_environment())
        # The recorder built here is replaced by the observed one the worker gets; the store,
        # which holds the connection, is shared.
        self._store = postgres_store(self._settings)
        self._store.verify()
        self._watcher = SizeWatcher(self._table).start()
        self._observer.done(
            f"table {self._table.qualified}; bucket {self._pipeline.bucket}; "
            f"maxReceiveCount {self.timings.max_receive_count}, "
            f"DLQ retention {c.DLQ_RETENTION_DAYS} days"
        )

    def close(self) -> None:
        """Stop the worker and the watcher and drop what the demo created on a foreign server."""
        self._worker_stop.set()
        if self._worker is not None:
            self._worker.join(timeout=WORKER_WAIT_S + 5)
        if self._watcher is not None:
            self._watcher.stop()
        if self._store is not None:
            self._store.close()
        if self._log_file is not None:
            _WORKER_LOG_HANDLER.setStream(io.StringIO())
            self._log_file.close()
        self._table.drop()

    def recorder_environment(self) -> dict[str, str]:
        """The variables the Lambda, `size-recorder worker`, replay and backfill would get."""
        return {
            c.ENV_DATABASE_URL: self.endpoints.database_url,
            c.ENV_TABLE: self._table.qualified,
            c.ENV_KEY_PREFIX: KEY_PREFIX,
            c.ENV_SEQUENCER_COLUMN: SEQUENCER_COLUMN,
            c.ENV_UNMATCHED_RETRY_BASE_S: str(self.timings.unmatched_retry_base_s),
            c.ENV_UNMATCHED_RETRY_MAX_S: str(self.timings.unmatched_retry_max_s),
        }

    def access(self) -> Access:
        return Access(
            self.endpoints, self._require_pipeline(), self._table, self.recorder_environment()
        )

    # -- the scenario ----------------------------------------------------------------------

    def run(self) -> DemoReport:
        pipeline = self._require_pipeline()
        before = files_with(Story.BEFORE_RECORDER)
        self._observer.step(f"Uploading {len(before)} files the bucket held before the recorder")
        self._table.insert(f.name for f in before)
        for demo_file in before:
            self._upload(demo_file)
        self._observer.done(f"{len(before)} rows with size_bytes NULL; no events were sent")

        self._observer.step("Turning on ObjectCreated notifications; starting the worker")
        notify(self._s3, pipeline, prefix=KEY_PREFIX)
        self._start_worker()
        self._observer.done(
            "S3 → SQS for media/*; the worker runs size_recorder.ops.worker.run_worker in a thread"
        )

        row_first = files_with(Story.ROW_FIRST)
        self._observer.step(f"The app saves {len(row_first)} rows, then the browser uploads")
        for demo_file in row_first:
            self._table.insert([demo_file.name])
            self._mark_row(demo_file.name)
            self._upload(demo_file)
        self._observer.done("spaces, '+', non-ASCII names, a multipart upload and a CopyObject")

        late = files_with(Story.ROW_LATE)
        self._observer.step(
            f"Uploading before the row exists; the row follows {LATE_ROW_DELAY_S} s later"
        )
        for demo_file in late:
            self._upload(demo_file)
            self._schedule(LATE_ROW_DELAY_S, functools.partial(self._insert_late, demo_file))
        orphans = files_with(Story.ROW_AFTER_DLQ)
        for demo_file in orphans:
            self._upload(demo_file)
        self._observer.done(
            f"{len(late)} late row, {len(orphans)} upload whose row never comes (yet)"
        )

        event_path = row_first + late
        self._observer.step("The worker records the sizes from the events")
        self._wait(lambda: self._all_seen(event_path), EVENT_PATH_TIMEOUT_S, "the event path")
        self._observer.done(self._latency_line(event_path))

        self._repair(
            "size-recorder backfill: rows that existed before the recorder",
            before,
            "backfill",
            lambda: operators.backfill(
                settings=self._require_settings(),
                s3=self._s3,
                bucket=pipeline.bucket,
                prefix=KEY_PREFIX,
            ),
        )
        self._show_dlq(pipeline, orphans)
        self._table.insert(f.name for f in orphans)
        for demo_file in orphans:
            self._mark_row(demo_file.name)
        self._repair(
            "The app finally saves that row; size-recorder replay repairs it",
            orphans,
            "replay",
            lambda: operators.replay_dlq(sqs=self._sqs, dlq_url=pipeline.dlq_url),
        )
        return self._report()

    def _repair(
        self, title: str, files: Sequence[DemoFile], how: str, tool: Callable[[], ToolRun]
    ) -> None:
        """Run an operator tool and wait until the app can read every size it should fill."""
        self._observer.step(title)
        run = tool()
        self._wait(lambda: self._all_seen(files), REPAIR_TIMEOUT_S, f"{how} ({run.summary})")
        with self._state.lock:
            self._state.repaired_by.update((f.name, how) for f in files)
        self._observer.done(f"{run.command}: {run.summary}")

    def _show_dlq(self, pipeline: Pipeline, orphans: Sequence[DemoFile]) -> None:
        deliveries = self.timings.max_receive_count
        self._observer.step(
            f"Waiting for the row-less upload to reach the DLQ ({deliveries} deliveries)"
        )
        self._wait(
            lambda: sqs.visible_count(self._sqs, pipeline.dlq_url) >= len(orphans),
            DLQ_TIMEOUT_S,
            "the DLQ",
        )
        keys = self._peek(pipeline.dlq_url)
        with self._state.lock:
            self._state.in_dlq.update(f.name for f in orphans if f.key in keys)
        listed = ", ".join(repr(k) for k in sorted(keys))
        self._observer.done(f"{len(keys)} message(s) in the DLQ: {listed}")

    # -- uploads and rows -----------------------------------------------------------------

    def _upload(self, demo_file: DemoFile) -> None:
        bucket = self._require_pipeline().bucket
        if demo_file.upload is Upload.COPY:
            assert demo_file.copy_of is not None
            self._s3.copy_object(
                Bucket=bucket,
                Key=demo_file.key,
                CopySource={"Bucket": bucket, "Key": KEY_PREFIX + demo_file.copy_of},
            )
        elif demo_file.upload is Upload.MULTIPART:
            self._multipart(bucket, demo_file)
        else:
            self._s3.put_object(Bucket=bucket, Key=demo_file.key, Body=_body(demo_file.size))
        with self._state.lock:
            self._state.uploaded_at[demo_file.name] = time.monotonic()

    def _multipart(self, bucket: str, demo_file: DemoFile) -> None:
        upload_id = self._s3.create_multipart_upload(Bucket=bucket, Key=demo_file.key)["UploadId"]
        parts = []
        for number, start in enumerate(range(0, demo_file.size, MULTIPART_PART_SIZE), start=1):
            length = min(MULTIPART_PART_SIZE, demo_file.size - start)
            etag = self._s3.upload_part(
                Bucket=bucket,
                Key=demo_file.key,
                UploadId=upload_id,
                PartNumber=number,
                Body=_body(length),
            )["ETag"]
            parts.append({"ETag": etag, "PartNumber": number})
        self._s3.complete_multipart_upload(
            Bucket=bucket, Key=demo_file.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def _insert_late(self, demo_file: DemoFile) -> None:
        self._table.insert([demo_file.name])
        self._mark_row(demo_file.name)

    def _mark_row(self, name: str) -> None:
        with self._state.lock:
            self._state.row_at[name] = time.monotonic()

    def _peek(self, queue_url: str) -> set[str]:
        """The keys in a queue's messages, left visible for whoever reads the queue next."""
        received = sqs.receive(self._sqs, queue_url, max_messages=10, wait_seconds=0)
        sqs.change_visibility(self._sqs, queue_url, [(m.receipt_handle, 0) for m in received])
        keys: set[str] = set()
        for message in received:
            try:
                entries = parse_body(message.body)
            except EventParseError:
                continue
            keys.update(e.key for e in entries if isinstance(e, ObjectCreated))
        return keys

    # -- the worker -------------------------------------------------------------------------

    def _start_worker(self) -> None:
        settings = self._require_settings()
        store = self._store
        if store is None:
            raise DemoFailure("the recorder's store was not opened")
        recorder = _ObservedRecorder(settings, store, self._on_batch)
        self._log_file = worker_log_path(self.endpoints).open("w", encoding="utf-8")
        _WORKER_LOG_HANDLER.setStream(self._log_file)
        logger = Logger(service=WORKER_LOG_SERVICE, logger_handler=_WORKER_LOG_HANDLER)
        client = self.endpoints.client("sqs")  # the worker's own, as a separate process would
        queue_url = self._require_pipeline().queue_url

        def work() -> None:
            try:
                run_worker(
                    recorder=recorder,
                    client=client,
                    queue_url=queue_url,
                    logger=logger,
                    wait_seconds=WORKER_WAIT_S,
                    should_stop=self._worker_stop.is_set,
                    on_batch=self._on_worker_stats,
                )
            except Exception as exc:  # surfaced by _wait as the reason the demo stopped
                self._worker_error = exc

        self._worker = threading.Thread(target=work, name="size-recorder-worker", daemon=True)
        self._worker.start()

    def _on_batch(self, batch: BatchResult) -> None:
        with self._state.lock:
            for message in batch.messages:
                for record in message.records:
                    if record.key is None:
                        self._state.skipped += record.outcome is Outcome.SKIPPED
                        continue
                    self._state.outcomes.setdefault(record.key, []).append(record.outcome)

    def _on_worker_stats(self, stats: WorkerStats) -> None:
        self._worker_stats = stats

    # -- waiting ----------------------------------------------------------------------------

    def _schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        self._scheduled.append((time.monotonic() + delay_s, action))

    def _wait(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Run scheduled app actions until `condition` holds; DemoFailure after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._run_due()
            self._check_threads()
            if condition():
                return
            if time.monotonic() > deadline:
                raise DemoFailure(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(POLL_S)

    def _run_due(self) -> None:
        now = time.monotonic()
        due = [action for at, action in self._scheduled if at <= now]
        self._scheduled = [(at, action) for at, action in self._scheduled if at > now]
        for action in due:
            action()

    def _check_threads(self) -> None:
        if self._worker_error is not None:
            raise DemoFailure(f"the worker stopped: {self._worker_error!r}")
        if self._watcher is not None and self._watcher.error is not None:
            raise DemoFailure(f"reading the table failed: {self._watcher.error!r}")

    def _all_seen(self, files: Sequence[DemoFile]) -> bool:
        seen = self._require_watcher().seen()
        return all(f.name in seen for f in files)

    # -- reporting --------------------------------------------------------------------------

    def status(self) -> tuple[FileStatus, ...]:
        """Each file's progress right now (called from the display's refresh thread)."""
        seen = self._watcher.seen() if self._watcher is not None else {}
        with self._state.lock:
            return tuple(self._file_status(f, seen) for f in FILES)

    def worker_log_tail(self, lines: int = 5) -> list[str]:
        """The worker's last log lines (Powertools JSON), to explain a failure."""
        path = worker_log_path(self.endpoints)
        if self._log_file is None or not path.exists():
            return []
        self._log_file.flush()
        return path.read_text(encoding="utf-8").splitlines()[-lines:]

    def deliveries(self) -> int:
        stats = self._worker_stats
        return stats.messages if stats is not None else 0

    def _file_status(
        self, demo_file: DemoFile, seen: Mapping[str, tuple[float, int]]
    ) -> FileStatus:
        state = self._state
        name = demo_file.name
        unmatched = state.outcomes.get(demo_file.key, []).count(Outcome.UNMATCHED)
        uploaded = state.uploaded_at.get(name)
        if name in seen:
            text = f"{seen[name][1]:,} bytes"
            if name in state.repaired_by:
                text += f", by {state.repaired_by[name]}"
            elif uploaded is not None:
                text += f" after {seen[name][0] - uploaded:.2f} s"
            return FileStatus(name, demo_file.story, text, True)
        if name in state.in_dlq:
            text = f"in the DLQ after {unmatched} unmatched deliveries"
        elif unmatched:
            retry = self.timings.unmatched_retry_base_s
            text = f"no row yet: unmatched x{unmatched}, retried in {retry} s"
        elif uploaded is not None and demo_file.story is Story.BEFORE_RECORDER:
            text = "in the bucket; row has size NULL (no event)"
        elif uploaded is not None:
            text = "uploaded; event on its way"
        elif name in state.row_at:
            text = "row saved; uploading"
        else:
            text = "waiting"
        return FileStatus(name, demo_file.story, text, False)

    def _latency_line(self, files: Sequence[DemoFile]) -> str:
        latencies = self._latencies(files)
        median, p95 = median_p95(list(latencies.values()))
        if median is None or p95 is None:
            return "no sizes recorded"
        return f"{len(latencies)} rows filled; upload → row median {median:.2f} s, p95 {p95:.2f} s"

    def _latencies(self, files: Sequence[DemoFile]) -> dict[str, float]:
        seen = self._require_watcher().seen()
        with self._state.lock:
            uploaded = dict(self._state.uploaded_at)
        return {
            f.name: seen[f.name][0] - uploaded[f.name]
            for f in files
            if f.name in seen and f.name in uploaded
        }

    def _report(self) -> DemoReport:
        sizes = self._table.sizes()
        event_path = files_with(Story.ROW_FIRST) + files_with(Story.ROW_LATE)
        latencies = self._latencies(event_path)
        with self._state.lock:
            state = self._state
            rows = tuple(
                self._row_report(f, sizes.get(f.name), latencies.get(f.name)) for f in FILES
            )
            counts = Counter(_path(state.outcomes.get(f.key, []), f.name, state) for f in FILES)
            skipped = state.skipped
            in_dlq = len(state.in_dlq)
        median, p95 = median_p95(list(latencies.values()))
        stats = self._worker_stats
        problems = tuple(
            f"{r.name!r}: size_bytes is {r.size}, expected {r.expected}" for r in rows if not r.ok
        )
        return DemoReport(
            table=self._table.qualified,
            rows=rows,
            outcomes=(
                ("recorded on the first delivery", counts["recorded"]),
                ("skipped (s3:TestEvent)", skipped),
                ("unmatched, then recorded", counts["unmatched → recorded"]),
                ("sent to the DLQ", in_dlq),
                ("repaired by replay", counts["replay"]),
                ("filled by backfill", counts["backfill"]),
            ),
            latency_median_s=median,
            latency_p95_s=p95,
            head_requests_filefield=len(rows),
            head_requests_now=0,
            overrides=tuple(self.timings.overrides(DEPLOYED_TIMINGS)),
            worker=(
                ("messages received", stats.messages if stats else 0),
                ("acknowledged", stats.deleted if stats else 0),
                ("left for redelivery", stats.failed if stats else 0),
            ),
            problems=problems,
            elapsed_s=time.monotonic() - self._started,
        )

    def _row_report(
        self,
        demo_file: DemoFile,
        size: int | None,
        latency: float | None,
    ) -> RowReport:
        state = self._state
        outcomes = state.outcomes.get(demo_file.key, [])
        filled_by = _path(outcomes, demo_file.name, state)
        steps = [] if demo_file.story is Story.BEFORE_RECORDER else [str(demo_file.upload)]
        unmatched = outcomes.count(Outcome.UNMATCHED)
        if unmatched:
            steps.append(f"{unmatched} unmatched")
        if demo_file.name in state.in_dlq:
            steps.append("DLQ")
        row_at = state.row_at.get(demo_file.name)
        uploaded_at = state.uploaded_at.get(demo_file.name)
        if row_at is not None and uploaded_at is not None:
            steps.insert(0 if row_at < uploaded_at else len(steps), "row")
        if demo_file.story is Story.BEFORE_RECORDER:
            steps.append("before the recorder")
        steps.append(filled_by.removeprefix("unmatched → "))
        return RowReport(
            name=demo_file.name,
            story=demo_file.story,
            upload=demo_file.upload,
            expected=demo_file.size,
            size=size,
            filled_by=filled_by,
            path=" → ".join(steps),
            latency_s=latency,
        )

    # -- helpers ----------------------------------------------------------------------------

    def _require_pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise DemoFailure("the pipeline was not created")
        return self._pipeline

    def _require_settings(self) -> Settings:
        if self._settings is None:
            raise DemoFailure("the recorder was not configured")
        return self._settings

    def _require_watcher(self) -> SizeWatcher:
        if self._watcher is None:
            raise DemoFailure("the table watcher was not started")
        return self._watcher


def worker_log_path(endpoints: Endpoints) -> Path:
    """Where the worker's Powertools JSON lines go: gone with the rest of the demo's files."""
    return endpoints.workdir / WORKER_LOG_FILE


def _path(outcomes: Sequence[Outcome], name: str, state: _State) -> str:
    """How a row got its size: the first delivery, a retry, the DLQ and replay, or backfill."""
    if name in state.repaired_by:
        return state.repaired_by[name]
    if name in state.in_dlq:
        return "DLQ"
    if Outcome.RECORDED in outcomes:
        return "recorded" if outcomes[0] is Outcome.RECORDED else "unmatched → recorded"
    return "not filled"


def median_p95(values: list[float]) -> tuple[float | None, float | None]:
    """Median and nearest-rank 95th percentile (with a handful of samples, the slowest one)."""
    if not values:
        return None, None
    ordered = sorted(values)
    rank = max(1, -(-95 * len(ordered) // 100))
    return statistics.median(ordered), ordered[rank - 1]


def _seconds(value: float | None) -> float | None:
    """Milliseconds are all the 50 ms polling can tell apart."""
    return None if value is None else round(value, 3)


def _body(size: int) -> bytes:
    return b"\0" * size
