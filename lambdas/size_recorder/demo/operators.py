"""The operator tools the demo runs after the event path: DLQ replay and backfill.

They are the same functions `size-recorder replay` and `size-recorder backfill` call, given the
demo's clients and settings instead of the environment, so the demo shows what an operator's
command does, not a re-enactment of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.core.config import Settings
from size_recorder.ops.backfill import backfill as fill_null_sizes
from size_recorder.ops.replay import replay_dlq as replay


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What one operator command did, in the words of its own summary."""

    command: str  # the equivalent command line, shown to the user
    summary: str


def replay_dlq(*, sqs: Any, dlq_url: str) -> ToolRun:
    """`size-recorder replay --dlq-url URL`: redrive the DLQ to its source queue.

    The default mode, as an operator would run it once the row exists: the messages go back to
    the queue whose redrive policy names the DLQ, and the running worker records them.
    """
    result = replay(client=sqs, dlq_url=dlq_url)
    failing = "; ".join(m.reason for m in result.still_failing)
    return ToolRun(
        command=f"size-recorder replay --dlq-url {dlq_url}",
        summary=f"{result.moved} of {result.in_dlq_before} message(s) moved back to the queue "
        f"({result.method})" + (f"; still failing: {failing}" if failing else ""),
    )


def backfill(*, settings: Settings, s3: Any, bucket: str, prefix: str) -> ToolRun:
    """`size-recorder backfill --bucket B --prefix P`: fill NULL sizes from an S3 listing."""
    rows = RowStore.from_settings(settings)
    try:
        result = fill_null_sizes(
            settings=settings, rows=rows, client=s3, bucket=bucket, prefix=prefix
        )
    finally:
        rows.close()
    return ToolRun(
        command=f"size-recorder backfill --bucket {bucket} --prefix {prefix}",
        summary=f"{result.filled} row(s) filled from {result.objects_listed} listed objects "
        f"with {result.s3_requests} S3 request(s), once",
    )
