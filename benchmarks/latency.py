"""Figure 6: upload-to-row latency through the local pipeline.

moto's server stands in for S3 and SQS, set up as `size-recorder demo` and the stack set them up
(versioned, encrypted bucket; queue with its DLQ; `s3:ObjectCreated:*` under the prefix), and
`size-recorder worker`'s loop (`run_worker`, batches of up to 10, 1 s long polls) records the
sizes in Postgres. Objects are uploaded at a steady rate from another thread; an object's
latency runs from its `put_object` returning (S3 has it and emits the event) to the commit of the
transaction that wrote its row. Median and p99 (nearest rank) over every upload.

The baseline is the same pipeline with a consumer that only receives and deletes: the transport's
own floor (moto's notification, the long poll, the delete), so the difference is the recorder's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.context import Bench, median, percentile
from benchmarks.environment import KEY_PREFIX, environ, object_name, quiet_powertools
from benchmarks.report import Row
from size_recorder.core.events import ObjectCreated, parse_body
from size_recorder.core.outcomes import BatchResult, MessageResult, Outcome, RecordResult
from size_recorder.core.recorder import Message, Recorder

FIGURE = "6 upload → row"
DRAIN_TIMEOUT_S = 60


class StampingRecorder:
    """Wraps the recorder the worker calls; notes when each S3 key's row was committed."""

    def __init__(self, inner: Recorder, stamps: dict[str, float]) -> None:
        self._inner = inner
        self._stamps = stamps

    def record(self, messages: Sequence[Message], **kwargs: Any) -> BatchResult:
        batch = self._inner.record(messages, **kwargs)
        done = time.perf_counter()
        for message in batch.messages:
            for result in message.records:
                if result.outcome is Outcome.RECORDED and result.key is not None:
                    self._stamps.setdefault(result.key, done)
        return batch

    def retry_delays(self, batch: BatchResult) -> dict[str, int]:
        return self._inner.retry_delays(batch)


class TransportOnly:
    """The baseline consumer: reads the keys from the messages and acknowledges them all."""

    def __init__(self, stamps: dict[str, float]) -> None:
        self._stamps = stamps

    def record(self, messages: Sequence[Message], **kwargs: Any) -> BatchResult:
        done = time.perf_counter()
        results = []
        for message in messages:
            for entry in parse_body(message.body):
                if isinstance(entry, ObjectCreated):
                    self._stamps.setdefault(entry.key, done)
            result = RecordResult(Outcome.SKIPPED, "baseline: transport only")
            results.append(MessageResult(message.message_id, message.receive_count, (result,)))
        return BatchResult(tuple(results))

    def retry_delays(self, batch: BatchResult) -> dict[str, int]:
        return {}


def _pipeline(endpoint: str) -> tuple[Any, Any, str, str]:
    """(s3 client, sqs client, bucket, queue url): the demo's pipeline, as the stack builds it."""
    import boto3

    from size_recorder.demo.pipeline import DEPLOYED_TIMINGS, create_pipeline, notify

    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    pipeline = create_pipeline(s3, sqs, timings=DEPLOYED_TIMINGS)
    notify(s3, pipeline, prefix=KEY_PREFIX)
    return s3, sqs, pipeline.bucket, pipeline.queue_url


def _latencies(
    bench: Bench, make_consumer: Callable[[dict[str, float]], Any], *, offset: int
) -> list[float]:
    """Seconds from upload to commit (or to receipt, for the baseline) for every upload."""
    from aws_lambda_powertools import Logger

    from size_recorder.ops.worker import run_worker

    s3, sqs, bucket, url = _pipeline(bench.moto())
    stamps: dict[str, float] = {}
    stop = threading.Event()
    logger = Logger(service="size-recorder-bench")
    worker = threading.Thread(
        target=run_worker,
        kwargs={
            "recorder": make_consumer(stamps),
            "client": sqs,
            "queue_url": url,
            "logger": logger,
            "batch_size": 10,
            "wait_seconds": 1,
            "should_stop": stop.is_set,
        },
        daemon=True,
    )
    with quiet_powertools(logger):
        worker.start()
        uploaded = _upload(bench, s3, bucket, offset)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while len(stamps) < len(uploaded) and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join(timeout=5)
    missing = [key for key in uploaded if key not in stamps]
    if missing:
        raise RuntimeError(f"{len(missing)} uploads never reached their row, e.g. {missing[:3]}")
    return [stamps[key] - uploaded[key] for key in uploaded]


def _upload(bench: Bench, s3: Any, bucket: str, offset: int) -> dict[str, float]:
    """Upload at a steady rate; S3 key → when its put_object returned."""
    uploaded: dict[str, float] = {}
    interval = 1 / bench.sizes.upload_rate_per_s
    next_at = time.perf_counter()
    for i in range(bench.sizes.uploads):
        key = KEY_PREFIX + object_name(offset + i)
        time.sleep(max(0.0, next_at - time.perf_counter()))
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * (1 + i % 4096))
        uploaded[key] = time.perf_counter()
        next_at += interval
    return uploaded


def run(bench: Bench) -> list[Row]:
    from size_recorder.adapters.wiring import build_recorder, postgres_store
    from size_recorder.core.config import Settings

    uploads = bench.sizes.uploads
    with bench.documents(rows=2 * uploads) as documents, environ(documents.recorder_env()):
        settings = Settings.from_env(documents.recorder_env())
        store = postgres_store(settings)
        recorder = build_recorder(settings, store)
        store.verify()  # connected and checked before the first upload, as a warm worker is
        try:
            recorded = _latencies(
                bench, lambda stamps: StampingRecorder(recorder, stamps), offset=0
            )
        finally:
            store.close()
        floor = _latencies(bench, TransportOnly, offset=uploads)
    note = f"{uploads:,} uploads at {bench.sizes.upload_rate_per_s:g}/s"
    return [
        Row(
            figure=FIGURE,
            measure="upload → row committed, median",
            value=median(recorded) * 1000,
            unit="ms",
            higher_is_better=False,
            baseline=median(floor) * 1000,
            baseline_label="transport only",
            note=note,
        ),
        Row(
            figure=FIGURE,
            measure="upload → row committed, p99",
            value=percentile(recorded, 0.99) * 1000,
            unit="ms",
            higher_is_better=False,
            baseline=percentile(floor, 0.99) * 1000,
            baseline_label="transport only",
            note=note,
        ),
    ]
