"""Figure 8: the reading side, the reason the project exists.

A page of documents is serialized to JSON (id, title, file, size), as a DRF list endpoint does.
Baseline: each size is an S3 HEAD through boto3 against moto's server, which is what
django-storages' `FieldFile.size` does (one `head_object` per file, one client per thread).
Figure: the size is read from the `size_bytes` column the recorder filled, in the same query
that fetches the rows. Both read the same rows from the same Postgres; time is the median of
alternating runs, calls are cProfile's count for one page.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from benchmarks.calls import profile
from benchmarks.context import Bench, median, repeat_alternating
from benchmarks.environment import KEY_PREFIX, Documents, object_name
from benchmarks.report import Row

FIGURE = "8 reading a page"


def _size(index: int) -> int:
    return 100 + index * 37


def _fill(bench: Bench, documents: Documents, page: int) -> tuple[Any, str]:
    """Upload `page` objects and record their sizes in their rows; (s3 client, bucket)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=bench.moto())
    bucket = f"bench-reading-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    for i in range(page):
        s3.put_object(Bucket=bucket, Key=KEY_PREFIX + object_name(i), Body=b"x" * _size(i))
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {documents.qualified} SET size_bytes = 100 + (id - 1) * 37 WHERE id <= %s",
            (page,),
        )
    return s3, bucket


def run(bench: Bench) -> list[Row]:
    page = bench.sizes.page
    with bench.documents(rows=page * 10) as documents, psycopg.connect(documents.url) as conn:
        s3, bucket = _fill(bench, documents, page)
        select = (
            f"SELECT id, title, file, size_bytes FROM {documents.qualified} ORDER BY id LIMIT %s"
        )

        def serialize_with_head() -> str:
            rows = conn.execute(select, (page,)).fetchall()
            documents_page = [
                {
                    "id": id_,
                    "title": title,
                    "file": file,
                    "size": s3.head_object(Bucket=bucket, Key=KEY_PREFIX + file)["ContentLength"],
                }
                for id_, title, file, _ in rows
            ]
            return json.dumps(documents_page)

        def serialize_from_column() -> str:
            rows = conn.execute(select, (page,)).fetchall()
            documents_page = [
                {"id": id_, "title": title, "file": file, "size": size}
                for id_, title, file, size in rows
            ]
            return json.dumps(documents_page)

        if serialize_with_head() != serialize_from_column():
            raise RuntimeError("the recorded sizes differ from S3's: the comparison is void")

        def ready(call: Callable[[], str]) -> Callable[[], Callable[[], str]]:
            return lambda: call

        column_s, head_s = repeat_alternating(
            bench.sizes, ready(serialize_from_column), ready(serialize_with_head)
        )
        column_calls = profile(serialize_from_column).total_calls  # type: ignore[attr-defined]
        head_calls = profile(serialize_with_head).total_calls  # type: ignore[attr-defined]
    return [
        Row(
            figure=FIGURE,
            measure=f"page of {page}, time",
            value=median(column_s) * 1000,
            unit="ms",
            higher_is_better=False,
            baseline=median(head_s) * 1000,
            baseline_label="S3 HEAD each",
            note=f"median of {len(column_s)} / {len(head_s)} pages",
        ),
        Row(
            figure=FIGURE,
            measure=f"page of {page}, Python function calls",
            value=float(column_calls),
            unit="calls",
            higher_is_better=False,
            baseline=float(head_calls),
            baseline_label="S3 HEAD each",
            note="cProfile, one page",
        ),
    ]
