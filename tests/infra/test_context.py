"""CDK context → settings: defaults, string values from `-c`, and bad values failing synth with
a message that names the context key. No synthesis here: these fail while the stack is built."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest
from aws_cdk import App

from size_recorder_cdk.context import STACK_NAME_KEY, props_from_mapping
from size_recorder_cdk.props import SizeRecorderConfigError, SizeRecorderProps, context_key
from size_recorder_cdk.stack import SizeRecorderStack
from tests.infra.conftest import (
    REQUIRED,
    ROOT,
    SECRET_ARN,
    SECURITY_GROUP_ID,
    SUBNET_IDS,
    VPC_ID,
    app_context,
    project_context,
)


def settings(**values: Any) -> SizeRecorderProps:
    """Props from cdk.json plus the required settings plus `values` (prop names → raw values)."""
    return props_from_mapping(
        {k: v for k, v in app_context(**values).items() if k.startswith("size-recorder:")}
    )


def rejected(**values: Any) -> str:
    with pytest.raises(SizeRecorderConfigError) as caught:
        settings(**values)
    return str(caught.value)


def test_context_cdk_json_lists_every_setting_with_the_props_default() -> None:
    context = project_context()
    for f in fields(SizeRecorderProps):
        key = context_key(f.name)
        assert key in context, f"cdk.json lacks {key}"
        default = f.default
        expected = (
            "" if default is None else list(default) if isinstance(default, tuple) else default
        )
        assert context[key] == expected, key
    assert STACK_NAME_KEY in context


def test_context_every_key_is_documented_in_the_deploy_guide() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for key in [STACK_NAME_KEY, *(context_key(f.name) for f in fields(SizeRecorderProps))]:
        assert f"| `{key}` |" in guide, f"docs/deploy.md's settings table lacks {key}"


def test_context_required_settings_are_missing_from_cdk_json() -> None:
    message = rejected(table="", db_secret_arn="")
    assert "'size-recorder:dbSecretArn'" in message
    assert "'size-recorder:table'" in message
    assert "'size-recorder:targets'" in message


def test_context_strings_from_the_command_line_are_parsed() -> None:
    props = settings(
        batch_size="25",
        vpc_endpoints="false",
        vpc_id=VPC_ID,
        subnet_ids=" , ".join(SUBNET_IDS),
        security_group_ids=SECURITY_GROUP_ID,
        visibility_timeout_seconds="900",
    )
    assert props.batch_size == 25
    assert props.vpc_endpoints is False
    assert props.subnet_ids == SUBNET_IDS
    assert props.security_group_ids == (SECURITY_GROUP_ID,)
    assert props.effective_visibility_timeout_seconds == 900


def test_context_targets_accepts_a_json_list_or_its_text() -> None:
    targets = [{"prefix": "media/", "table": "documents_document"}]
    as_list = settings(table="", targets=targets)
    as_text = settings(table="", targets=json.dumps(targets))
    assert json.loads(as_list.targets or "") == json.loads(as_text.targets or "") == targets


@pytest.mark.parametrize(
    ("values", "keys"),
    [
        pytest.param({"targets": '[{"table": "t"}]'}, ["targets", "table"], id="table+targets"),
        pytest.param(
            {"table": "", "targets": '[{"table": "t"}]', "key_column": "path"},
            ["targets", "keyColumn"],
            id="targets+key_column",
        ),
        pytest.param({"table": "", "targets": "[{"}, ["targets"], id="targets-not-json"),
        pytest.param({"table": "", "targets": "[]"}, ["targets"], id="targets-empty"),
        pytest.param({"table": "docs; drop table x"}, ["table"], id="table-not-identifier"),
        pytest.param({"size_column": "size bytes"}, ["sizeColumn"], id="column-not-identifier"),
        pytest.param({"db_secret_arn": "prod/db"}, ["dbSecretArn"], id="secret-not-arn"),
        pytest.param({"vpc_id": VPC_ID}, ["subnetIds", "securityGroupIds"], id="vpc-no-subnets"),
        pytest.param({"subnet_ids": SUBNET_IDS[0]}, ["vpcId"], id="subnets-no-vpc"),
        pytest.param({"vpc_id": "vpc-1"}, ["vpcId"], id="vpc-id-malformed"),
        pytest.param(
            {"alarm_email": "ops@example.com", "alarm_topic_arn": "arn:aws:sns:eu-west-1:1:t"},
            ["alarmEmail", "alarmTopicArn"],
            id="email+topic",
        ),
        pytest.param(
            {"statement_timeout_ms": 20_000, "function_timeout_seconds": 30},
            ["statementTimeoutMs", "functionTimeoutSeconds"],
            id="statement-timeout-not-well-under-function-timeout",
        ),
        pytest.param(
            {"visibility_timeout_seconds": 60},
            ["visibilityTimeoutSeconds"],
            id="visibility-below-6x-timeout",
        ),
        pytest.param({"max_receive_count": 3}, ["maxReceiveCount"], id="receive-count-below-5"),
        pytest.param({"max_concurrency": 1}, ["maxConcurrency"], id="concurrency-below-2"),
        pytest.param(
            {"batch_size": 100, "max_batching_window_seconds": 0},
            ["batchSize", "maxBatchingWindowSeconds"],
            id="big-batch-no-window",
        ),
        pytest.param({"queue_retention_days": 14}, ["queueRetentionDays"], id="retention-vs-dlq"),
        pytest.param({"architecture": "arm"}, ["architecture"], id="architecture"),
        pytest.param({"log_retention_days": 10}, ["logRetentionDays"], id="log-retention"),
        pytest.param(
            {"existing_bucket_name": "media", "noncurrent_version_expiration_days": 30},
            ["noncurrentVersionExpirationDays", "existingBucketName"],
            id="lifecycle-on-existing-bucket",
        ),
    ],
)
def test_context_bad_or_contradictory_values_name_their_keys(
    values: dict[str, Any], keys: list[str]
) -> None:
    message = rejected(**values)
    for key in keys:
        assert f"'size-recorder:{key}'" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [("batchSize", "ten"), ("vpcEndpoints", "yes"), ("batchSize", True), ("table", 5)],
)
def test_context_value_of_the_wrong_type_names_its_key(key: str, value: Any) -> None:
    with pytest.raises(SizeRecorderConfigError, match=re.escape(f"'size-recorder:{key}'")):
        props_from_mapping({**_required_context(), f"size-recorder:{key}": value})


def test_context_unknown_key_is_a_typo_not_ignored() -> None:
    with pytest.raises(SizeRecorderConfigError, match="size-recorder:batchSise"):
        props_from_mapping({**_required_context(), "size-recorder:batchSise": 10})


def test_context_error_fails_the_stack_before_synth() -> None:
    context = app_context(db_secret_arn="")
    with pytest.raises(SizeRecorderConfigError, match="'size-recorder:dbSecretArn'"):
        SizeRecorderStack(App(context=context), "SizeRecorder")


def test_context_every_problem_is_reported_at_once() -> None:
    message = rejected(db_secret_arn="", max_receive_count=1, architecture="sparc")
    assert message.count("\n  - ") == 3


def test_props_used_directly_are_validated_too() -> None:
    with pytest.raises(SizeRecorderConfigError, match="'size-recorder:table'"):
        SizeRecorderStack(App(), "SizeRecorder", props=SizeRecorderProps(db_secret_arn=SECRET_ARN))


def _required_context() -> dict[str, Any]:
    return {context_key(name): value for name, value in REQUIRED.items()}
