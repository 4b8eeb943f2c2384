"""`size-recorder replay`: dead letters filled the way production fills them, then repaired."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.cli import main
from size_recorder.ops.replay import ReplayProgress, replay_dlq
from tests.integration.pipeline import Pipeline, dlq_count
from tests.support.postgres import DocumentsTable

NAMES = ("uploads/a.pdf", "uploads/b b+1.pdf", "uploads/c.pdf")


def replay(*args: str) -> int:
    return main(["replay", *args])


def run_worker(pipeline: Pipeline) -> None:
    main(["worker", "--queue-url", pipeline.queue_url, "--exit-when-empty", "--wait-seconds", "0"])


def test_replay_redrive_sends_dead_letters_back_for_the_worker_to_record(
    pipeline: Pipeline, operator_env: DocumentsTable
) -> None:
    # GIVEN uploads whose rows did not exist, now in the DLQ, and the rows created since
    pipeline.upload(*NAMES, size=321)
    pipeline.fill_dlq(len(NAMES))
    operator_env.insert(*NAMES)

    # WHEN the DLQ is redriven (moto has no move task: the copy loop) and the worker runs
    assert replay("--dlq-url", pipeline.dlq_url) == 0
    run_worker(pipeline)

    # THEN every row holds its size and both queues are empty
    assert operator_env.sizes() == dict.fromkeys(NAMES, 321)
    assert dlq_count(pipeline.dlq_url) == 0
    assert dlq_count(pipeline.queue_url) == 0


def test_replay_direct_records_what_it_can_and_lists_what_still_fails(
    pipeline: Pipeline, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.upload(*NAMES, size=42)
    pipeline.fill_dlq(len(NAMES))
    operator_env.insert(*NAMES[:2])
    capsys.readouterr()

    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct", "--json") == 1

    assert operator_env.sizes() == dict.fromkeys(NAMES[:2], 42)
    summary = json.loads(capsys.readouterr().out)
    assert summary["recorded"] == 2
    [failing] = summary["still_failing"]
    assert "no row with file = 'uploads/c.pdf'" in failing["reason"]
    # ... and it is visible again, so the DLQ alarm still counts it
    assert sqs.visible_count(boto3.client("sqs"), pipeline.dlq_url) == 1


def test_replay_direct_interrupted_and_rerun_loses_nothing(
    pipeline: Pipeline, operator_env: DocumentsTable
) -> None:
    pipeline.upload(*NAMES, size=7)
    pipeline.fill_dlq(len(NAMES))
    operator_env.insert(*NAMES)

    # The first run stops after one message: not done, so it says so.
    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct", "--limit", "1") == 1
    assert dlq_count(pipeline.dlq_url) == len(NAMES) - 1
    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct") == 0

    assert operator_env.sizes() == dict.fromkeys(NAMES, 7)
    assert dlq_count(pipeline.dlq_url) == 0


def test_replay_redrive_crash_between_send_and_delete_leaves_only_a_duplicate(
    pipeline: Pipeline, operator_env: DocumentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.upload(*NAMES, size=9)
    pipeline.fill_dlq(len(NAMES))
    operator_env.insert(*NAMES)

    # GIVEN a replay that dies right after SQS accepted the copies, before deleting originals
    def crash(*args: Any, **kwargs: Any) -> list[str]:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(sqs, "delete", crash)
        with pytest.raises(KeyboardInterrupt):
            replay("--dlq-url", pipeline.dlq_url, "--limit", "1")
    assert dlq_count(pipeline.dlq_url) == len(NAMES)  # nothing deleted before its copy was sent

    # WHEN it runs again and the worker records everything
    assert replay("--dlq-url", pipeline.dlq_url) == 0
    run_worker(pipeline)

    # THEN the duplicate was recorded twice to the same size, and nothing is left anywhere
    assert operator_env.sizes() == dict.fromkeys(NAMES, 9)
    assert dlq_count(pipeline.dlq_url) == 0
    assert dlq_count(pipeline.queue_url) == 0


@pytest.mark.parametrize("mode", ["redrive", "direct"])
def test_replay_dry_run_changes_nothing(
    pipeline: Pipeline, operator_env: DocumentsTable, mode: str
) -> None:
    pipeline.upload(*NAMES)
    pipeline.fill_dlq(len(NAMES))
    operator_env.insert(*NAMES)

    assert replay("--dlq-url", pipeline.dlq_url, "--mode", mode, "--dry-run") == 0

    assert operator_env.sizes() == dict.fromkeys(NAMES)
    assert dlq_count(pipeline.dlq_url) == len(NAMES)
    assert dlq_count(pipeline.queue_url) == 0


def test_replay_direct_refuses_to_start_with_bad_configuration(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.upload(*NAMES)
    pipeline.fill_dlq(len(NAMES))
    monkeypatch.setenv(c.ENV_KEY_COLUMN, "path")

    assert replay("--dlq-url", pipeline.dlq_url, "--mode", "direct") == 2

    assert "SIZE_RECORDER_KEY_COLUMN: column 'path' does not exist" in capsys.readouterr().err
    assert dlq_count(pipeline.dlq_url) == len(NAMES)  # nothing was received, nothing deleted


def test_replay_redrive_without_a_source_queue_asks_for_one(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    orphan = boto3.client("sqs").create_queue(QueueName="orphan-dlq")["QueueUrl"]

    assert replay("--dlq-url", orphan) == 2

    assert "pass --to-queue-url" in capsys.readouterr().err


DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/uploads-dlq"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:uploads-dlq"
SOURCE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/uploads"


def stub_a_dlq(stub: Stubber, *, visible: int) -> None:
    """The calls every replay starts with: a DLQ without a redrive policy, one source queue."""
    stub.add_response("get_queue_attributes", {"Attributes": {}})
    stub.add_response("list_dead_letter_source_queues", {"queueUrls": [SOURCE_URL]})
    stub.add_response(
        "get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": str(visible)}}
    )


def test_replay_redrive_all_follows_the_native_move_task_to_completion() -> None:
    # GIVEN an endpoint that implements StartMessageMoveTask (real SQS; moto lacks it)
    client = boto3.client("sqs", region_name="us-east-1")
    stub = Stubber(client)
    stub_a_dlq(stub, visible=5)
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}})
    stub.add_response("start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN})
    for status, moved in (("RUNNING", 2), ("COMPLETED", 5)):
        stub.add_response(
            "list_message_move_tasks",
            {
                "Results": [
                    {
                        "Status": status,
                        "SourceArn": DLQ_ARN,
                        "ApproximateNumberOfMessagesMoved": moved,
                        "ApproximateNumberOfMessagesToMove": 5,
                    }
                ]
            },
            {"SourceArn": DLQ_ARN, "MaxResults": 1},
        )
    seen: list[ReplayProgress] = []

    # WHEN the DLQ is redriven
    with stub:
        result = replay_dlq(
            client=client,
            dlq_url=DLQ_URL,
            move_all=True,
            on_progress=seen.append,
            sleep=lambda _: None,
        )

    # THEN SQS moved the messages itself, and the progress came from ListMessageMoveTasks
    stub.assert_no_pending_responses()
    assert (result.method, result.moved, result.task_status) == ("move task", 5, "COMPLETED")
    assert result.task_handle == "task-1"
    assert result.complete
    assert [p.done for p in seen] == [2, 5]


def test_replay_redrive_all_stops_when_sqs_refuses_the_move_task(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a role without sqs:StartMessageMoveTask: a refusal, not a missing feature
    client = boto3.client("sqs", region_name="us-east-1")
    stub = Stubber(client)
    stub_a_dlq(stub, visible=1)
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}})
    stub.add_client_error("start_message_move_task", "AccessDenied", http_status_code=403)
    monkeypatch.setattr(sqs, "sqs_client", lambda: client)

    # WHEN the DLQ is redriven, THEN it stops with the reason instead of copying behind SQS's back
    with stub:
        assert replay("--dlq-url", DLQ_URL, "--all") == 2
    stub.assert_no_pending_responses()
    assert "AccessDenied" in capsys.readouterr().err
