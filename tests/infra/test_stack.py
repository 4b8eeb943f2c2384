"""Template assertions: what the stack provisions, for each configuration."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from size_recorder import constants as c
from size_recorder.core.config import Settings
from tests.infra.conftest import (
    EXISTING_BUCKET,
    KMS_KEY_ARN,
    NEW_BUCKET,
    SECRET_ARN,
    SECURITY_GROUP_ID,
    SUBNET_IDS,
    TOPIC_ARN,
    Synthesized,
    app_context,
    synthesize,
)


def _function(s: Synthesized) -> dict[str, Any]:
    """The recorder function (CDK's notifications handler is a function too)."""
    found = [
        r["Properties"]
        for r in s.of_type("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == c.HANDLER
    ]
    assert len(found) == 1
    return found[0]


def _queues(s: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    """(source queue, dead-letter queue), told apart by the redrive policy."""
    queues = [r["Properties"] for r in s.of_type("AWS::SQS::Queue").values()]
    source = [q for q in queues if "RedrivePolicy" in q]
    dlq = [q for q in queues if "RedrivePolicy" not in q]
    assert len(source) == 1
    assert len(dlq) == 1
    return source[0], dlq[0]


def _recorder_policy(s: Synthesized) -> list[dict[str, Any]]:
    """Statements of the recorder role's own policy."""
    for policy in s.of_type("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if "Recorder" in roles or "SizeRecorderRole" in roles:
            statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise AssertionError("no policy on the recorder role")


def test_new_bucket_is_hardened(new_bucket: Synthesized) -> None:
    new_bucket.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": Match.object_like({}),
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
        },
    )
    policies = json.dumps(new_bucket.of_type("AWS::S3::BucketPolicy"))
    assert '"aws:SecureTransport": "false"' in policies


def test_new_bucket_notifies_the_queue_of_object_created(new_bucket: Synthesized) -> None:
    notification = new_bucket.one("Custom::S3BucketNotifications")
    configs = notification["NotificationConfiguration"]["QueueConfigurations"]
    assert [cfg["Events"] for cfg in configs] == [["s3:ObjectCreated:*"]]
    assert "Filter" not in configs[0]  # no prefix, no suffix: every object


def test_bucket_notifies_deletes_only_when_a_sequencer_column_orders_them() -> None:
    synthesized = synthesize(app_context(**NEW_BUCKET, sequencer_column="size_sequencer"))
    notification = synthesized.one("Custom::S3BucketNotifications")
    configs = notification["NotificationConfiguration"]["QueueConfigurations"]
    assert sorted(event for cfg in configs for event in cfg["Events"]) == [
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
    ]


def test_existing_bucket_is_imported_not_created(existing_bucket_in_vpc: Synthesized) -> None:
    existing_bucket_in_vpc.template.resource_count_is("AWS::S3::Bucket", 0)
    notification = existing_bucket_in_vpc.one("Custom::S3BucketNotifications")
    assert notification["BucketName"] == EXISTING_BUCKET
    # Unmanaged: the handler keeps the notifications the bucket already has.
    assert notification["Managed"] is False
    rules = notification["NotificationConfiguration"]["QueueConfigurations"][0]["Filter"]
    by_name = {rule["Name"]: rule["Value"] for rule in rules["Key"]["FilterRules"]}
    assert by_name == {"prefix": "media/", "suffix": ".pdf"}


def test_existing_bucket_output_names_it(existing_bucket_in_vpc: Synthesized) -> None:
    outputs = existing_bucket_in_vpc.template.to_json()["Outputs"]
    assert outputs[c.OUTPUT_BUCKET_NAME]["Value"] == EXISTING_BUCKET
    assert outputs[c.OUTPUT_ALARM_TOPIC_ARN]["Value"] == TOPIC_ARN


def test_queue_only_s3_from_this_bucket_may_send(any_config: Synthesized) -> None:
    statements = [
        st
        for policy in any_config.of_type("AWS::SQS::QueuePolicy").values()
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st["Effect"] == "Allow"
    ]
    assert len(statements) == 1
    assert statements[0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert "aws:SourceArn" in statements[0]["Condition"]["ArnLike"]


def test_queues_encrypted_so_s3_can_deliver_and_ssl_enforced(any_config: Synthesized) -> None:
    source, dlq = _queues(any_config)
    for queue in (source, dlq):
        assert queue["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in queue  # alias/aws/sqs would block S3's deliveries
    denies = [
        st
        for policy in any_config.of_type("AWS::SQS::QueuePolicy").values()
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st["Effect"] == "Deny"
    ]
    assert len(denies) == 2
    assert all(d["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for d in denies)


def test_dlq_keeps_messages_14_days_longer_than_the_source(any_config: Synthesized) -> None:
    source, dlq = _queues(any_config)
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert source["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]


def test_queue_defaults_match_the_shared_constants(new_bucket: Synthesized) -> None:
    source, _ = _queues(new_bucket)
    assert source["RedrivePolicy"]["maxReceiveCount"] == c.DEFAULT_MAX_RECEIVE_COUNT == 8
    assert source["VisibilityTimeout"] == c.DEFAULT_VISIBILITY_TIMEOUT_S


def test_visibility_timeout_covers_six_function_timeouts_plus_window(
    any_config: Synthesized,
) -> None:
    source, _ = _queues(any_config)
    function = _function(any_config)
    mapping = any_config.one("AWS::Lambda::EventSourceMapping")
    minimum = 6 * function["Timeout"] + mapping["MaximumBatchingWindowInSeconds"]
    assert source["VisibilityTimeout"] >= minimum


def test_event_source_reports_item_failures_with_cap_on_concurrency(
    new_bucket: Synthesized,
) -> None:
    new_bucket.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": c.DEFAULT_BATCH_SIZE,
            "MaximumBatchingWindowInSeconds": c.DEFAULT_BATCH_WINDOW_S,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": c.DEFAULT_MAX_CONCURRENCY},
        },
    )


def test_event_source_settings_follow_context(existing_bucket_in_vpc: Synthesized) -> None:
    mapping = existing_bucket_in_vpc.one("AWS::Lambda::EventSourceMapping")
    assert mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}


def test_function_runtime_architecture_and_handler(new_bucket: Synthesized) -> None:
    function = _function(new_bucket)
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert "ReservedConcurrentExecutions" not in function
    assert "VpcConfig" not in function


def test_function_environment_single_table(new_bucket: Synthesized) -> None:
    env = _function(new_bucket)["Environment"]["Variables"]
    assert env[c.ENV_DB_SECRET_ARN] == SECRET_ARN
    assert env[c.ENV_TABLE] == "public.documents_document"
    assert env["POWERTOOLS_SERVICE_NAME"] == c.SERVICE_NAME
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == c.METRICS_NAMESPACE
    assert int(env[c.ENV_STATEMENT_TIMEOUT_MS]) <= _function(new_bucket)["Timeout"] * 1000 / 2
    assert c.ENV_DATABASE_URL not in env
    assert c.ENV_TARGETS not in env
    assert c.ENV_KEY_COLUMN not in env  # the recorder's own default applies


def test_function_environment_is_accepted_by_the_recorder(any_config: Synthesized) -> None:
    """The recorder's own start-up validation, run on what the stack sets."""
    env = _function(any_config)["Environment"]["Variables"]
    settings = Settings.from_env(env)
    assert settings.db_secret_arn == SECRET_ARN
    assert settings.database_url is None


def test_function_environment_targets(existing_bucket_in_vpc: Synthesized) -> None:
    env = _function(existing_bucket_in_vpc)["Environment"]["Variables"]
    assert json.loads(env[c.ENV_TARGETS])[1] == {
        "prefix": "avatars/",
        "table": "accounts_profile",
        "size_column": "avatar_size",
    }
    assert c.ENV_TABLE not in env
    assert c.ENV_DATABASE_URL not in env


def test_no_vpc_means_no_endpoints_or_security_groups(new_bucket: Synthesized) -> None:
    new_bucket.template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    new_bucket.template.resource_count_is("AWS::EC2::SecurityGroup", 0)


def test_vpc_function_placed_in_given_subnets(existing_bucket_in_vpc: Synthesized) -> None:
    function = _function(existing_bucket_in_vpc)
    assert function["VpcConfig"] == {
        "SubnetIds": list(SUBNET_IDS),
        "SecurityGroupIds": [SECURITY_GROUP_ID],
    }
    assert function["Architectures"] == ["x86_64"]


def test_vpc_endpoints_reachable_from_function_only(existing_bucket_in_vpc: Synthesized) -> None:
    endpoints = existing_bucket_in_vpc.of_type("AWS::EC2::VPCEndpoint").values()
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)
    assert len(services) == 2
    assert "secretsmanager" in services[0]
    assert "sqs" in services[1]
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in endpoints)
    ingress = existing_bucket_in_vpc.one("AWS::EC2::SecurityGroupIngress")
    assert ingress["SourceSecurityGroupId"] == SECURITY_GROUP_ID
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)


def test_iam_recorder_statements_are_exactly_these(new_bucket: Synthesized) -> None:
    statements = _recorder_policy(new_bucket)
    actions = {json.dumps(sorted(st["Action"])): st["Resource"] for st in statements}
    assert set(actions) == {
        json.dumps(["logs:CreateLogStream", "logs:PutLogEvents"]),
        json.dumps(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]),
        json.dumps(
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ]
        ),
    }
    assert SECRET_ARN in actions.values()


def test_iam_no_wildcards_in_statements_we_wrote(any_config: Synthesized) -> None:
    for statement in _recorder_policy(any_config):
        actions = statement["Action"]
        actions = actions if isinstance(actions, list) else [actions]
        assert not any("*" in action for action in actions), statement
        assert "*" not in json.dumps(statement["Resource"]), statement


def test_iam_managed_policy_only_for_vpc_networking(any_config: Synthesized) -> None:
    """Logs go to our own log group through our own statement, not AWSLambdaBasicExecutionRole."""
    ours = [
        role["Properties"]
        for logical_id, role in any_config.of_type("AWS::IAM::Role").items()
        if "BucketNotificationsHandler" not in logical_id
    ]
    assert len(ours) == 1
    managed = json.dumps(ours[0].get("ManagedPolicyArns", []))
    in_vpc = "VpcConfig" in _function(any_config)
    assert ("AWSLambdaVPCAccessExecutionRole" in managed) == in_vpc
    assert "AWSLambdaBasicExecutionRole" not in managed


def test_iam_secret_key_decrypt_only_through_secrets_manager(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    statements = _recorder_policy(existing_bucket_in_vpc)
    kms = [st for st in statements if st["Action"] == "kms:Decrypt"]
    assert len(kms) == 1
    assert kms[0]["Resource"] == KMS_KEY_ARN
    assert "kms:ViaService" in json.dumps(kms[0]["Condition"])


def test_alarms_cover_every_signal_and_publish_to_topic(any_config: Synthesized) -> None:
    alarms = [a["Properties"] for a in any_config.of_type("AWS::CloudWatch::Alarm").values()]
    names = {a["MetricName"] for a in alarms}
    assert names == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
        c.METRIC_UNMATCHED,
        c.METRIC_INVALID,
    }
    assert all(a["TreatMissingData"] == "notBreaching" for a in alarms)
    assert all(len(a["AlarmActions"]) == 1 for a in alarms)


def test_recorder_metric_alarms_use_powertools_namespace_and_dimension(
    new_bucket: Synthesized,
) -> None:
    for metric in (c.METRIC_UNMATCHED, c.METRIC_INVALID):
        new_bucket.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": metric,
                "Namespace": c.METRICS_NAMESPACE,
                "Dimensions": [{"Name": "service", "Value": c.SERVICE_NAME}],
                "Statistic": "Sum",
            },
        )


def test_new_topic_with_email_subscription(new_bucket: Synthesized) -> None:
    new_bucket.template.resource_count_is("AWS::SNS::Topic", 1)
    new_bucket.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_existing_topic_is_not_created(existing_bucket_in_vpc: Synthesized) -> None:
    existing_bucket_in_vpc.template.resource_count_is("AWS::SNS::Topic", 0)
    alarms = existing_bucket_in_vpc.of_type("AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"]["AlarmActions"] == [TOPIC_ARN] for a in alarms)


def test_dashboard_exists(any_config: Synthesized) -> None:
    any_config.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_outputs_named_by_shared_constants(new_bucket: Synthesized) -> None:
    outputs = new_bucket.template.to_json()["Outputs"]
    assert {
        c.OUTPUT_BUCKET_NAME,
        c.OUTPUT_QUEUE_URL,
        c.OUTPUT_DLQ_URL,
        c.OUTPUT_FUNCTION_NAME,
        c.OUTPUT_ALARM_TOPIC_ARN,
    } <= set(outputs)


def test_log_group_has_retention(new_bucket: Synthesized) -> None:
    new_bucket.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
