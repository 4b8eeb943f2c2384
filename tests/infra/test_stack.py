"""Template assertions: what the stack behind cdk.json provisions, and what holds for every
configuration (tests/infra/test_construct.py covers the construct given CDK objects)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from size_recorder import constants as c
from size_recorder.core.config import Settings
from size_recorder.ops.reconcile_lambda import summary_keys
from size_recorder.ops.status import RUNBOOK_ROWS
from size_recorder_cdk.construct import NOTIFICATIONS_HANDLER_ID
from tests.infra.apps import (
    APP_SECURITY_GROUP_ID,
    CLUSTER_HOST,
    EXISTING_BUCKET,
    IAM_USER,
    KMS_KEY_ARN,
    SECRET_ARN,
    SECURITY_GROUP_ID,
    SUBNET_IDS,
    TOPIC_ARN,
    VPC_CIDR,
    Synthesized,
    app_context,
    synthesize,
)


def recorder_function(s: Synthesized) -> dict[str, Any]:
    """The recorder function (CDK's notifications handler is a function too)."""
    found = [
        r["Properties"]
        for r in s.of_type("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == c.HANDLER
    ]
    assert len(found) == 1
    return found[0]


def queues(s: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    """(source queue, dead-letter queue), told apart by the redrive policy."""
    queues = [r["Properties"] for r in s.of_type("AWS::SQS::Queue").values()]
    source = [q for q in queues if "RedrivePolicy" in q]
    dlq = [q for q in queues if "RedrivePolicy" not in q]
    assert len(source) == 1
    assert len(dlq) == 1
    return source[0], dlq[0]


RECORDER_ROLE = "SizeRecorderRole"  # its logical id's prefix (CDK drops the path's "Recorder")


def recorder_policy(s: Synthesized) -> list[dict[str, Any]]:
    """Statements of the recorder role's own policy."""
    for policy in s.of_type("AWS::IAM::Policy").values():
        if RECORDER_ROLE in json.dumps(policy["Properties"]["Roles"]):
            statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise AssertionError("no policy on the recorder role")


def queue_allows(s: Synthesized) -> list[dict[str, Any]]:
    """The Allow statements of the source queue's policy."""
    source = next(
        k for k, v in s.of_type("AWS::SQS::Queue").items() if "RedrivePolicy" in v["Properties"]
    )
    return [
        statement
        for policy in s.of_type("AWS::SQS::QueuePolicy").values()
        if policy["Properties"]["Queues"] == [{"Ref": source}]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]


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


def test_existing_bucket_is_imported_not_created(existing_bucket_in_vpc: Synthesized) -> None:
    existing_bucket_in_vpc.template.resource_count_is("AWS::S3::Bucket", 0)


def test_existing_bucket_defaults_to_eventbridge_without_the_notifications_handler(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    """Nothing rewrites the bucket's notification configuration: CDK's handler has dropped
    notifications it did not create (aws-cdk#29004, #30607, #28120, #29653)."""
    assert existing_bucket_in_vpc.recorder.event_source == "eventbridge"
    existing_bucket_in_vpc.template.resource_count_is("Custom::S3BucketNotifications", 0)
    existing_bucket_in_vpc.template.resource_count_is("AWS::Lambda::Function", 1)


def test_eventbridge_rule_matches_the_bucket_under_each_target_prefix_and_suffix(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    rule = existing_bucket_in_vpc.one("AWS::Events::Rule")
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [EXISTING_BUCKET]},
            # One per target prefix, each with the suffix: a prefix and a suffix together on
            # one field need EventBridge's wildcard.
            "object": {"key": [{"wildcard": "avatars/*.pdf"}, {"wildcard": "media/*.pdf"}]},
        },
    }


def test_eventbridge_queue_policy_admits_only_this_rule(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    (allow,) = queue_allows(existing_bucket_in_vpc)
    rule_id = next(iter(existing_bucket_in_vpc.of_type("AWS::Events::Rule")))
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    assert "sqs:SendMessage" in allow["Action"]


def test_eventbridge_undeliverable_events_go_to_the_dlq(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    (target,) = existing_bucket_in_vpc.one("AWS::Events::Rule")["Targets"]
    _, dlq_props = queues(existing_bucket_in_vpc)
    dlq = next(
        k
        for k, v in existing_bucket_in_vpc.of_type("AWS::SQS::Queue").items()
        if v["Properties"] == dlq_props
    )
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}


def test_existing_bucket_output_names_it(existing_bucket_in_vpc: Synthesized) -> None:
    outputs = existing_bucket_in_vpc.template.to_json()["Outputs"]
    assert outputs[c.OUTPUT_BUCKET_NAME]["Value"] == EXISTING_BUCKET
    assert outputs[c.OUTPUT_ALARM_TOPIC_ARN]["Value"] == TOPIC_ARN


def test_queue_admits_only_its_event_sources(any_config: Synthesized) -> None:
    """One Allow per wired bucket: S3 from that bucket in its owner's account, or that bucket's
    EventBridge rule (whose ARN names the account; CDK's SqsQueue target sets no more)."""
    allows = queue_allows(any_config)
    assert len(allows) == len(any_config.recorder.buckets)
    principal = {"notification": "s3.amazonaws.com", "eventbridge": "events.amazonaws.com"}
    keys = {
        "notification": {"ArnLike": ["aws:SourceArn"], "StringEquals": ["aws:SourceAccount"]},
        "eventbridge": {"ArnEquals": ["aws:SourceArn"]},
    }
    for allow in allows:
        assert allow["Principal"] == {"Service": principal[any_config.recorder.event_source]}
        found = {operator: list(values) for operator, values in allow["Condition"].items()}
        assert found == keys[any_config.recorder.event_source]


def test_s3_may_send_only_from_the_buckets_own_account(new_bucket: Synthesized) -> None:
    """A bucket ARN names no account: without aws:SourceAccount, a bucket of the same name in
    another account would be admitted."""
    (allow,) = queue_allows(new_bucket)
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_queues_encrypted_so_s3_can_deliver_and_ssl_enforced(any_config: Synthesized) -> None:
    source, dlq = queues(any_config)
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
    source, dlq = queues(any_config)
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert source["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]


def test_queue_defaults_match_the_shared_constants(new_bucket: Synthesized) -> None:
    source, _ = queues(new_bucket)
    assert source["RedrivePolicy"]["maxReceiveCount"] == c.DEFAULT_MAX_RECEIVE_COUNT == 8
    assert source["VisibilityTimeout"] == c.DEFAULT_VISIBILITY_TIMEOUT_S


def test_visibility_timeout_covers_six_function_timeouts_plus_window(
    context_config: Synthesized,
) -> None:
    source, _ = queues(context_config)
    function = recorder_function(context_config)
    mapping = context_config.one("AWS::Lambda::EventSourceMapping")
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
    function = recorder_function(new_bucket)
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert "ReservedConcurrentExecutions" not in function
    assert "VpcConfig" not in function


def test_function_environment_single_table(new_bucket: Synthesized) -> None:
    env = recorder_function(new_bucket)["Environment"]["Variables"]
    assert env[c.ENV_DB_SECRET_ARN] == SECRET_ARN
    assert env[c.ENV_TABLE] == "public.documents_document"
    assert env["POWERTOOLS_SERVICE_NAME"] == c.SERVICE_NAME
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == c.METRICS_NAMESPACE
    assert (
        int(env[c.ENV_STATEMENT_TIMEOUT_MS]) <= recorder_function(new_bucket)["Timeout"] * 1000 / 2
    )
    assert c.ENV_DATABASE_URL not in env
    assert c.ENV_TARGETS not in env
    assert c.ENV_KEY_COLUMN not in env  # the recorder's own default applies


def test_function_environment_is_accepted_by_the_recorder(context_config: Synthesized) -> None:
    """The recorder's own start-up validation, run on what the stack sets."""
    env = recorder_function(context_config)["Environment"]["Variables"]
    settings = Settings.from_env(env)
    assert settings.database_url is None
    assert (settings.db_secret_arn, settings.db_iam_user) in {(SECRET_ARN, None), (None, IAM_USER)}


def test_function_environment_iam_auth_from_context(iam_cluster_in_vpc: Synthesized) -> None:
    env = recorder_function(iam_cluster_in_vpc)["Environment"]["Variables"]
    assert {name: env.get(name) for name in _DATABASE_VARIABLES} == {
        c.ENV_DB_SECRET_ARN: None,
        c.ENV_DB_IAM_USER: IAM_USER,
        c.ENV_DB_HOST: CLUSTER_HOST,
        c.ENV_DB_PORT: "5432",
        c.ENV_DB_NAME: "documents",
    }


_DATABASE_VARIABLES = (
    c.ENV_DB_SECRET_ARN,
    c.ENV_DB_IAM_USER,
    c.ENV_DB_HOST,
    c.ENV_DB_PORT,
    c.ENV_DB_NAME,
)


def test_function_environment_with_a_secret_sets_no_address(new_bucket: Synthesized) -> None:
    """The secret's own host, port and dbname apply: nothing overrides them unless asked."""
    env = recorder_function(new_bucket)["Environment"]["Variables"]
    assert {name for name in _DATABASE_VARIABLES if name in env} == {c.ENV_DB_SECRET_ARN}


def test_function_environment_targets(existing_bucket_in_vpc: Synthesized) -> None:
    env = recorder_function(existing_bucket_in_vpc)["Environment"]["Variables"]
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
    function = recorder_function(existing_bucket_in_vpc)
    assert function["VpcConfig"] == {
        "SubnetIds": list(SUBNET_IDS),
        "SecurityGroupIds": [SECURITY_GROUP_ID],
    }
    assert function["Architectures"] == ["x86_64"]


def endpoint_services(s: Synthesized) -> list[str]:
    """The services the stack's interface endpoints serve, each with private DNS on."""
    endpoints = [e["Properties"] for e in s.of_type("AWS::EC2::VPCEndpoint").values()]
    assert all(e["PrivateDnsEnabled"] is True for e in endpoints)
    return sorted(
        service
        for e in endpoints
        for service in ("secretsmanager", "sqs")
        if f'.{service}"' in json.dumps(e["ServiceName"])
    )


def endpoint_ingress(s: Synthesized) -> list[dict[str, Any]]:
    """Every way into the endpoints' security group: its own rules, and the separate ones."""
    (group,) = [
        v["Properties"]
        for k, v in s.of_type("AWS::EC2::SecurityGroup").items()
        if "EndpointSecurityGroup" in k
    ]
    separate = [r["Properties"] for r in s.of_type("AWS::EC2::SecurityGroupIngress").values()]
    return [*group.get("SecurityGroupIngress", []), *separate]


def test_vpc_endpoints_with_a_secret_serve_secrets_manager_and_sqs(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    assert endpoint_services(existing_bucket_in_vpc) == ["secretsmanager", "sqs"]


def test_vpc_endpoints_admit_the_whole_vpc_whose_dns_they_answer(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    """Private DNS sends every workload in the VPC (the Django app's secret reads too) to the
    endpoints: the VPC's CIDR is admitted, besides the function's group."""
    sources = {
        rule.get("CidrIp") or rule.get("SourceSecurityGroupId"): (rule["FromPort"], rule["ToPort"])
        for rule in endpoint_ingress(existing_bucket_in_vpc)
    }
    assert sources == {VPC_CIDR: (443, 443), SECURITY_GROUP_ID: (443, 443)}


def test_vpc_endpoints_with_iam_auth_serve_sqs_only(iam_cluster_in_vpc: Synthesized) -> None:
    """IAM auth signs its token locally: no Secrets Manager endpoint to clash with the VPC's."""
    assert endpoint_services(iam_cluster_in_vpc) == ["sqs"]


def test_vpc_endpoints_admit_the_chosen_peers_instead_of_the_cidr(
    iam_cluster_in_vpc: Synthesized,
) -> None:
    sources = sorted(
        rule.get("CidrIp") or rule.get("SourceSecurityGroupId")
        for rule in endpoint_ingress(iam_cluster_in_vpc)
    )
    assert sources == sorted([VPC_CIDR, APP_SECURITY_GROUP_ID, SECURITY_GROUP_ID])


def test_iam_recorder_statements_are_exactly_these(new_bucket: Synthesized) -> None:
    statements = recorder_policy(new_bucket)
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
    for statement in recorder_policy(any_config):
        actions = statement["Action"]
        actions = actions if isinstance(actions, list) else [actions]
        assert not any("*" in action for action in actions), statement
        assert "*" not in json.dumps(statement["Resource"]), statement


def test_iam_managed_policy_only_for_vpc_networking(any_config: Synthesized) -> None:
    """Logs go to our own log group through our own statement, not AWSLambdaBasicExecutionRole."""
    ours = [
        role["Properties"]
        for logical_id, role in any_config.of_type("AWS::IAM::Role").items()
        if logical_id.startswith(RECORDER_ROLE)
    ]
    assert len(ours) == 1
    managed = json.dumps(ours[0].get("ManagedPolicyArns", []))
    in_vpc = "VpcConfig" in recorder_function(any_config)
    assert ("AWSLambdaVPCAccessExecutionRole" in managed) == in_vpc
    assert "AWSLambdaBasicExecutionRole" not in managed


def test_iam_secret_key_decrypt_only_through_secrets_manager(
    existing_bucket_in_vpc: Synthesized,
) -> None:
    statements = recorder_policy(existing_bucket_in_vpc)
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


def test_outputs_leave_out_the_reconciliation_the_stack_does_not_have(
    new_bucket: Synthesized,
) -> None:
    outputs = new_bucket.template.to_json()["Outputs"]
    assert not {
        c.OUTPUT_RECONCILE_STATE_MACHINE_ARN,
        c.OUTPUT_INVENTORY_DESTINATION,
        c.OUTPUT_RECONCILE_SUMMARY_URL,
    } & set(outputs)


INVENTORY_BUCKET = "acme-inventory"


@pytest.fixture(scope="module")
def reconciled_existing_bucket() -> Synthesized:
    """`-c reconcile=true` on an existing bucket, with its inventory's destination named."""
    return synthesize(
        app_context(
            existing_bucket_name=EXISTING_BUCKET,
            reconcile="true",
            inventory_destination_bucket_name=INVENTORY_BUCKET,
        )
    )


def test_context_reconcile_adds_the_reconciliation_and_its_outputs(
    reconciled_existing_bucket: Synthesized,
) -> None:
    s = reconciled_existing_bucket
    reconciliation = s.recorder.reconciliation
    assert reconciliation is not None
    outputs = s.template.to_json()["Outputs"]
    machine = s.stack.resolve(reconciliation.state_machine.state_machine_arn)
    assert outputs[c.OUTPUT_RECONCILE_STATE_MACHINE_ARN]["Value"] == machine
    assert outputs[c.OUTPUT_INVENTORY_DESTINATION]["Value"] == INVENTORY_BUCKET
    assert outputs[c.OUTPUT_RECONCILE_SUMMARY_URL]["Value"] == (
        f"s3://{INVENTORY_BUCKET}/reconciliation/{c.RECONCILE_LATEST_NAME}"
    )


def test_reconciliation_summary_output_is_where_the_summary_step_writes(
    reconciled_existing_bucket: Synthesized,
) -> None:
    """The output names the key `summary_keys` gives for the ResultWriter's prefix."""
    s = reconciled_existing_bucket
    reconciliation = s.recorder.reconciliation
    assert reconciliation is not None
    results_key = f"{reconciliation.results_prefix}/map-run-id/manifest.json"
    _, latest = summary_keys(results_key)
    url = s.template.to_json()["Outputs"][c.OUTPUT_RECONCILE_SUMMARY_URL]["Value"]
    assert url == f"s3://{INVENTORY_BUCKET}/{latest}"


def test_every_alarm_of_a_reconciled_stack_has_its_runbook_row(
    reconciled_existing_bucket: Synthesized,
) -> None:
    """`size-recorder status` points each alarm in ALARM at its row of the runbook's table."""
    watched = {
        (alarm["Properties"]["Namespace"], alarm["Properties"]["MetricName"])
        for alarm in reconciled_existing_bucket.of_type("AWS::CloudWatch::Alarm").values()
    }
    assert watched
    assert watched <= set(RUNBOOK_ROWS)


def test_log_group_has_retention(new_bucket: Synthesized) -> None:
    new_bucket.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_notifications_handler_logs_to_a_group_with_retention(new_bucket: Synthesized) -> None:
    """CDK's handler would log to Lambda's implicit group, kept forever."""
    (handler,) = [
        v["Properties"]
        for k, v in new_bucket.of_type("AWS::Lambda::Function").items()
        if k.startswith(NOTIFICATIONS_HANDLER_ID)
    ]
    log_group = handler["LoggingConfig"]["LogGroup"]["Ref"]
    assert new_bucket.resources[log_group]["Properties"] == {"RetentionInDays": 30}


def test_snap_start_invokes_a_published_version_through_the_live_alias(
    iam_cluster_in_vpc: Synthesized,
) -> None:
    assert recorder_function(iam_cluster_in_vpc)["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    ((version_id, version),) = iam_cluster_in_vpc.of_type("AWS::Lambda::Version").items()
    alias = iam_cluster_in_vpc.one("AWS::Lambda::Alias")
    assert alias["Name"] == "live"
    assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    # Each replaced version goes: every version keeps a snapshot cached, and charged for.
    assert version["DeletionPolicy"] == "Delete"
    alias_id = next(iter(iam_cluster_in_vpc.of_type("AWS::Lambda::Alias")))
    mapping = iam_cluster_in_vpc.one("AWS::Lambda::EventSourceMapping")
    assert json.dumps({"Ref": alias_id}) in json.dumps(mapping["FunctionName"])


def test_without_snap_start_the_queue_invokes_the_function(new_bucket: Synthesized) -> None:
    new_bucket.template.resource_count_is("AWS::Lambda::Alias", 0)
    new_bucket.template.resource_count_is("AWS::Lambda::Version", 0)
    assert "SnapStart" not in recorder_function(new_bucket)
