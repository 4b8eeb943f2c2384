"""The demo's pure parts: its scenario, the timings it changes, how it reports a wrong row, what
`--keep` prints."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from rich.console import Console

from size_recorder import constants as c
from size_recorder.demo.database import FILE_MAX_LENGTH, DocumentsTable
from size_recorder.demo.display import print_access, print_report
from size_recorder.demo.endpoints import Endpoints
from size_recorder.demo.pipeline import DEMO_TIMINGS, DEPLOYED_TIMINGS, Pipeline
from size_recorder.demo.runner import Access, DemoReport, RowReport, median_p95
from size_recorder.demo.scenario import FILES, MULTIPART_PART_SIZE, Story, Upload


def test_demo_timings_keep_the_deployed_receive_count_and_name_every_override() -> None:
    assert DEMO_TIMINGS.max_receive_count == c.DEFAULT_MAX_RECEIVE_COUNT
    overridden = {name for name, _, _ in DEMO_TIMINGS.overrides(DEPLOYED_TIMINGS)}
    assert overridden == {"queue visibility timeout", "unmatched retry delay"}
    assert DEPLOYED_TIMINGS.overrides(DEPLOYED_TIMINGS) == []


def test_scenario_names_fit_djangos_file_field_and_are_unique() -> None:
    names = [f.name for f in FILES]
    assert len(set(names)) == len(names)
    assert all(len(name) <= FILE_MAX_LENGTH for name in names)


def test_scenario_covers_every_story_and_awkward_key() -> None:
    assert {f.story for f in FILES} == set(Story)
    assert {f.upload for f in FILES} == set(Upload)
    names = " ".join(f.name for f in FILES)
    assert " " in names
    assert "+" in names
    assert not names.isascii()
    (multipart,) = (f for f in FILES if f.upload is Upload.MULTIPART)
    assert multipart.size > MULTIPART_PART_SIZE  # at least two parts
    for copy in (f for f in FILES if f.upload is Upload.COPY):
        (source,) = (f for f in FILES if f.name == copy.copy_of)
        assert (source.size, source.story) == (copy.size, Story.ROW_FIRST)


def test_median_p95_uses_the_nearest_rank() -> None:
    assert median_p95([]) == (None, None)
    assert median_p95([0.3, 0.1, 0.2]) == (0.2, 0.3)
    assert median_p95([float(n) for n in range(1, 101)]) == (50.5, 95.0)


def test_report_names_each_wrong_row_and_is_not_ok() -> None:
    right = RowReport(
        "a.pdf", Story.ROW_FIRST, Upload.PUT, 10, 10, "recorded", "row → PutObject → recorded", 0.1
    )
    wrong = dataclasses.replace(right, name="b.pdf", size=None, filled_by="not filled")
    report = DemoReport(
        table="public.documents_document",
        rows=(right, wrong),
        outcomes=(),
        latency_median_s=0.1,
        latency_p95_s=0.1,
        head_requests_filefield=2,
        head_requests_now=0,
        overrides=(),
        worker=(),
        problems=("'b.pdf': size_bytes is None, expected 10",),
        elapsed_s=1.0,
    )
    console = Console(record=True, width=120)

    print_report(console, report)

    assert not report.ok
    text = console.export_text()
    assert "✗ 1 row(s) are wrong" in text
    assert "'b.pdf': size_bytes is None, expected 10" in text
    assert report.as_dict()["rows"][1] == {
        **report.as_dict()["rows"][1],
        "ok": False,
        "size_bytes": None,
    }


def test_keep_exports_what_the_runbook_reads_and_names_the_endpoint_in_every_aws_command() -> None:
    endpoints = Endpoints("http://127.0.0.1:4566", "postgresql://demo@/app", False, Path("/w"))
    queue = "http://127.0.0.1:4566/123456789012/demo-events"
    pipeline = Pipeline("demo-bucket", queue, "arn:q", queue.replace("events", "dlq"), "arn:d")
    table = DocumentsTable(endpoints.database_url, "public")
    recorder = {
        c.ENV_DATABASE_URL: endpoints.database_url,
        c.ENV_TABLE: table.qualified,
        c.ENV_KEY_PREFIX: "media/",
    }
    console = Console(record=True, width=80)

    print_access(console, Access(endpoints, pipeline, table, recorder))

    lines = console.export_text().splitlines()
    exported = dict(
        shlex.split(line)[1].partition("=")[::2] for line in lines if line.startswith("export ")
    )
    assert (
        exported.items()
        >= {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "QUEUE_URL": queue,
            "DLQ_URL": pipeline.dlq_url,
            "BUCKET": "demo-bucket",
            "WORKER_LOG": "/w/worker.log",
            **recorder,
        }.items()
    )
    aws = [line for line in lines if line.startswith("aws ") or " aws " in line]
    assert len(aws) == 4
    assert all('aws --endpoint-url "$AWS_ENDPOINT_URL" ' in line for line in aws)
