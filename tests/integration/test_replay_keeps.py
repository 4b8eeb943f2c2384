"""`size-recorder replay` leaves in the DLQ what it cannot record, says why, and never looks clean
when it is not: an operator's configuration that differs from the function's, invalid messages,
dry runs, and the wrong queue or none at all."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.cli import main
from size_recorder.ops.replay import replay_dlq
from tests.integration.pipeline import PREFIX, Pipeline, dlq_count
from tests.support.aws import queue_with_dlq, unique
from tests.support.events import load_event, s3_body
from tests.support.postgres import DocumentsTable

NAMES = ("uploads/a.pdf", "uploads/b.pdf", "uploads/c.pdf")
# s3_body's records come from tests/events/s3_put.json, whose bucket is this one.
EVENT_BUCKET = "example-bucket"
NOT_JSON = "this is not an S3 event"


def replay(*args: str) -> int:
    return main(["replay", *args])


def into_dlq(pipeline: Pipeline, *bodies: str) -> None:
    """Messages as the function leaves them in the DLQ, put there directly (faster than failing
    them through the worker; `pipeline.fill_dlq` covers that path)."""
    assert sqs.send(boto3.client("sqs"), pipeline.dlq_url, list(bodies)) == []


def recordable(*names: str) -> list[str]:
    return [s3_body(PREFIX + name, 5) for name in names]


def visible(url: str) -> int:
    return sqs.visible_count(boto3.client("sqs"), url)


def json_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    status = replay(*args, "--json")
    return status, json.loads(capsys.readouterr().out)


def test_direct_replay_with_an_operator_prefix_that_differs_from_the_function_keeps_every_message(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN dead letters the function (prefix media/) failed, and rows that now exist
    pipeline.upload(*NAMES, size=11)
    pipeline.fill_dlq(len(NAMES))
    operator_env.insert(*NAMES)
    capsys.readouterr()

    # WHEN an operator whose shell says another prefix replays them directly
    monkeypatch.setenv(c.ENV_KEY_PREFIX, "other/")
    status = replay("--dlq-url", pipeline.dlq_url, "--mode", "direct")

    # THEN nothing is deleted or written, every message is visible again at once, the run
    # fails, and each message names the variable and the object
    assert status == 1
    assert operator_env.sizes() == dict.fromkeys(NAMES)
    assert visible(pipeline.dlq_url) == len(NAMES)
    out = capsys.readouterr().out  # the details stand beside the summary, on stdout
    assert "check SIZE_RECORDER_KEY_PREFIX" in out
    assert "SIZE_RECORDER_KEY_PREFIX='other/'" in out
    for name in NAMES:
        assert f"s3://{pipeline.bucket}/{PREFIX}{name}" in out

    # ... so the run with the function's prefix records every one of them
    monkeypatch.setenv(c.ENV_KEY_PREFIX, PREFIX)
    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct") == 0
    assert operator_env.sizes() == dict.fromkeys(NAMES, 11)
    assert dlq_count(pipeline.dlq_url) == 0


def test_direct_replay_with_targets_for_another_bucket_keeps_every_message_and_names_the_variable(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    into_dlq(pipeline, *recordable(*NAMES))
    operator_env.insert(*NAMES)
    monkeypatch.delenv(c.ENV_TABLE)
    monkeypatch.delenv(c.ENV_KEY_PREFIX)
    targets = [{"bucket": "another-bucket", "prefix": PREFIX, "table": operator_env.qualified}]
    monkeypatch.setenv(c.ENV_TARGETS, json.dumps(targets))

    status, summary = json_run(capsys, "--dlq-url", pipeline.dlq_url, "--mode", "direct")

    assert status == 1
    assert summary["recorded"] == 0
    assert summary["records"] == {"routed_nowhere": len(NAMES)}
    reasons = sorted(m["reason"] for m in summary["kept_for_configuration"])
    assert len(reasons) == len(NAMES)
    for name, reason in zip(NAMES, reasons, strict=True):
        assert (
            f"s3://{EVENT_BUCKET}/{PREFIX}{name} reaches no row under SIZE_RECORDER_TARGETS"
            in reason
        )
        assert "s3://another-bucket/media/" in reason
        assert "check SIZE_RECORDER_TARGETS" in reason
    assert visible(pipeline.dlq_url) == len(NAMES)


def test_direct_replay_still_deletes_test_events_and_deletions(
    pipeline: Pipeline, operator_env: DocumentsTable
) -> None:
    # Skipped by any configuration: the function would acknowledge them too.
    into_dlq(pipeline, load_event("s3_test_event.json"), load_event("s3_delete.json"))

    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct") == 0

    assert dlq_count(pipeline.dlq_url) == 0


def test_direct_dry_run_with_a_prefix_that_differs_lists_every_message_the_run_would_keep(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    into_dlq(pipeline, *recordable(*NAMES))
    monkeypatch.setenv(c.ENV_KEY_PREFIX, "other/")

    status, summary = json_run(
        capsys, "--dlq-url", pipeline.dlq_url, "--mode", "direct", "--dry-run"
    )

    assert status == 1
    assert summary["records"] == {"routed_nowhere": len(NAMES)}
    assert len(summary["kept_for_configuration"]) == len(NAMES)
    assert all(
        "check SIZE_RECORDER_KEY_PREFIX" in m["reason"] for m in summary["kept_for_configuration"]
    )
    assert visible(pipeline.dlq_url) == len(NAMES)


@pytest.mark.parametrize(
    ("situation", "args", "expected"),
    [
        ("a prefix that differs from the function's", ["--mode", "direct"], 1),
        ("an invalid message among recordable ones", [], 1),
        ("an invalid message, moved anyway with --all", ["--all"], 0),
        ("only recordable messages", ["--mode", "direct"], 0),
    ],
)
def test_dry_run_exit_code_matches_the_real_run(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    situation: str,
    args: list[str],
    expected: int,
) -> None:
    bodies = recordable(*NAMES)
    if "invalid" in situation:
        bodies.append(NOT_JSON)
    into_dlq(pipeline, *bodies)
    operator_env.insert(*NAMES)
    if "prefix" in situation:
        monkeypatch.setenv(c.ENV_KEY_PREFIX, "other/")

    dry = replay("--dlq-url", pipeline.dlq_url, *args, "--dry-run")
    assert dlq_count(pipeline.dlq_url) == len(bodies)  # the dry run changed nothing
    real = replay("--dlq-url", pipeline.dlq_url, *args)

    assert dry == real == expected


def test_redrive_leaves_invalid_messages_in_the_dlq_with_reasons(
    pipeline: Pipeline, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    negative = s3_body(PREFIX + "uploads/negative.pdf", -1)
    into_dlq(pipeline, *recordable(*NAMES), NOT_JSON, negative)
    waiting = dlq_count(pipeline.queue_url)  # S3's test event, when the bucket was set up

    status, summary = json_run(capsys, "--dlq-url", pipeline.dlq_url)

    # THEN the recordable ones went back to the source queue; the invalid ones stay, visible,
    # each with the reason the function would fail it again
    assert status == 1
    assert summary["moved"] == len(NAMES)
    assert dlq_count(pipeline.queue_url) == waiting + len(NAMES)
    assert visible(pipeline.dlq_url) == 2
    reasons = sorted(m["reason"] for m in summary["still_failing"])
    assert len(reasons) == 2
    assert all(reason.startswith("invalid: ") for reason in reasons)
    assert any("not JSON" in reason for reason in reasons)
    assert any("size" in reason for reason in reasons)


def test_redrive_all_moves_invalid_messages_too(
    pipeline: Pipeline, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(pipeline, *recordable(*NAMES), NOT_JSON)
    waiting = dlq_count(pipeline.queue_url)  # S3's test event, when the bucket was set up

    status, summary = json_run(capsys, "--dlq-url", pipeline.dlq_url, "--all")

    assert status == 0
    assert summary["moved"] == len(NAMES) + 1
    assert summary["still_failing"] == []
    assert dlq_count(pipeline.dlq_url) == 0
    assert dlq_count(pipeline.queue_url) == waiting + len(NAMES) + 1


def test_redrive_reports_the_moved_messages_in_flight_instead_of_an_emptied_dlq(
    pipeline: Pipeline, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(pipeline, *recordable(*NAMES))
    capsys.readouterr()

    assert replay("--dlq-url", pipeline.dlq_url) == 0

    out, err = capsys.readouterr()
    assert "emptied" not in out + err
    assert f"{len(NAMES)} message(s) are in flight on {pipeline.queue_url}" in out


def test_replay_json_summary_uses_snake_case_keys(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Messages with every kind of dry-run verdict, so every key the summary can have appears.
    into_dlq(pipeline, *recordable(*NAMES), NOT_JSON, s3_body("elsewhere/x.pdf", 1))

    _, summary = json_run(capsys, "--dlq-url", pipeline.dlq_url, "--mode", "direct", "--dry-run")

    keys = [*summary, *summary["records"]]
    assert {"in_dlq_before", "kept_for_configuration", "still_failing", "would_move"} <= set(keys)
    assert {"invalid", "routed_nowhere", "to_write"} <= set(summary["records"])
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", key) for key in keys), keys


def test_replay_json_summary_names_its_type_and_command_like_the_other_tools(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An operator's jq filter on `.command` or `.type` reads replay's summary as it reads
    backfill's, check's and discard's."""
    into_dlq(pipeline, *recordable(*NAMES))

    _, summary = json_run(capsys, "--dlq-url", pipeline.dlq_url, "--mode", "direct", "--dry-run")

    assert (summary["type"], summary["command"]) == ("summary", "replay")


def test_empty_dlq_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert replay("--dlq-url", "") == 2

    assert "--dlq-url is empty" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["redrive", "direct"])
def test_passing_the_source_queue_as_the_dlq_is_a_clear_error(
    pipeline: Pipeline,
    operator_env: DocumentsTable,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    # GIVEN an event waiting on the source queue for the function
    assert sqs.send(boto3.client("sqs"), pipeline.queue_url, recordable(NAMES[0])) == []
    waiting = visible(pipeline.queue_url)  # with S3's test event, when the bucket was set up
    operator_env.insert(NAMES[0])
    capsys.readouterr()

    # WHEN the operator passes the source queue's URL as --dlq-url
    status = replay("--dlq-url", pipeline.queue_url, "--mode", mode)

    # THEN the command stops before touching it, and points at the real DLQ
    assert status == 2
    err = capsys.readouterr().err
    assert f"{pipeline.queue_url} is the source queue" in err
    assert f"--dlq-url {pipeline.dlq_url}" in err
    assert visible(pipeline.queue_url) == waiting
    assert operator_env.sizes() == {NAMES[0]: None}


def test_a_dlq_with_a_dlq_of_its_own_is_not_taken_for_a_source_queue(
    operator_env: DocumentsTable,
) -> None:
    client = boto3.client("sqs")
    queues = queue_with_dlq(client, unique("chained"), max_receive_count=1)
    last_resort = client.create_queue(QueueName=unique("last-resort"))["QueueUrl"]
    policy = {"deadLetterTargetArn": sqs.queue_arn(client, last_resort), "maxReceiveCount": 5}
    client.set_queue_attributes(
        QueueUrl=queues.dlq_url, Attributes={"RedrivePolicy": json.dumps(policy)}
    )

    result = replay_dlq(client=client, dlq_url=queues.dlq_url, dry_run=True, wait_seconds=0)

    assert result.destination == queues.url
    assert result.complete


def test_all_with_direct_mode_is_a_usage_error(
    pipeline: Pipeline, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct", "--all") == 2

    assert "--all applies to redrive only" in capsys.readouterr().err
