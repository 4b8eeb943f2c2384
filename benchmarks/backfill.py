"""Figure 7: backfill cost, `--method list` vs `--method head`, against moto's server.

`backfill_rows` rows (100,000) with NULL sizes, and one object per row in a moto bucket. The
objects are seeded straight into moto's in-process backend (over HTTP that alone would take
minutes); everything measured goes over HTTP to moto's server, through `size_recorder.ops.backfill`
exactly as `size-recorder backfill` calls it. S3 requests are the tool's own count.

`list` runs to completion. `head` makes one HEAD per NULL row, ~3-6 ms each against moto here,
so it runs for `head_sample` rows (5,000) and its wall time and requests are extrapolated
linearly to all rows; the note says so. Sizes are reset to NULL between the two.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from benchmarks.context import Bench
from benchmarks.environment import KEY_PREFIX, Documents, object_name
from benchmarks.report import Row

FIGURE = "7 backfill"


def _seed(bench: Bench, rows: int) -> str:
    """A bucket holding one object per row, put into moto's backend directly; its name."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = f"bench-backfill-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=bench.moto()).create_bucket(Bucket=bucket)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for i in range(rows):
        backend.put_object(bucket, KEY_PREFIX + object_name(i), b"x" * (1 + i % 997))
    return bucket


def _run(
    documents: Documents, client: Any, bucket: str, method: str, *, stop_after: int | None = None
) -> tuple[Any, float, int]:
    """(result, seconds, rows looked at) of one backfill run."""
    from size_recorder.adapters.postgres.rows import RowStore
    from size_recorder.core.config import Settings
    from size_recorder.ops.backfill import BackfillProgress, backfill

    settings = Settings.from_env(documents.recorder_env())
    rows = RowStore.from_settings(settings)
    seen = [0]

    def progress(p: BackfillProgress) -> None:
        seen[0] = p.done

    def should_stop() -> bool:
        return stop_after is not None and seen[0] >= stop_after

    started = time.perf_counter()
    try:
        result = backfill(
            settings=settings,
            rows=rows,
            client=client,
            bucket=bucket,
            prefix=KEY_PREFIX,
            method=method,
            should_stop=should_stop,
            on_progress=progress,
        )
    finally:
        rows.close()
    return result, time.perf_counter() - started, seen[0]


def run(bench: Bench) -> list[Row]:
    import boto3

    total = bench.sizes.backfill_rows
    sample = min(bench.sizes.head_sample, total)
    with bench.documents(rows=total) as documents:
        bucket = _seed(bench, total)
        client = boto3.client("s3", endpoint_url=bench.moto())
        listed, list_s, _ = _run(documents, client, bucket, "list")
        if listed.filled != total:
            raise RuntimeError(f"list filled {listed.filled} of {total} rows")
        documents.clear_sizes()
        headed, head_s, looked_at = _run(
            documents, client, bucket, "head", stop_after=sample if sample < total else None
        )
    scale = total / looked_at if looked_at else 1.0
    head_requests, head_total_s = headed.s3_requests * scale, head_s * scale
    extrapolated = f"head: {looked_at:,} rows measured, scaled x{scale:g}" if scale != 1 else ""
    return [
        Row(
            figure=FIGURE,
            measure=f"S3 requests, {total:,} NULL rows",
            value=float(listed.s3_requests),
            unit="requests",
            higher_is_better=False,
            baseline=head_requests,
            baseline_label="--method head",
            note=f"--method list; {extrapolated}".rstrip("; "),
        ),
        Row(
            figure=FIGURE,
            measure=f"wall time, {total:,} NULL rows",
            value=list_s,
            unit="s",
            higher_is_better=False,
            baseline=head_total_s,
            baseline_label="--method head",
            note=f"--method list; {extrapolated}".rstrip("; "),
        ),
    ]
