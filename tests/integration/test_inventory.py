"""`size-recorder backfill --inventory` and `check --inventory`: S3 Inventory reports as the
source, against moto's S3 and the real Postgres."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from size_recorder import constants as c
from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.core.config import Settings
from size_recorder.core.recorder import Message, Recorder
from size_recorder.ops.inventory import InventoryResult, read_manifest, run_inventory
from size_recorder.ops.reconcile import InventoryError
from tests.integration.inventories import (
    Listed,
    put_manifest,
    release_held_back,
    write_inventory,
)
from tests.integration.pipeline import PREFIX
from tests.integration.reports import run_json, run_text
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env

SEQUENCED = {c.ENV_SEQUENCER_COLUMN: "size_sequencer"}


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """State files go to the current directory by default: keep them in the test's own."""
    monkeypatch.chdir(tmp_path)


def put(bucket: str, objects: dict[str, int]) -> None:
    client = boto3.client("s3")
    for name, size in objects.items():
        client.put_object(Bucket=bucket, Key=PREFIX + name, Body=b"x" * size)


def listed(objects: dict[str, int]) -> list[Listed]:
    return [Listed(PREFIX + name, size) for name, size in objects.items()]


def run_ops(
    table: DocumentsTable,
    url: str,
    *,
    mode: str = "check",
    client: Any = None,
    env: dict[str, str] | None = None,
    **options: Any,
) -> InventoryResult:
    """`run_inventory` as the CLI calls it, on this table, with a state file in the cwd."""
    settings = Settings.from_env(recorder_env(table, **(env or {})))
    client = client or s3.s3_client()
    rows = RowStore.from_settings(settings)
    try:
        return run_inventory(
            settings=settings,
            rows=rows,
            client=client,
            manifest=read_manifest(client, url),
            mode=mode,  # type: ignore[arg-type]
            state_path=Path("state.json"),
            **options,
        )
    finally:
        rows.close()


# --- backfill ------------------------------------------------------------------------------------


def test_backfill_from_a_csv_inventory_fills_null_rows(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = {"uploads/a.pdf": 10, "uploads/b.pdf": 20, "uploads/recorded.pdf": 30}
    operator_env.insert("uploads/a.pdf", "uploads/b.pdf")
    operator_env.insert("uploads/recorded.pdf", size=31)  # a size the recorder wrote: kept
    url = write_inventory(bucket, listed(objects), files=2)

    code, unfilled, summary = run_json(capsys, "backfill", "--inventory", url)

    assert operator_env.sizes() == {
        "uploads/a.pdf": 10,
        "uploads/b.pdf": 20,
        "uploads/recorded.pdf": 31,
    }
    assert (code, unfilled, summary["filled"], summary["objects_matched"]) == (0, [], 2, 3)
    assert (summary["method"], summary["data_files_done"], summary["complete"]) == (
        "inventory",
        2,
        True,
    )
    assert not list(Path.cwd().iterdir())  # a complete run leaves no state file


def test_backfill_from_an_inventory_decodes_keys_as_s3_encodes_them(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    name = 'uploads/année 2024+final, "v2".pdf'
    operator_env.insert(name)
    url = write_inventory(bucket, listed({name: 7}))

    code, _, _ = run_json(capsys, "backfill", "--inventory", url)

    assert (code, operator_env.sizes()) == (0, {name: 7})


def test_backfill_from_an_inventory_leaves_rows_null_after_a_delete_and_names_the_rest(
    bucket: str,
    operator_env: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(c.ENV_SEQUENCER_COLUMN, "size_sequencer")
    operator_env.insert("uploads/deleted.pdf", sequencer="0B")  # a delete the report may predate
    operator_env.insert("uploads/not-listed.pdf")
    url = write_inventory(bucket, listed({"uploads/deleted.pdf": 10}))

    code, unfilled, summary = run_json(capsys, "backfill", "--inventory", url)

    assert operator_env.sizes() == {"uploads/deleted.pdf": None, "uploads/not-listed.pdf": None}
    assert {(u["reason"], u["key"]) for u in unfilled} == {
        ("null_after_delete", PREFIX + "uploads/deleted.pdf"),
        ("not_in_report", PREFIX + "uploads/not-listed.pdf"),
    }
    assert (summary["rows_null_after_delete"], summary["rows_not_in_report"], code) == (1, 1, 1)


def test_backfill_from_an_inventory_with_several_workers_fills_every_file(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(40)}
    operator_env.insert(*objects)
    url = write_inventory(bucket, listed(objects), files=5)

    code, _, summary = run_json(capsys, "backfill", "--inventory", url, "--workers", "3")

    assert (code, summary["filled"], summary["workers"]) == (0, 40, 3)
    assert operator_env.sizes() == objects


def test_backfill_dry_run_from_an_inventory_changes_nothing(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    operator_env.insert("uploads/a.pdf", "uploads/gone.pdf")
    url = write_inventory(bucket, listed({"uploads/a.pdf": 3}))

    code, _, summary = run_json(capsys, "backfill", "--inventory", url, "--dry-run")

    assert (summary["would_fill"], summary["rows_not_in_report"], code) == (1, 1, 1)
    assert operator_env.sizes() == {"uploads/a.pdf": None, "uploads/gone.pdf": None}


# --- check ---------------------------------------------------------------------------------------


@pytest.fixture
def drifted(bucket: str, operator_env: DocumentsTable) -> str:
    """Rows of each kind against a report taken after the uploads; the report's address."""
    objects = {"uploads/ok.pdf": 10, "uploads/edited.pdf": 20, "uploads/never-recorded.pdf": 30}
    put(bucket, objects)
    operator_env.insert("uploads/ok.pdf", size=10)
    operator_env.insert("uploads/edited.pdf", size=999)
    operator_env.insert("uploads/deleted.pdf", size=40)
    operator_env.insert("uploads/never-recorded.pdf")
    return write_inventory(bucket, listed(objects))


def test_check_from_an_inventory_reports_each_kind_of_drift(
    drifted: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, drift, summary = run_json(capsys, "check", "--inventory", drifted)

    assert {(d["kind"], d["key"], d["recorded"], d["actual"]) for d in drift} == {
        ("differs", "media/uploads/edited.pdf", 999, 20),
        ("gone", "media/uploads/deleted.pdf", 40, None),
        ("still_null", "media/uploads/never-recorded.pdf", None, 30),
    }
    assert (summary["rows_not_in_report"], summary["objects_matched"], code) == (1, 3, 1)
    assert operator_env.sizes()["uploads/edited.pdf"] == 999  # reporting changes nothing


def test_check_fix_from_an_inventory_repairs_sizes_that_differ(
    drifted: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, drift, summary = run_json(capsys, "check", "--inventory", drifted, "--fix")

    assert [d["fix"] for d in drift if d["kind"] == "differs"] == ["fixed"]
    assert operator_env.sizes() == {
        "uploads/ok.pdf": 10,
        "uploads/edited.pdf": 20,
        "uploads/deleted.pdf": 40,
        "uploads/never-recorded.pdf": None,
    }
    assert (summary["fixed"], code) == (1, 1)


def test_worker_processes_read_and_check_their_files_without_importing_boto3(
    bucket: str,
    operator_env: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # GIVEN boto3 and botocore that refuse to load in any process started from now on: spawned
    # workers take this process's sys.path, where this process has them loaded already
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(4)}
    put(bucket, objects)
    for name, size in objects.items():
        operator_env.insert(name, size=size)
    operator_env.insert("uploads/edited.pdf", size=999)  # the HEAD that judges it: the parent's
    put(bucket, {"uploads/edited.pdf": 20})
    url = write_inventory(bucket, listed({**objects, "uploads/edited.pdf": 20}), files=2)
    for package in ("boto3", "botocore"):
        (tmp_path / "no-aws" / package).mkdir(parents=True)
        (tmp_path / "no-aws" / package / "__init__.py").write_text(
            f"raise ImportError('{package} imported in a worker process')\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path / "no-aws"))

    code, drift, summary = run_json(capsys, "check", "--inventory", url, "--fix", "--workers", "2")

    # THEN the workers read both files, and the row that differs is judged and fixed
    assert [(d["kind"], d["fix"]) for d in drift] == [("differs", "fixed")]
    assert (summary["data_files_done"], summary["objects_matched"], code) == (2, 5, 0)
    assert operator_env.sizes() == {**objects, "uploads/edited.pdf": 20}


def test_check_from_an_inventory_skips_noncurrent_versions_and_delete_markers(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"uploads/a.pdf": 20})
    operator_env.insert("uploads/a.pdf", size=20)
    operator_env.insert("uploads/b.pdf", size=7)  # its current version is a delete marker
    operator_env.insert("")  # a blank FileField: never sized by a folder marker
    url = write_inventory(
        bucket,
        [
            Listed(PREFIX + "uploads/a.pdf", 5, latest=False),
            Listed(PREFIX + "uploads/a.pdf", 20),
            Listed(PREFIX + "uploads/b.pdf", 7, latest=False),
            Listed(PREFIX + "uploads/b.pdf", None, delete_marker=True),
            Listed(PREFIX, 0),
            Listed(PREFIX + "uploads/", 0),
        ],
        versioned=True,
    )

    code, drift, summary = run_json(capsys, "check", "--inventory", url, "--fix")

    assert code == 1  # b.pdf is gone
    assert (
        summary["objects_not_latest"],
        summary["objects_delete_markers"],
        summary["objects_folder_markers"],
    ) == (2, 1, 2)
    assert [(d["kind"], d["key"]) for d in drift] == [("gone", PREFIX + "uploads/b.pdf")]
    assert operator_env.sizes() == {"uploads/a.pdf": 20, "uploads/b.pdf": 7, "": None}


def test_an_object_newer_than_the_report_is_not_called_gone(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a report taken an hour ago, and since then an upload recorded in its row
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    put(bucket, {"uploads/new.pdf": 30})
    operator_env.insert("uploads/new.pdf", size=30)
    operator_env.insert("uploads/lost.pdf", size=40)  # no object, then or now
    url = write_inventory(bucket, [], taken=an_hour_ago)

    code, items, summary = run_json(capsys, "check", "--inventory", url)

    # THEN only the row whose object S3 does not have is gone; the newer one is left
    assert [(i["type"], i.get("kind"), i["key"]) for i in items] == [
        ("drift", "gone", PREFIX + "uploads/lost.pdf"),
        ("newer_than_report", None, PREFIX + "uploads/new.pdf"),
    ]
    assert (summary["rows_object_gone"], summary["rows_newer_than_report"]) == (1, 1)
    assert (summary["rows_not_in_report"], code) == (2, 1)


def test_check_fix_from_an_inventory_leaves_an_object_overwritten_after_the_report(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a report an hour old saying 20 bytes, and since then an overwrite whose event the
    # recorder wrote (30 bytes)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    put(bucket, {"uploads/a.pdf": 30})
    operator_env.insert("uploads/a.pdf", size=30)
    url = write_inventory(bucket, listed({"uploads/a.pdf": 20}), taken=an_hour_ago)

    code, _, summary = run_json(capsys, "check", "--inventory", url, "--fix")

    # THEN the report's older size is never written over the newer one
    assert operator_env.sizes() == {"uploads/a.pdf": 30}
    assert (summary["rows_newer_than_report"], summary["rows_differing"], code) == (1, 0, 0)


class HeadThenUpload:
    """An S3 client whose HEAD answers, and then an upload's event is recorded: the event lands
    between the check's read of the row and its fix."""

    def __init__(self, client: Any, upload: Callable[[], None]) -> None:
        self._client = client
        self._upload = upload

    def head_object(self, **kwargs: Any) -> Any:
        response = self._client.head_object(**kwargs)
        self._upload()
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_check_fix_from_an_inventory_never_overwrites_a_row_changed_since_it_was_read(
    bucket: str, operator_env: DocumentsTable, make_recorder: Callable[[dict[str, str]], Recorder]
) -> None:
    env = recorder_env(operator_env, **SEQUENCED)
    put(bucket, {"uploads/a.pdf": 20})
    operator_env.insert("uploads/a.pdf", size=999, sequencer="0A")
    url = write_inventory(bucket, listed({"uploads/a.pdf": 20}))
    recorder = make_recorder(env)

    def upload() -> None:
        put(bucket, {"uploads/a.pdf": 30})
        batch = recorder.record([Message("m1", s3_body(PREFIX + "uploads/a.pdf", 30, "0B"))])
        assert batch.messages[0].acknowledged

    client = HeadThenUpload(s3.s3_client(), upload)
    result = run_ops(operator_env, url, client=client, env=SEQUENCED, fix=True)

    assert operator_env.row("uploads/a.pdf") == (30, "0B")
    assert (result.totals.fixed, result.totals.rows_changed_since_read) == (0, 1)
    assert not result.complete


def test_check_fix_from_an_inventory_leaves_two_rows_of_one_file_once_an_event_changed_one(
    bucket: str, operator_env: DocumentsTable, make_recorder: Callable[[dict[str, str]], Recorder]
) -> None:
    """Two rows name one file: the first right (20), the second drifted (999). Between the
    check's read and its fix an upload of 999 bytes is recorded on both, so the first now holds
    what the second was read with; the fix must leave both, not give them the older 20."""
    env = recorder_env(operator_env)
    put(bucket, {"uploads/a.pdf": 20})
    operator_env.insert("uploads/a.pdf", size=20)
    operator_env.insert("uploads/a.pdf", size=999)
    url = write_inventory(bucket, listed({"uploads/a.pdf": 20}))
    recorder = make_recorder(env)

    def upload() -> None:
        put(bucket, {"uploads/a.pdf": 999})
        batch = recorder.record([Message("m1", s3_body(PREFIX + "uploads/a.pdf", 999, None))])
        assert batch.messages[0].acknowledged

    client = HeadThenUpload(s3.s3_client(), upload)
    result = run_ops(operator_env, url, client=client, fix=True)

    assert operator_env.sizes_of("uploads/a.pdf") == [999, 999]
    assert (result.totals.fixed, result.totals.rows_changed_since_read) == (0, 1)


def test_check_from_an_inventory_calls_a_row_null_after_a_delete_still_null_if_s3_has_it(
    bucket: str,
    operator_env: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A delete was recorded, yet S3 has the object (an older version made current again).
    monkeypatch.setenv(c.ENV_SEQUENCER_COLUMN, "size_sequencer")
    put(bucket, {"uploads/back.pdf": 12})
    operator_env.insert("uploads/back.pdf", sequencer="0C")
    url = write_inventory(bucket, listed({"uploads/back.pdf": 12}))

    code, drift, _ = run_json(capsys, "check", "--inventory", url, "--fix")

    assert [(d["kind"], d["actual"]) for d in drift] == [("still_null", 12)]
    assert (operator_env.row("uploads/back.pdf"), code) == ((None, "0C"), 1)


# --- reports, formats and refusals ---------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["Parquet", "ORC"])
def test_parquet_inventory_gives_the_same_result_as_csv(
    file_format: str, drifted: str, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = {"uploads/ok.pdf": 10, "uploads/edited.pdf": 20, "uploads/never-recorded.pdf": 30}
    other = write_inventory(bucket, listed(objects), file_format=file_format, files=2)

    csv_code, csv_drift, csv_summary = run_json(capsys, "check", "--inventory", drifted)
    code, drift, summary = run_json(capsys, "check", "--inventory", other)

    assert (code, sorted(map(str, drift))) == (csv_code, sorted(map(str, csv_drift)))
    different = {
        "inventory",
        "report_time",
        "file_format",
        "data_files",
        "data_files_done",
        "s3_requests",
    }
    assert {k: v for k, v in summary.items() if k not in different} == {
        k: v for k, v in csv_summary.items() if k not in different
    }
    assert summary["file_format"] == file_format


def test_missing_pyarrow_names_the_extra(
    bucket: str,
    operator_env: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = write_inventory(bucket, listed({"a.pdf": 1}), file_format="Parquet")
    for module in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError

    code, out, err = run_text(capsys, "check", "--inventory", url)

    assert (code, out) == (2, "")
    assert "pip install 'size-recorder[inventory]'" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "document",
    [
        b"<html>not json</html>",
        ["a", "list"],
        {"sourceBucket": "b", "files": []},
        {
            "sourceBucket": "b",
            "fileFormat": "XML",
            "fileSchema": "Bucket, Key, Size",
            "files": [],
            "creationTimestamp": "1",
        },
        {
            "sourceBucket": "b",
            "fileFormat": "CSV",
            "fileSchema": "Bucket, Key, LastModifiedDate",
            "files": [],
            "creationTimestamp": "1",
        },
    ],
    ids=["not-json", "not-an-object", "no-format", "unknown-format", "no-size-field"],
)
def test_a_manifest_that_is_not_an_inventory_is_a_one_line_error(
    document: Any, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    url = put_manifest(document)

    code, out, err = run_text(capsys, "backfill", "--inventory", url)

    assert (code, out) == (2, "")
    assert "is not an S3 Inventory manifest" in err
    assert len(err.strip().splitlines()) == 1


def test_a_report_of_another_bucket_is_refused(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    url = write_inventory("someone-elses-bucket", listed({"a.pdf": 1}))

    code, _, err = run_text(capsys, "check", "--bucket", bucket, "--inventory", url)

    assert code == 2
    assert "someone-elses-bucket" in err


def test_check_needs_a_bucket_or_an_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_text(capsys, "check")

    assert code == 2
    assert "--inventory" in err


# --- interrupted runs ---------------------------------------------------------------------------


def test_interrupted_inventory_backfill_resumes_where_it_stopped(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a report whose second data file cannot be read yet: the run crashes on it
    first = {"uploads/a.pdf": 1, "uploads/b.pdf": 2}
    second = {"uploads/c.pdf": 3, "uploads/d.pdf": 4}
    operator_env.insert(*first, *second)
    url = write_inventory(bucket, listed(first | second), files=2, held_back=[1])

    code, out, err = run_text(capsys, "backfill", "--inventory", url, "--workers", "1")

    # THEN it fails in one line that gives the command to resume, keeping the first file's fills
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1
    argv = shlex.split(err.split("resume with ", 1)[1])
    assert argv[:4] == ["size-recorder", "backfill", "--inventory", url]
    assert operator_env.sizes() == {**first, "uploads/c.pdf": None, "uploads/d.pdf": None}

    # WHEN the file can be read and the printed command runs
    release_held_back(url)
    with_size_null(operator_env, "uploads/a.pdf")  # a second read of the first file refills it
    code, _, summary = run_json(capsys, *argv[1:])

    # THEN only the second file is read: the first one's row nulled meanwhile stays NULL
    assert operator_env.sizes() == {"uploads/a.pdf": None, "uploads/b.pdf": 2, **second}
    assert (summary["data_files_resumed"], summary["filled"], summary["rows_not_in_report"]) == (
        1,
        4,
        1,
    )


def with_size_null(table: DocumentsTable, name: str) -> None:
    import psycopg

    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(f"UPDATE {table.qualified} SET size_bytes = NULL WHERE file = %s", (name,))


def test_resumed_inventory_check_still_finds_only_the_rows_the_report_lacks(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"uploads/a.pdf": 1, "uploads/b.pdf": 2})
    operator_env.insert("uploads/a.pdf", size=1)
    operator_env.insert("uploads/b.pdf", size=2)
    operator_env.insert("uploads/lost.pdf", size=3)
    url = write_inventory(
        bucket, listed({"uploads/a.pdf": 1, "uploads/b.pdf": 2}), files=2, held_back=[1]
    )
    assert run_text(capsys, "check", "--inventory", url, "--workers", "1")[0] == 2
    release_held_back(url)

    code, drift, summary = run_json(capsys, "check", "--inventory", url, "--workers", "1")

    # The first file, done before the crash, is read again for its names: a.pdf is not gone.
    assert [(d["kind"], d["key"]) for d in drift] == [("gone", PREFIX + "uploads/lost.pdf")]
    assert (summary["data_files_resumed"], summary["rows_not_in_report"], code) == (1, 1, 1)


def test_ctrl_c_stops_an_inventory_run_between_chunks_and_a_rerun_finishes_it(
    bucket: str, operator_env: DocumentsTable
) -> None:
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(5)}
    operator_env.insert(*objects)
    url = write_inventory(bucket, listed(objects))

    # Ctrl-C lands while the first chunk is written
    progress: list[object] = []
    stopped = run_ops(
        operator_env,
        url,
        mode="backfill",
        chunk_rows=2,
        on_progress=progress.append,
        should_stop=lambda: bool(progress),
    )
    assert (stopped.interrupted, stopped.totals.filled, stopped.complete) == (True, 2, False)

    finished = run_ops(operator_env, url, mode="backfill", chunk_rows=2)
    assert (finished.totals.filled, finished.complete) == (3, True)
    assert operator_env.sizes() == objects


def test_an_error_in_a_worker_process_ends_the_run_in_one_line_and_the_rerun_completes(
    bucket: str, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(6)}
    operator_env.insert(*objects)
    url = write_inventory(bucket, listed(objects), files=3, held_back=[2])

    code, out, err = run_text(capsys, "backfill", "--inventory", url, "--workers", "2")

    assert (code, out) == (2, "")
    assert "part-002.csv.gz" in err
    assert len(err.strip().splitlines()) == 1
    release_held_back(url)
    code, _, summary = run_json(capsys, "backfill", "--inventory", url, "--workers", "2")
    assert (code, summary["data_files_done"], operator_env.sizes()) == (0, 3, objects)


class RefusingHeads:
    """An S3 client whose HEADs S3 refuses."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def head_object(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_refused_head_for_a_worker_file_ends_the_run_in_one_line_and_the_rerun_checks_it(
    bucket: str, operator_env: DocumentsTable
) -> None:
    # GIVEN a row the first data file disagrees with: the run's own client HEADs it, and S3
    # refuses
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(4)}
    put(bucket, objects)
    for name, size in objects.items():
        operator_env.insert(name, size=999 if name == "uploads/0.pdf" else size)
    url = write_inventory(bucket, listed(objects), files=2)

    with pytest.raises(InventoryError) as raised:
        run_ops(operator_env, url, workers=2, client=RefusingHeads(s3.s3_client()))

    # THEN the error names the file, and that file is not recorded as done: the rerun judges it
    assert str(raised.value) == (
        f"reports/{bucket}/daily/data/part-000.csv.gz:"
        " An error occurred (403) when calling the HeadObject operation: Forbidden"
    )
    finished = run_ops(operator_env, url, workers=2)
    assert (finished.interrupted, finished.totals.rows_differing) == (False, 1)


def test_a_worker_process_killed_midway_ends_the_run_in_one_line_and_the_rerun_completes(
    bucket: str, operator_env: DocumentsTable
) -> None:
    # Every row NULL: each file's one chunk sends 2,000 drift events, more than the queue holds,
    # so the worker left is blocked sending when the run stops reading: only SIGTERM from the
    # pool ends it (a worker ignoring SIGTERM hung the run here)
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(4000)}
    operator_env.insert(*objects)
    url = write_inventory(bucket, listed(objects), files=2)
    killed: list[int] = []

    def kill_a_worker(_: object) -> None:
        # As the OOM killer would: SIGKILL, no chance to say why
        if not killed:
            worker = multiprocessing.active_children()[0]
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    with pytest.raises(InventoryError) as raised:
        run_ops(operator_env, url, workers=2, on_drift=kill_a_worker)

    assert killed
    assert str(raised.value) == (
        "a worker process ended without finishing its data file (killed, or out of memory?)"
    )
    assert multiprocessing.active_children() == []
    finished = run_ops(operator_env, url, workers=2)
    assert (finished.interrupted, finished.totals.objects_in_report) == (False, 4000)


def test_ctrl_c_stops_worker_processes_between_chunks_and_a_rerun_finishes_it(
    bucket: str, operator_env: DocumentsTable
) -> None:
    # 100 one-row chunks a file: the workers cannot be done before they hear of the stop
    objects = {f"uploads/{i}.pdf": i + 1 for i in range(200)}
    operator_env.insert(*objects)
    url = write_inventory(bucket, listed(objects), files=2)

    progress: list[object] = []
    stopped = run_ops(
        operator_env,
        url,
        mode="backfill",
        workers=2,
        chunk_rows=1,
        on_progress=progress.append,
        should_stop=lambda: bool(progress),
    )
    assert (stopped.interrupted, stopped.complete) == (True, False)
    assert 0 < stopped.totals.filled < 200

    finished = run_ops(operator_env, url, mode="backfill", workers=2)
    assert (finished.complete, operator_env.sizes()) == (True, objects)
