"""The recorder as a long-running SQS consumer, for running outside Lambda and for local use.

It behaves like the Lambda event source with ReportBatchItemFailures: acknowledged messages are
deleted, failed ones are left for SQS to redeliver (so the queue's redrive policy moves them to
the DLQ), and unmatched ones come back after a short, growing delay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from size_recorder.adapters import sqs
from size_recorder.adapters.telemetry import report
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder


@dataclass(slots=True)
class WorkerStats:
    batches: int = 0
    messages: int = 0
    deleted: int = 0
    failed: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)


def run_worker(
    *,
    recorder: Recorder,
    client: Any,
    queue_url: str,
    logger: Logger,
    batch_size: int = 10,
    wait_seconds: int = 20,
    exit_when_empty: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[WorkerStats], None] | None = None,
) -> WorkerStats:
    """Consume until stopped (or, with `exit_when_empty`, until a receive returns nothing)."""
    stats = WorkerStats()
    while not should_stop():
        received = sqs.receive(
            client, queue_url, max_messages=batch_size, wait_seconds=wait_seconds
        )
        if not received:
            if exit_when_empty:
                break
            continue
        batch = recorder.record([Message(m.message_id, m.body, m.receive_count) for m in received])
        report(batch, logger)
        # Pair by position, not by message id: SQS may hand out one message twice in a batch,
        # and each copy has its own receipt handle to delete.
        pairs = list(zip(received, batch.messages, strict=True))
        sqs.delete(client, queue_url, [r.receipt_handle for r, m in pairs if m.acknowledged])
        delays = recorder.retry_delays(batch)
        retries = [
            (r.receipt_handle, delays[m.message_id]) for r, m in pairs if m.message_id in delays
        ]
        if retries:
            sqs.change_visibility(client, queue_url, retries)
        stats.batches += 1
        stats.messages += len(received)
        stats.deleted += len(batch.acknowledged)
        stats.failed += len(batch.failed)
        stats.outcomes.update(batch.counts())
        if on_batch is not None:
            on_batch(stats)
    return stats
