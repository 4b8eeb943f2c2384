"""`size-recorder status`: from an alarm to its cause in one command, against moto and the real
Postgres, changing nothing on the way."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.cli import build_parser, main
from size_recorder.ops.reconcile import ReconcileResult
from size_recorder.ops.reconcile_lambda import Failure, RunSummary
from tests.integration.pipeline import dlq_count
from tests.support.aws import QueueWithDlq, queue_with_dlq, unique
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable

NOT_JSON = "this is not an S3 event"
NEGATIVE = s3_body("media/uploads/negative.pdf", -1)
NO_ROW = s3_body("media/uploads/never-saved.pdf", 10)
HAS_ROW = (s3_body("media/uploads/a.pdf", 10), s3_body("media/uploads/b.pdf", 20))
OUTSIDE = s3_body("other-app/report.pdf", 10)
# s3_body's records come from tests/events/s3_put.json, whose bucket is this one.
EVENT_BUCKET = "example-bucket"


@pytest.fixture
def queues(operator_env: DocumentsTable) -> QueueWithDlq:
    return queue_with_dlq(boto3.client("sqs"), unique("status"), max_receive_count=1)


def into_dlq(queues: QueueWithDlq, *bodies: str) -> None:
    assert sqs.send(boto3.client("sqs"), queues.dlq_url, list(bodies)) == []


def run_status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr."""
    capsys.readouterr()
    code = main(["status", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def status_json(
    capsys: pytest.CaptureFixture[str], queues: QueueWithDlq, *args: str
) -> tuple[int, dict[str, Any]]:
    code, out, _ = run_status(
        capsys, "--queue-url", queues.url, "--dlq-url", queues.dlq_url, "--json", *args
    )
    return code, json.loads(out)


def groups(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dead-letter groups by kind (each test's messages make one group per kind)."""
    found = report["dead_letters"]["groups"]
    by_kind = {group["kind"]: group for group in found}
    assert len(by_kind) == len(found), found
    return by_kind


def fixes(report: dict[str, Any]) -> dict[str, str]:
    return {problem["kind"]: problem["fix"] for problem in report["problems"]}


def visible(url: str) -> int:
    return sqs.visible_count(boto3.client("sqs"), url)


def test_status_of_a_healthy_pipeline_exits_zero(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_status(capsys, "--queue-url", queues.url, "--dlq-url", queues.dlq_url)

    assert code == 0
    assert "all clear" in out
    assert "needs attention" not in out


def test_status_groups_dlq_messages_by_reason_with_a_sample_key(
    queues: QueueWithDlq, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN dead letters of every kind, and rows for two of them
    operator_env.insert("uploads/a.pdf", "uploads/b.pdf")
    into_dlq(queues, NOT_JSON, NOT_JSON, NO_ROW, *HAS_ROW, OUTSIDE)

    code, report = status_json(capsys, queues)

    assert code == 1
    by_kind = groups(report)
    assert {kind: group["messages"] for kind, group in by_kind.items()} == {
        "invalid": 2,
        "routed_nowhere": 1,
        "unmatched": 1,
        "recordable": 2,
    }
    assert by_kind["invalid"]["reason"].startswith("body is not JSON")
    assert by_kind["invalid"]["sample_key"] is None
    assert by_kind["unmatched"]["reason"] == f"no row in {operator_env.qualified} holds its name"
    assert by_kind["unmatched"]["sample_key"] == "media/uploads/never-saved.pdf"
    assert by_kind["unmatched"]["sample_bucket"] == EVENT_BUCKET
    assert by_kind["routed_nowhere"]["sample_key"] == "other-app/report.pdf"
    assert "SIZE_RECORDER_KEY_PREFIX='media/'" in by_kind["routed_nowhere"]["reason"]
    assert by_kind["recordable"]["sample_key"] in {"media/uploads/a.pdf", "media/uploads/b.pdf"}
    assert report["dead_letters"]["peeked"] == 6
    assert report["dead_letters"]["rows_checked"] is True


def test_status_gives_an_unmatched_message_the_reason_the_recorder_gives(
    queues: QueueWithDlq, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(queues, NO_ROW)

    _, report = status_json(capsys, queues)

    assert groups(report)["unmatched"]["sample_reason"] == (
        f"no row with file = 'uploads/never-saved.pdf' in {operator_env.qualified}"
    )


def test_status_finds_a_dead_letter_older_than_its_row_stale_as_the_recorder_would(
    queues: QueueWithDlq,
    operator_env: DocumentsTable,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(c.ENV_SEQUENCER_COLUMN, "size_sequencer")
    operator_env.insert("uploads/a.pdf", size=7, sequencer="0055AED6DCD90281F0")
    into_dlq(queues, s3_body("media/uploads/a.pdf", 10, sequencer="0055AED6DCD90281E5"))

    _, report = status_json(capsys, queues)

    recordable = groups(report)["recordable"]
    assert recordable["sample_reason"] == "row already holds this or a newer event"
    assert fixes(report)["dlq_recordable"] == f"size-recorder replay --dlq-url {queues.dlq_url}"


def test_status_does_not_consume_dlq_messages(
    queues: QueueWithDlq, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    operator_env.insert("uploads/a.pdf")
    into_dlq(queues, NOT_JSON, NO_ROW, HAS_ROW[0])

    run_status(capsys, "--queue-url", queues.url, "--dlq-url", queues.dlq_url)

    # Every message is still there, and visible again at once (not after a timeout) ...
    assert visible(queues.dlq_url) == 3
    # ... and no row was written by the check
    assert operator_env.sizes() == {"uploads/a.pdf": None}


def test_status_peeks_at_most_the_number_asked_and_says_the_rest_was_not_read(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(queues, *[NOT_JSON] * 5)

    code, report = status_json(capsys, queues, "--peek", "2")

    assert code == 1
    assert report["dead_letters"]["peeked"] == 2
    assert report["dead_letters"]["read_to_end"] is False
    assert "--peek 5" in fixes(report)["dlq_not_peeked"]
    assert visible(queues.dlq_url) == 5


def test_status_names_the_command_that_fixes_each_problem(
    queues: QueueWithDlq, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    operator_env.insert("uploads/a.pdf")
    into_dlq(queues, NEGATIVE, NO_ROW, HAS_ROW[0], OUTSIDE)

    _, report = status_json(capsys, queues)

    found = fixes(report)
    dlq = queues.dlq_url
    assert found["dlq_invalid"].startswith(
        f"size-recorder discard --dlq-url {dlq} --reason invalid --archive "
    )
    assert found["dlq_recordable"] == f"size-recorder replay --dlq-url {dlq}"
    assert f"size-recorder replay --dlq-url {dlq}" in found["dlq_unmatched"]
    assert f"discard --dlq-url {dlq} --key media/uploads/never-saved.pdf" in found["dlq_unmatched"]
    assert "compare SIZE_RECORDER_KEY_PREFIX with the function's" in found["dlq_routed_nowhere"]


def test_status_suggests_a_discard_command_the_discard_command_accepts(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(queues, NOT_JSON)

    _, report = status_json(capsys, queues)

    command = fixes(report)["dlq_invalid"].split(" (")[0]
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.command, args.dlq_url, args.reason) == ("discard", queues.dlq_url, ["invalid"])


def test_status_json_uses_snake_case_keys(
    queues: QueueWithDlq, operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(queues, NOT_JSON, NO_ROW)

    _, report = status_json(capsys, queues)

    keys = set(_keys(report))
    assert keys, report
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", key) for key in keys), keys
    assert {"queue", "dlq", "dead_letters", "alarms", "problems", "needs_attention"} <= keys


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def test_status_off_a_terminal_writes_whole_lines_to_stdout(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    into_dlq(queues, NOT_JSON)

    code, out, _ = run_status(capsys, "--queue-url", queues.url, "--dlq-url", queues.dlq_url)

    assert code == 1
    fix = f"size-recorder discard --dlq-url {queues.dlq_url} --reason invalid --archive"
    assert any(fix in line for line in out.splitlines()), out
    assert any(line.startswith("needs attention") for line in out.splitlines()), out
    assert "\x1b[" not in out  # no colour codes in a file


def test_status_reads_queue_urls_from_the_stack_outputs(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack()

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert code == 0, report["problems"]
    assert report["queue"]["url"] == stack.outputs["QueueUrl"]
    assert report["dlq"]["url"] == stack.outputs["DeadLetterQueueUrl"]
    assert report["function_name"] == stack.outputs["FunctionName"]
    assert report["alarm_topic_arn"] == stack.outputs["AlarmTopicArn"]
    assert report["alarms"]["name_prefix"] == f"{stack.name}-"


def test_status_takes_a_queue_url_flag_over_the_stack_output(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack()

    # The stack's own DLQ with a flag naming another queue: the flag wins, so the pair is
    # refused, proving the flag was used
    code, _, err = run_status(capsys, "--stack", stack.name, "--queue-url", queues.url)

    assert code == 2
    assert f"is not the dead-letter queue of {queues.url}" in err


def test_status_with_an_alarm_in_alarm_exits_one(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack()
    quiet = stack.alarm("QueueOldestMessage", "ApproximateAgeOfOldestMessage")
    firing = stack.alarm("DeadLetterQueueNotEmpty", "ApproximateNumberOfMessagesVisible")
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=firing, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [3.0]"
    )

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert code == 1
    assert [a["name"] for a in report["alarms"]["alarms"]] == [firing, quiet]
    assert report["alarms"]["alarms"][0]["runbook_row"] == "DeadLetterQueueNotEmpty"
    (problem,) = report["problems"]
    assert problem["kind"] == "alarm"
    assert "Threshold Crossed: 1 datapoint [3.0]" in problem["summary"]
    assert "DeadLetterQueueNotEmpty row" in problem["fix"]
    assert "docs/operations.md#alarms" in problem["fix"]


def test_status_leaves_out_alarms_of_another_stack_sharing_the_name_prefix(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack()
    other_topic = boto3.client("sns").create_topic(Name=unique("other"))["TopicArn"]
    stack.alarm("Other", "Errors", topic_arn=other_topic, name=f"{stack.name}-Staging-Errors")

    _, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    assert json.loads(out)["alarms"]["alarms"] == []


def test_status_with_an_old_backlog_exits_one_and_points_at_the_function(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": sqs.queue_name(queues.url)}],
                # CloudWatch's datapoints are minutes old by the time anyone reads them
                "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
                "Value": 1800.0,
            }
        ],
    )

    code, report = status_json(capsys, queues, "--max-age-seconds", "900")

    assert code == 1
    assert report["queue"]["oldest_age_seconds"] == 1800
    fix = fixes(report)["queue_backlog_old"]
    assert "Errors and Throttles" in fix
    assert f"size-recorder worker --queue-url {queues.url}" in fix


def test_status_says_the_oldest_age_is_unknown_when_cloudwatch_has_none(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("sqs").send_message(QueueUrl=queues.url, MessageBody=NO_ROW)

    code, report = status_json(capsys, queues)

    assert code == 0
    assert report["queue"]["visible"] == 1
    assert report["queue"]["oldest_age_seconds"] is None
    assert any("oldest message age" in item for item in report["not_checked"])


def test_status_without_recorder_settings_reads_aws_and_says_what_it_could_not_check(
    queues: QueueWithDlq, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (c.ENV_TABLE, c.ENV_KEY_PREFIX, c.ENV_DATABASE_URL):
        monkeypatch.delenv(name)
    into_dlq(queues, NOT_JSON, NO_ROW)

    code, report = status_json(capsys, queues)

    assert code == 1
    assert {kind: g["messages"] for kind, g in groups(report).items()} == {
        "invalid": 1,
        "unchecked": 1,
    }
    assert report["dead_letters"]["routing_checked"] is False
    assert report["database"] == {"checked": False, "error": None}
    assert any(c.ENV_TABLE in item for item in report["not_checked"])


def test_status_with_an_unreachable_database_reports_it_and_still_reads_the_dlq(
    queues: QueueWithDlq, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(c.ENV_DATABASE_URL, "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    into_dlq(queues, NOT_JSON, NO_ROW)

    code, report = status_json(capsys, queues)

    assert code == 1
    assert report["database"]["error"].startswith("cannot connect to Postgres")
    assert {kind: g["messages"] for kind, g in groups(report).items()} == {
        "invalid": 1,
        "failed": 1,
    }
    assert report["dead_letters"]["rows_checked"] is False
    assert {"database_unreachable", "dlq_rows_not_checked"} <= set(fixes(report))


def test_status_refuses_the_source_queue_passed_as_the_dlq(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_status(capsys, "--queue-url", queues.dlq_url, "--dlq-url", queues.url)

    assert code == 2
    assert "is the source queue" in err
    assert dlq_count(queues.url) == 0  # and it was never received from


def test_status_of_a_missing_stack_exits_two_on_one_line(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_status(capsys, "--stack", unique("NoSuchStack"))

    assert code == 2
    err = err.strip()
    assert "no stack named" in err
    assert "\n" not in err


def test_status_without_queue_urls_exits_two_naming_the_flags(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_status(capsys)

    assert code == 2
    assert "pass --queue-url or --stack" in err


def test_status_with_an_empty_dlq_url_says_it_is_empty(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_status(capsys, "--queue-url", queues.url, "--dlq-url", "")

    assert code == 2
    assert "--dlq-url is empty" in err


def test_status_names_the_variable_of_a_column_that_does_not_exist(
    queues: QueueWithDlq, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(c.ENV_SIZE_COLUMN, "bytes")

    code, _, err = run_status(capsys, "--queue-url", queues.url, "--dlq-url", queues.dlq_url)

    assert code == 2
    assert "SIZE_RECORDER_SIZE_COLUMN: column 'bytes' does not exist" in err


# ---- a stack in moto's CloudFormation --------------------------------------------------------


class Stack:
    """A stack shaped like the recorder's where it matters here: a queue with a DLQ, a topic, and
    the outputs `constants.OUTPUT_*` name. Its alarms are put by `alarm` (moto's CloudFormation
    does not create alarms), named as CloudFormation names them: `<stack>-<logical id>-<suffix>`.
    """

    def __init__(self, name: str, outputs: dict[str, str]) -> None:
        self.name = name
        self.outputs = outputs

    def alarm(
        self,
        logical_id: str,
        metric: str,
        *,
        topic_arn: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
    ) -> str:
        alarm_name = name or f"{self.name}-{logical_id}-{unique('X')[-8:].upper()}"
        namespace = namespace or ("AWS/Lambda" if metric == "Errors" else "AWS/SQS")
        boto3.client("cloudwatch").put_metric_alarm(
            AlarmName=alarm_name,
            Namespace=namespace,
            MetricName=metric,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=[topic_arn or self.outputs["AlarmTopicArn"]],
            OKActions=[topic_arn or self.outputs["AlarmTopicArn"]],
        )
        return alarm_name


def make_stack(**outputs: str) -> Stack:
    """`outputs`: more of them (the reconciliation's), as OutputKey=value."""
    name = unique("SizeRecorder")
    template = {
        "Resources": {
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                        "maxReceiveCount": 8,
                    }
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic"},
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
            "AlarmTopicArn": {"Value": {"Ref": "Topic"}},
            "FunctionName": {"Value": f"{name}-Function"},
            "BucketName": {"Value": f"{name.lower()}-bucket"},
            **{key: {"Value": value} for key, value in outputs.items()},
        },
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    outputs = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    return Stack(name, {o["OutputKey"]: o["OutputValue"] for o in outputs})


# ---- the nightly reconciliation's last summary ------------------------------------------------

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Reconciliation"


def reconciled_stack(
    *, summary: dict[str, Any] | bytes | None, age: timedelta = timedelta()
) -> Stack:
    """A stack with the reconciliation, its destination bucket holding `summary` (None: no run
    has finished) where the summary step writes it, `age` old."""
    destination = unique("inventory")
    key = f"reconciliation/{c.RECONCILE_LATEST_NAME}"
    boto3.client("s3").create_bucket(Bucket=destination)
    if summary is not None:
        body = summary if isinstance(summary, bytes) else json.dumps(summary).encode()
        boto3.client("s3").put_object(Bucket=destination, Key=key, Body=body)
        if age:
            # moto's own object: S3 dates an object when it is written, and no request backdates it
            stored = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[destination].keys[key]
            stored.last_modified -= age
    return make_stack(
        **{
            c.OUTPUT_RECONCILE_SUMMARY_URL: f"s3://{destination}/{key}",
            c.OUTPUT_RECONCILE_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
            c.OUTPUT_INVENTORY_DESTINATION: destination,
        }
    )


def run_summary(*, failed: int = 0, fix: bool = True) -> dict[str, Any]:
    """A summary as the reconciliation's summary step writes it."""
    return RunSummary(
        inventory="s3://acme-inventory/inventory/acme-media/size-recorder/2026-11-28T01-00Z/manifest.json",
        report_time=datetime(2026, 11, 28, 1, 0, tzinfo=UTC),
        fix=fix,
        map_run_arn=f"{STATE_MACHINE_ARN}/run",
        results="s3://acme-inventory/reconciliation/run/manifest.json",
        totals=ReconcileResult(
            objects_in_report=10_000,
            objects_in_scope=10_000,
            objects_matched=9_990,
            rows_differing=7,
            rows_object_gone=2,
            rows_newer_than_report=3,
            fixed=7,
        ),
        batches_succeeded=10 - failed,
        batches_failed=failed,
        batches_pending=0,
        failures=tuple(Failure("PostgresError", "connection refused") for _ in range(failed)),
    ).as_dict()


def test_status_shows_the_last_reconciliation_the_stack_outputs_point_at(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=run_summary(), age=timedelta(hours=5))

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert code == 0, report["problems"]
    reconciliation = report["reconciliation"]
    assert reconciliation["configured"] is True
    assert reconciliation["summary_url"] == stack.outputs[c.OUTPUT_RECONCILE_SUMMARY_URL]
    assert reconciliation["state_machine_arn"] == STATE_MACHINE_ARN
    assert (reconciliation["stale"], reconciliation["error"]) == (False, None)
    assert 5 * 3600 <= reconciliation["age_seconds"] < 5 * 3600 + 120
    last = reconciliation["last_run"]
    assert {k: last[k] for k in ("rows_checked", "drifted", "fixed", "missing_object")} == {
        "rows_checked": 10_000,
        "drifted": 9,
        "fixed": 7,
        "missing_object": 2,
    }
    assert (last["newer_than_report"], last["report_time"]) == (3, "2026-11-28T01:00:00+00:00")


def test_status_text_gives_the_last_reconciliation_in_one_line(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=run_summary(), age=timedelta(hours=5))

    code, out, _ = run_status(capsys, "--stack", stack.name)

    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith("reconciliation:")]
    assert "(5 h ago; incomplete), report of 2026-11-28 01:00 UTC" in line
    assert "10,000 rows checked, 9 drifted, 7 fixed, 2 missing object, 3 newer than" in line


def test_status_with_a_reconciliation_older_than_two_days_exits_one(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=run_summary(), age=timedelta(days=2, hours=1))

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert (code, report["reconciliation"]["stale"]) == (1, True)
    (problem,) = report["problems"]
    assert problem["kind"] == "reconciliation_stale"
    assert "2 d 1 h ago" in problem["summary"]
    assert f"list-executions --state-machine-arn {STATE_MACHINE_ARN}" in problem["fix"]


def test_status_takes_a_longer_reconciliation_age_for_a_weekly_report(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=run_summary(), age=timedelta(days=3))

    code, out, _ = run_status(
        capsys, "--stack", stack.name, "--max-reconciliation-age-hours", str(8 * 24), "--json"
    )

    assert (code, json.loads(out)["reconciliation"]["stale"]) == (0, False)


def test_status_names_the_check_that_covers_failed_reconciliation_batches(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = run_summary(failed=2)
    stack = reconciled_stack(summary=summary, age=timedelta(hours=1))

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    assert code == 1
    fix = fixes(json.loads(out))["reconciliation_batches_failed"]
    assert fix.endswith(f"size-recorder check --inventory {summary['inventory']} --fix")
    command = shlex.split(fix.rpartition("then: ")[2])
    assert build_parser().parse_args(command[1:]).inventory == summary["inventory"]


def test_status_before_the_first_reconciliation_says_none_has_finished_without_exit_one(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=None)

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert code == 0
    assert (report["reconciliation"]["configured"], report["reconciliation"]["last_run"]) == (
        True,
        None,
    )
    assert any("no summary at s3://" in item for item in report["not_checked"])
    assert "all clear in what was checked" in run_status(capsys, "--stack", stack.name)[1]


def test_status_with_an_unreadable_reconciliation_summary_says_why_and_goes_on(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=b"<html>not a summary</html>")

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert code == 0
    assert report["reconciliation"]["error"].startswith("not a reconciliation summary")
    assert any("could not be read" in item for item in report["not_checked"])


def test_status_of_a_stack_without_a_reconciliation_says_it_is_not_configured(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_stack()

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    reconciliation = json.loads(out)["reconciliation"]
    assert code == 0
    assert (reconciliation["configured"], reconciliation["last_run"]) == (False, None)
    assert reconciliation["note"].startswith(
        f"not configured: stack {stack.name} has no ReconciliationSummaryUrl output"
    )


def test_status_without_a_stack_does_not_claim_the_reconciliation_is_not_configured(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = status_json(capsys, queues)

    assert code == 0
    assert report["reconciliation"]["configured"] is None
    assert report["reconciliation"]["note"].startswith("not checked: pass --stack NAME")
    assert any(item.startswith("the reconciliation's last run") for item in report["not_checked"])


def test_status_points_a_reconciliation_alarm_at_its_runbook_row(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=run_summary(), age=timedelta(hours=1))
    drift = stack.alarm("ReconcileDrift", c.METRIC_RECONCILE_DRIFT, namespace=c.METRICS_NAMESPACE)
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=drift, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [9.0]"
    )

    code, out, _ = run_status(capsys, "--stack", stack.name, "--json")

    report = json.loads(out)
    assert code == 1
    assert report["alarms"]["alarms"][0]["runbook_row"] == "ReconcileDrift"
    assert "the ReconcileDrift row of the runbook" in fixes(report)["alarm"]


def test_status_reads_the_reconciliation_summary_a_flag_names_without_a_stack(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = reconciled_stack(summary=run_summary(), age=timedelta(hours=1))
    url = stack.outputs[c.OUTPUT_RECONCILE_SUMMARY_URL]

    code, report = status_json(capsys, queues, "--reconciliation-summary", url)

    assert code == 0
    assert report["reconciliation"]["last_run"]["rows_checked"] == 10_000
