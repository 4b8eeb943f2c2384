"""`size-recorder backfill`: rows that predate the recorder get their size from S3."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import boto3
import psycopg
import pytest

from size_recorder import constants as c
from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.cli import main, tools
from size_recorder.core.config import Settings
from size_recorder.ops.backfill import BackfillProgress, backfill
from tests.integration.pipeline import PREFIX
from tests.integration.reports import run_json, run_text
from tests.support.postgres import DocumentsTable, recorder_env

# Names as Django stores them (without AWS_LOCATION), awkward on purpose, with their sizes.
EXISTING = {
    "uploads/a.pdf": 11,
    "uploads/b b+1.pdf": 22,
    "uploads/ünï cødé.txt": 33,
    "uploads/d%20e.txt": 44,
    "reports/2024/q1.csv": 55,
}
DELETE_SEQUENCER = "0055AED6DCD90281E5"


def put(bucket: str, objects: dict[str, int]) -> None:
    client = boto3.client("s3")
    for key, size in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * size)


@pytest.fixture
def adopted(bucket: str, operator_env: DocumentsTable) -> DocumentsTable:
    """A bucket full of objects under the prefix, and rows for them with NULL sizes."""
    put(bucket, {PREFIX + name: size for name, size in EXISTING.items()})
    operator_env.insert(*EXISTING)
    return operator_env


@pytest.fixture
def sequenced(operator_env: DocumentsTable, monkeypatch: pytest.MonkeyPatch) -> DocumentsTable:
    """The operator's shell with the function's sequencer column, so deletes are recorded."""
    monkeypatch.setenv(c.ENV_SEQUENCER_COLUMN, "size_sequencer")
    return operator_env


def record_delete(table: DocumentsTable, name: str) -> None:
    """What the recorder writes for an ObjectRemoved event: no size, the delete's sequencer."""
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {table.qualified} SET size_bytes = NULL, size_sequencer = %s WHERE file = %s",
            (DELETE_SEQUENCER, name),
        )


def settings_for(table: DocumentsTable, **extra: str) -> Settings:
    return Settings.from_env(recorder_env(table, **extra))


class AfterEachCall:
    """The S3 client, with `then` run after each call of `method` returns: an event recorded
    between what S3 answered and the backfill's UPDATE."""

    def __init__(self, method: str, then: Callable[[], None]) -> None:
        self._client = s3.s3_client()
        self._method = method
        self._then = then

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != self._method:
            return call

        def then_too(**kwargs: Any) -> Any:
            answer = call(**kwargs)
            self._then()
            return answer

        return then_too


def test_backfill_list_fills_null_rows_across_listing_pages(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    put(bucket, {"elsewhere/not-ours.bin": 3})  # outside SIZE_RECORDER_KEY_PREFIX

    code, left, result = run_json(capsys, "backfill", "--bucket", bucket, "--page-size", "2")

    assert (code, left) == (0, [])
    assert adopted.sizes() == EXISTING
    assert result["filled"] == len(EXISTING)
    assert result["rows_object_gone"] == 0
    assert result["s3_requests"] == math.ceil((len(EXISTING) + 1) / 2)
    assert result["objects_routed_nowhere"] == 1
    assert (result["objects_listed"], result["objects_matched"]) == (len(EXISTING) + 1, 5)


def test_backfill_list_names_every_row_whose_object_is_gone(
    bucket: str,
    adopted: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tools, "SAMPLE", 1)  # gone rows are never sampled away
    adopted.insert("uploads/deleted-since.pdf", "uploads/never-uploaded.pdf")

    code, left, result = run_json(capsys, "backfill", "--bucket", bucket)
    adopted.insert("uploads/gone-too.pdf")
    _, out, _ = run_text(capsys, "backfill", "--bucket", bucket)

    assert code == 1
    assert result["rows_object_gone"] == 2
    assert left == [
        {"type": "unfilled", "reason": "gone", "key": f"media/uploads/{name}", "rows": 1}
        for name in ("deleted-since.pdf", "never-uploaded.pdf")
    ]
    for name in ("deleted-since.pdf", "never-uploaded.pdf", "gone-too.pdf"):
        assert f"  gone: media/uploads/{name} (no object: left NULL)\n" in out
    assert adopted.sizes()["uploads/deleted-since.pdf"] is None


def test_backfill_never_overwrites_a_size_already_recorded(
    bucket: str, operator_env: DocumentsTable
) -> None:
    put(bucket, {PREFIX + "uploads/new.pdf": 100})
    operator_env.insert("uploads/new.pdf", size=100_000)  # the recorder was there first

    for method in ("list", "head"):
        main(["backfill", "--bucket", bucket, "--method", method])

    assert operator_env.sizes() == {"uploads/new.pdf": 100_000}


def test_backfill_head_sends_one_request_per_null_row(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    adopted.insert("uploads/deleted-since.pdf")
    adopted.insert("uploads/already.pdf", size=1)

    code, left, result = run_json(
        capsys, "backfill", "--bucket", bucket, "--method", "head", "--page-size", "2"
    )

    assert code == 1  # one row is left without a size
    assert adopted.sizes() == {
        **EXISTING,
        "uploads/deleted-since.pdf": None,
        "uploads/already.pdf": 1,
    }
    assert result["s3_requests"] == len(EXISTING) + 1
    assert result["rows_object_gone"] == 1
    assert [entry["key"] for entry in left] == ["media/uploads/deleted-since.pdf"]


def test_backfill_head_progress_counts_toward_the_null_rows(
    bucket: str, adopted: DocumentsTable
) -> None:
    adopted.insert("uploads/already.pdf", size=1)  # not NULL: not part of the total
    adopted.insert("")  # a FileField left blank: never looked at, so not counted either
    settings = settings_for(adopted)
    rows = RowStore.from_settings(settings)
    seen: list[BackfillProgress] = []
    try:
        backfill(
            settings=settings,
            rows=rows,
            client=s3.s3_client(),
            bucket=bucket,
            method="head",
            page_size=2,
            on_progress=seen.append,
        )
    finally:
        rows.close()

    assert seen == [BackfillProgress(done, len(EXISTING)) for done in (2, 4, 5)]


def test_backfill_prefix_limits_the_walk(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, result = run_json(
        capsys, "backfill", "--bucket", bucket, "--prefix", PREFIX + "reports/"
    )

    assert code == 0
    assert {n: s for n, s in adopted.sizes().items() if s is not None} == {
        "reports/2024/q1.csv": 55
    }
    assert result["objects_listed"] == 1


def test_backfill_interrupted_then_rerun_fills_the_rest(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(adopted)
    rows = RowStore.from_settings(settings)

    # GIVEN a walk stopped (Ctrl-C) after its first page of two objects
    first = backfill(
        settings=settings,
        rows=rows,
        client=s3.s3_client(),
        bucket=bucket,
        page_size=2,
        should_stop=lambda: True,
    )
    rows.close()
    assert (first.interrupted, first.filled, first.missing) == (True, 2, None)

    # WHEN it runs again, resuming after the last key it reported
    assert first.last_key is not None
    code, _, result = run_json(
        capsys, "backfill", "--bucket", bucket, "--start-after", first.last_key
    )

    # THEN every row is filled, each exactly once
    assert code == 0
    assert adopted.sizes() == EXISTING
    assert result["filled"] == len(EXISTING) - 2


@pytest.mark.parametrize("method", ["list", "head"])
def test_backfill_dry_run_changes_nothing(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    code, _, result = run_json(
        capsys, "backfill", "--bucket", bucket, "--method", method, "--dry-run"
    )

    assert code == 0
    assert adopted.sizes() == dict.fromkeys(EXISTING)
    assert result["would_fill"] == len(EXISTING)
    assert result["rows_object_gone"] == 0


@pytest.mark.parametrize("method", ["list", "head"])
def test_backfill_dry_run_that_would_leave_rows_whose_object_is_gone_exits_1(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    adopted.insert("uploads/deleted-since.pdf")

    code, _, result = run_json(
        capsys, "backfill", "--bucket", bucket, "--method", method, "--dry-run"
    )

    assert (code, result["rows_object_gone"], result["complete"]) == (1, 1, False)
    assert adopted.sizes()["uploads/a.pdf"] is None


def test_backfill_with_a_key_prefix_that_names_no_row_says_which_setting_to_check_and_exits_1(
    bucket: str,
    adopted: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No row is named "media/...": without the prefix setting, nothing under media/ matches.
    monkeypatch.delenv(c.ENV_KEY_PREFIX)

    code, out, _ = run_text(capsys, "backfill", "--bucket", bucket, "--prefix", PREFIX)

    assert code == 1
    assert "objects matched: 0\n" in out
    assert (
        f"5 object(s) listed under s3://{bucket}/media/ and none names a row:"
        " check SIZE_RECORDER_KEY_PREFIX (now unset)"
    ) in out
    assert adopted.sizes() == dict.fromkeys(EXISTING)


# --- Rows NULL after a recorded delete ---------------------------------------------------------


def test_backfill_list_leaves_a_row_null_after_a_delete_though_the_listing_shows_its_object(
    bucket: str,
    adopted: DocumentsTable,
    sequenced: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The listing cannot tell a delete recorded after it was taken from an object uploaded
    # again since: filling from it could bring a deleted object's size back.
    record_delete(adopted, "uploads/a.pdf")

    code, left, result = run_json(capsys, "backfill", "--bucket", bucket)

    assert code == 1
    assert adopted.row("uploads/a.pdf") == (None, DELETE_SEQUENCER)
    assert (result["filled"], result["rows_null_after_delete"]) == (len(EXISTING) - 1, 1)
    assert left == [
        {"type": "unfilled", "reason": "null_after_delete", "key": "media/uploads/a.pdf", "rows": 1}
    ]
    assert "only --method head fills those whose object exists" in result["notes"][0]


def test_backfill_head_fills_a_row_null_after_a_delete_whose_object_is_back(
    bucket: str,
    adopted: DocumentsTable,
    sequenced: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An older version made current again sends no event: only a HEAD after the delete knows.
    record_delete(adopted, "uploads/a.pdf")

    code, _, _ = run_json(capsys, "backfill", "--bucket", bucket, "--method", "head")

    assert code == 0
    assert adopted.row("uploads/a.pdf") == (11, DELETE_SEQUENCER)  # the sequencer stays


def test_backfill_list_leaves_a_row_whose_delete_was_recorded_after_the_listing(
    bucket: str, adopted: DocumentsTable, sequenced: DocumentsTable
) -> None:
    settings = settings_for(adopted, **{c.ENV_SEQUENCER_COLUMN: "size_sequencer"})
    rows = RowStore.from_settings(settings)
    try:
        result = backfill(
            settings=settings,
            rows=rows,
            client=AfterEachCall(
                "list_objects_v2", lambda: record_delete(adopted, "uploads/a.pdf")
            ),
            bucket=bucket,
        )
    finally:
        rows.close()

    assert adopted.row("uploads/a.pdf") == (None, DELETE_SEQUENCER)
    assert (result.filled, result.null_after_delete) == (len(EXISTING) - 1, 1)


def test_backfill_head_leaves_a_row_whose_delete_was_recorded_after_its_head(
    bucket: str, adopted: DocumentsTable, sequenced: DocumentsTable
) -> None:
    settings = settings_for(adopted, **{c.ENV_SEQUENCER_COLUMN: "size_sequencer"})
    rows = RowStore.from_settings(settings)
    try:
        result = backfill(
            settings=settings,
            rows=rows,
            client=AfterEachCall("head_object", lambda: record_delete(adopted, "uploads/a.pdf")),
            bucket=bucket,
            method="head",
        )
    finally:
        rows.close()

    assert adopted.row("uploads/a.pdf") == (None, DELETE_SEQUENCER)
    assert (result.filled, result.changed) == (len(EXISTING) - 1, 1)


def test_backfill_json_keys_are_snake_case(
    bucket: str, adopted: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, result = run_json(capsys, "backfill", "--bucket", bucket)

    assert set(result) == {
        "type",
        "command",
        "bucket",
        "prefix",
        "method",
        "dry_run",
        "filled",
        "rows_object_gone",
        "rows_null_after_delete",
        "rows_changed_since_read",
        "objects_listed",
        "objects_matched",
        "objects_routed_nowhere",
        "s3_requests",
        "nothing_matched",
        "interrupted",
        "last_key",
        "complete",
        "notes",
    }
