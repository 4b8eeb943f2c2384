"""The construct given CDK objects: tokens flow, EventBridge or notifications per bucket, added
buckets, overrides, and the errors that stop a configuration S3 or CloudFormation would refuse.

Template tests read the session's synthesized apps (conftest.py); the errors are raised while
the construct is built, before any synth."""

from __future__ import annotations

import inspect
import itertools
import json
import re
from dataclasses import fields
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from size_recorder import constants as c
from size_recorder_cdk import (
    EventSource,
    RecorderTarget,
    SizeRecorder,
    SizeRecorderConfigError,
    SizeRecorderProps,
)
from tests.infra.apps import (
    ADDED_BUCKET,
    AVATARS_BUCKET,
    EXISTING_BUCKET,
    SECRET_ARN,
    Synthesized,
    feature_flags,
)
from tests.infra.test_stack import (
    RECORDER_ROLE,
    queue_allows,
    recorder_function,
    recorder_policy,
)

# --- The signature ---------------------------------------------------------------------------


def _comparable(default: Any) -> Any:
    """jsii hands out a new proxy for each `Architecture.ARM_64`: compare by name."""
    return default.name if isinstance(default, lambda_.Architecture) else default


def test_construct_keywords_are_exactly_the_props_fields_with_their_defaults() -> None:
    parameters = list(inspect.signature(SizeRecorder.__init__).parameters.values())[3:]
    assert [(p.name, p.annotation, _comparable(p.default)) for p in parameters] == [
        (f.name, f.type, _comparable(f.default)) for f in fields(SizeRecorderProps)
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)


# --- A team's own objects, as tokens (the `objects` app) -----------------------------------


def test_objects_one_rule_per_bucket_with_its_prefix_and_deletes(objects: Synthesized) -> None:
    patterns = sorted(
        (r["Properties"]["EventPattern"] for r in objects.of_type("AWS::Events::Rule").values()),
        key=json.dumps,
    )
    media = next(k for k, v in objects.of_type("AWS::S3::Bucket").items() if k.startswith("Media"))
    deletes = ["Object Created", "Object Deleted"]  # a sequencer column orders them
    assert patterns == [
        {
            "source": ["aws.s3"],
            "detail-type": deletes,
            "detail": {
                "bucket": {"name": [AVATARS_BUCKET]},
                "object": {"key": [{"prefix": "avatars/"}]},
            },
        },
        {
            "source": ["aws.s3"],
            "detail-type": deletes,
            "detail": {
                "bucket": {"name": [{"Ref": media}]},
                "object": {"key": [{"prefix": "media/"}]},
            },
        },
    ]
    assert objects.recorder.event_rule is objects.recorder.event_rules[0]


def test_objects_given_bucket_is_not_reconfigured_by_the_recorder(objects: Synthesized) -> None:
    """The only notifications resource is the team's own EventBridge switch on its bucket."""
    (notifications,) = objects.of_type("Custom::S3BucketNotifications").values()
    assert notifications["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {}
    }
    assert objects.recorder.access_log_bucket is None


def test_objects_tokens_reach_the_function_and_its_event_source(objects: Synthesized) -> None:
    function = recorder_function(objects)
    env = function["Environment"]["Variables"]
    secret = next(iter(objects.of_type("AWS::SecretsManager::Secret")))
    assert env[c.ENV_TABLE] == {"Ref": "Table"}
    assert env[c.ENV_DB_SECRET_ARN] == {"Ref": secret}
    assert function["Timeout"] == {"Ref": "Timeout"}
    mapping = objects.one("AWS::Lambda::EventSourceMapping")
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrency"}}
    source = next(
        q for q in objects.of_type("AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]
    )
    assert source["Properties"]["VisibilityTimeout"] == 300


def test_objects_secret_and_its_key_read_through_secrets_manager_only(
    objects: Synthesized,
) -> None:
    secret = next(iter(objects.of_type("AWS::SecretsManager::Secret")))
    reads = [
        st for st in recorder_policy(objects) if "secretsmanager:GetSecretValue" in st["Action"]
    ]
    assert [st["Resource"] for st in reads] == [{"Ref": secret}]
    # A key made in the same app: CDK's grant goes into its key policy, through Secrets Manager.
    key_policy = objects.one("AWS::KMS::Key")["KeyPolicy"]["Statement"]
    (ours,) = [st for st in key_policy if RECORDER_ROLE in json.dumps(st["Principal"])]
    assert ours["Action"] == "kms:Decrypt"
    assert "kms:ViaService" in ours["Condition"]["StringEquals"]


def test_objects_function_in_the_given_subnets_and_group(objects: Synthesized) -> None:
    vpc_config = recorder_function(objects)["VpcConfig"]
    group = next(
        k for k in objects.of_type("AWS::EC2::SecurityGroup") if k.startswith("RecorderGroup")
    )
    isolated = sorted(k for k in objects.of_type("AWS::EC2::Subnet") if "data" in k)
    assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    assert sorted(ref["Ref"] for ref in vpc_config["SubnetIds"]) == isolated
    ingress = [
        r["Properties"]
        for r in objects.of_type("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["FromPort"] == 443
    ]
    assert [i["SourceSecurityGroupId"] for i in ingress] == [{"Fn::GetAtt": [group, "GroupId"]}]


def test_objects_alarms_go_to_the_given_topic(objects: Synthesized) -> None:
    (topic,) = objects.of_type("AWS::SNS::Topic")
    alarms = objects.of_type("AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms)
    assert objects.recorder.alarm_topic is not None


# --- Existing buckets with notifications (the `notifications` app) --------------------------


def _queue_configurations(s: Synthesized) -> dict[str, list[dict[str, Any]]]:
    """Each bucket's queue notifications, by bucket name (or its Ref, as JSON)."""
    return {
        json.dumps(r["Properties"]["BucketName"]).strip('"'): r["Properties"][
            "NotificationConfiguration"
        ]["QueueConfigurations"]
        for r in s.of_type("Custom::S3BucketNotifications").values()
    }


def test_notifications_each_bucket_filtered_by_its_prefix_with_deletes(
    notifications: Synthesized,
) -> None:
    by_bucket = _queue_configurations(notifications)
    for bucket, prefix in ((EXISTING_BUCKET, "media/"), (ADDED_BUCKET, "uploads/")):
        configs = by_bucket[bucket]
        assert sorted(event for cfg in configs for event in cfg["Events"]) == [
            "s3:ObjectCreated:*",
            "s3:ObjectRemoved:Delete",
            "s3:ObjectRemoved:DeleteMarkerCreated",
        ]
        for cfg in configs:
            assert cfg["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": prefix}]


def test_notifications_without_a_sequencer_column_send_no_deletes(new_bucket: Synthesized) -> None:
    (configs,) = _queue_configurations(new_bucket).values()
    assert [cfg["Events"] for cfg in configs] == [["s3:ObjectCreated:*"]]


def test_notifications_keep_what_the_existing_buckets_already_have(
    notifications: Synthesized,
) -> None:
    """Managed false: CDK's handler writes back the notifications it did not create."""
    managed = [
        r["Properties"]["Managed"]
        for r in notifications.of_type("Custom::S3BucketNotifications").values()
    ]
    assert managed == [False, False]


def test_added_bucket_is_admitted_by_the_queue_and_grants_the_function_nothing(
    notifications: Synthesized,
) -> None:
    sources = [json.dumps(allow["Condition"]) for allow in queue_allows(notifications)]
    assert [EXISTING_BUCKET in s for s in sources] == [True, False]
    assert [ADDED_BUCKET in s for s in sources] == [False, True]
    granted = json.dumps(recorder_policy(notifications))
    assert "s3:" not in granted
    assert ADDED_BUCKET not in granted


def test_overrides_merge_over_the_defaults(notifications: Synthesized) -> None:
    function = recorder_function(notifications)
    assert function["Description"] == "ours"
    env = function["Environment"]["Variables"]
    assert env["APP_ENV"] == "production"
    assert env[c.ENV_TABLE] == "documents_document"
    queues = [q["Properties"] for q in notifications.of_type("AWS::SQS::Queue").values()]
    dlq = next(q for q in queues if "RedrivePolicy" not in q)
    assert dlq["QueueName"] == "size-recorder-dead-letters"
    assert dlq["SqsManagedSseEnabled"] is True  # the default the override did not touch
    assert dlq["MessageRetentionPeriod"] == c.DLQ_RETENTION_DAYS * 24 * 3600


# --- Refused configurations, before anything is made -----------------------------------------

_stacks = itertools.count()


@pytest.fixture(scope="module")
def app() -> App:
    return App(context=feature_flags())


@pytest.fixture
def stack(app: App) -> Stack:
    return Stack(app, f"Case{next(_stacks)}")


def required(stack: Stack) -> dict[str, Any]:
    return {
        "table": "documents_document",
        "database_secret": secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN),
    }


def imported(stack: Stack, name: str = EXISTING_BUCKET) -> s3.IBucket:
    return s3.Bucket.from_bucket_name(stack, f"Bucket-{name}", name)


def refused(stack: Stack, **props: Any) -> str:
    with pytest.raises(SizeRecorderConfigError) as caught:
        SizeRecorder(stack, "SizeRecorder", **{**required(stack), **props})
    return str(caught.value)


def test_existing_bucket_unfiltered_notification_is_refused_naming_the_fixes(
    stack: Stack,
) -> None:
    message = refused(stack, bucket=imported(stack), event_source=EventSource.NOTIFICATION)
    for fix in ("event_source", "notification_prefix", "allow_unfiltered_notification"):
        assert fix in message
    assert "S3 then refuses the whole configuration" in message


def test_existing_bucket_unfiltered_notification_allowed_when_opted_in(stack: Stack) -> None:
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        **required(stack),
        bucket=imported(stack),
        event_source="notification",  # type: ignore[arg-type]  # the plain string works too
        allow_unfiltered_notification=True,
    )
    assert recorder.event_source is EventSource.NOTIFICATION


def test_existing_bucket_notification_with_a_prefix_is_accepted(stack: Stack) -> None:
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        **required(stack),
        bucket=imported(stack),
        event_source=EventSource.NOTIFICATION,
        key_prefix="media/",
    )
    assert recorder.event_rule is None


def test_new_bucket_defaults_to_notification(stack: Stack) -> None:
    assert SizeRecorder(stack, "SizeRecorder", **required(stack)).event_source == "notification"


def test_added_bucket_without_a_prefix_is_refused_in_notification_mode(stack: Stack) -> None:
    recorder = SizeRecorder(stack, "SizeRecorder", **required(stack))
    with pytest.raises(SizeRecorderConfigError, match="allow_unfiltered_notification"):
        recorder.add_bucket(imported(stack, ADDED_BUCKET))


def test_added_bucket_already_wired_is_refused(stack: Stack) -> None:
    media = imported(stack)
    recorder = SizeRecorder(stack, "SizeRecorder", **required(stack), bucket=media)
    with pytest.raises(SizeRecorderConfigError, match="already reach the queue"):
        recorder.add_bucket(s3.Bucket.from_bucket_name(stack, "Again", EXISTING_BUCKET))


def test_added_bucket_no_target_routes_is_refused(stack: Stack) -> None:
    media = imported(stack)
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        database_secret=required(stack)["database_secret"],
        bucket=media,
        targets=[RecorderTarget(table="documents_document", bucket=media)],
    )
    with pytest.raises(SizeRecorderConfigError, match="no target routes this bucket's objects"):
        recorder.add_bucket(imported(stack, ADDED_BUCKET))


def pattern(stack: Stack, rule: events.Rule) -> Any:
    cfn_rule = rule.node.default_child
    assert isinstance(cfn_rule, events.CfnRule)
    return stack.resolve(cfn_rule.event_pattern)


def test_targets_of_one_bucket_filter_only_that_bucket(stack: Stack) -> None:
    media, legacy = imported(stack), imported(stack, ADDED_BUCKET)
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        database_secret=required(stack)["database_secret"],
        bucket=media,
        targets=[
            RecorderTarget(table="documents_document", prefix="media/", bucket=media),
            RecorderTarget(table="legacy_upload", prefix="uploads/", bucket=legacy),
            RecorderTarget(table="documents_document", prefix="media/thumbs/"),
        ],
    )
    recorder.add_bucket(legacy)
    assert [pattern(stack, rule)["detail"]["object"] for rule in recorder.event_rules] == [
        {"key": [{"prefix": "media/"}]},  # media/thumbs/ is inside media/
        {"key": [{"prefix": "media/thumbs/"}, {"prefix": "uploads/"}]},
    ]


@pytest.mark.parametrize(
    ("props", "named"),
    [
        pytest.param({"table": None}, ["table", "targets"], id="no-table"),
        pytest.param({"database_secret": None}, ["database_secret"], id="no-secret"),
        pytest.param(
            {"targets": [RecorderTarget(table="t")]}, ["targets", "table"], id="table+targets"
        ),
        pytest.param({"table": None, "targets": []}, ["targets"], id="targets-empty"),
        pytest.param({"table": "docs; drop table x"}, ["table"], id="table-not-identifier"),
        pytest.param({"event_source": "sqs"}, ["event_source"], id="event-source-unknown"),
        pytest.param(
            {"key_prefix": "my media/"},
            ["key_prefix", "notification_prefix"],
            id="prefix-encoded-in-events",
        ),
        pytest.param(
            {"vpc_subnets": ec2.SubnetSelection()}, ["vpc_subnets", "vpc"], id="subnets-no-vpc"
        ),
        pytest.param({"max_receive_count": 3}, ["max_receive_count"], id="receive-count-below-5"),
        pytest.param(
            {"visibility_timeout_seconds": 60},
            ["visibility_timeout_seconds"],
            id="visibility-below-6x",
        ),
        pytest.param(
            {"alarm_email": "ops@example.com", "alarm_topic": "topic"},
            ["alarm_email", "alarm_topic"],
            id="email+topic",
        ),
        pytest.param(
            {"queue_props": {"encryption": sqs.QueueEncryption.UNENCRYPTED}},
            ["queue_props"],
            id="queue-unencrypted",
        ),
        pytest.param(
            {"queue_props": {"encryption": sqs.QueueEncryption.KMS_MANAGED}},
            ["queue_props"],
            id="queue-aws-managed-key",
        ),
        pytest.param(
            {"dead_letter_queue_props": {"enforce_ssl": False}},
            ["dead_letter_queue_props"],
            id="dlq-ssl-off",
        ),
        pytest.param(
            {"queue_props": {"visibility_timeout": 1}},
            ["visibility_timeout_seconds"],
            id="queue-owned-keyword",
        ),
        pytest.param(
            {"queue_props": {"visibilty_timeout": 1}}, ["visibilty_timeout"], id="queue-typo"
        ),
        pytest.param(
            {"bucket_props": {"block_public_access": s3.BlockPublicAccess.BLOCK_ACLS}},
            ["bucket_props"],
            id="bucket-public",
        ),
        pytest.param(
            {"bucket_props": {"encryption": s3.BucketEncryption.UNENCRYPTED}},
            ["bucket_props"],
            id="bucket-unencrypted",
        ),
        pytest.param(
            {"function_props": {"environment": {c.ENV_DATABASE_URL: "postgres://u:p@h/d"}}},
            ["function_props"],
            id="function-password-in-env",
        ),
        pytest.param(
            {"function_props": {"role": None}}, ["recorder.function.role"], id="function-role"
        ),
    ],
)
def test_refused_props_name_what_to_change(
    stack: Stack, props: dict[str, Any], named: list[str]
) -> None:
    message = refused(stack, **props)
    for name in named:
        assert name in message


def test_existing_bucket_with_bucket_props_is_refused(stack: Stack) -> None:
    message = refused(stack, bucket=imported(stack), bucket_props={"versioned": False})
    assert "bucket and bucket_props" in message


def test_every_problem_is_reported_at_once(stack: Stack) -> None:
    message = refused(stack, database_secret=None, max_receive_count=1, batch_size=0)
    assert message.count("\n  - ") == 3


def test_token_queue_retention_is_refused(stack: Stack) -> None:
    days = CfnParameter(stack, "Days", type="Number").value_as_number
    assert "CloudFormation cannot multiply a token" in refused(stack, queue_retention_days=days)


def test_token_timeout_needs_an_explicit_visibility_timeout(stack: Stack) -> None:
    timeout = CfnParameter(stack, "Timeout", type="Number").value_as_number
    message = refused(stack, function_timeout_seconds=timeout)
    assert "visibility_timeout_seconds" in message


def test_token_values_skip_the_checks_that_need_a_concrete_value(stack: Stack) -> None:
    number = CfnParameter(stack, "Number", type="Number").value_as_number
    text = CfnParameter(stack, "Text").value_as_string
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        **required(stack),
        bucket=imported(stack),
        key_prefix=text,
        batch_size=number,
        memory_size_mb=number,
        log_retention_days=number,
        log_level=text,
    )
    assert recorder.event_source is EventSource.EVENTBRIDGE


def test_error_message_lines_name_props_not_internals(stack: Stack) -> None:
    message = refused(stack, memory_size_mb=64)
    assert re.search(r"^  - memory_size_mb: must be 128\.\.10240$", message, re.M)
