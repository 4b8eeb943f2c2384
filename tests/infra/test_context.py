"""CDK context → the construct's props: defaults, string values from `-c`, names and ids imported
as objects, and bad values failing synth with a message that names the context key. No
synthesis here: these fail, or pass, while the stack is built."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import fields
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_

from size_recorder_cdk import RecorderTarget, SizeRecorderConfigError
from size_recorder_cdk.context import (
    STACK_NAME_KEY,
    ContextSettings,
    context_key,
    recorder_props,
    settings_from_mapping,
)
from size_recorder_cdk.stack import SizeRecorderStack
from tests.infra.apps import (
    APP_SECURITY_GROUP_ID,
    CLUSTER_HOST,
    CLUSTER_RESOURCE_ID,
    IAM_CLUSTER_IN_VPC,
    IAM_USER,
    REQUIRED,
    ROOT,
    SECRET_ARN,
    SECURITY_GROUP_ID,
    SUBNET_IDS,
    TOPIC_ARN,
    VPC_CIDR,
    VPC_ID,
    app_context,
    feature_flags,
    project_context,
)

_stacks = itertools.count()


@pytest.fixture(scope="module")
def app() -> App:
    return App(context=feature_flags())


def props(app: App, **values: Any) -> dict[str, Any]:
    """The construct's keywords for cdk.json + the required settings + `values` (setting
    names → raw context values), imported into a fresh stack."""
    context = {k: v for k, v in app_context(**values).items() if k.startswith("size-recorder:")}
    stack = Stack(app, f"Context{next(_stacks)}")
    return recorder_props(stack, settings_from_mapping(context))


def rejected(app: App, **values: Any) -> str:
    with pytest.raises(SizeRecorderConfigError) as caught:
        props(app, **values)
    return str(caught.value)


def test_context_cdk_json_lists_every_setting_with_its_default() -> None:
    context = project_context()
    for f in fields(ContextSettings):
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
    for key in [STACK_NAME_KEY, *(context_key(f.name) for f in fields(ContextSettings))]:
        assert f"| `{key}` |" in guide, f"docs/deploy.md's settings table lacks {key}"


def test_context_required_settings_are_missing_from_cdk_json(app: App) -> None:
    message = rejected(app, table="", db_secret_arn="")
    assert "'size-recorder:dbSecretArn' and 'size-recorder:dbIamUser'" in message
    assert "'size-recorder:table'" in message
    assert "'size-recorder:targets'" in message


def test_context_strings_from_the_command_line_are_parsed(app: App) -> None:
    found = props(
        app,
        batch_size="25",
        vpc_endpoints="false",
        vpc_id=VPC_ID,
        subnet_ids=" , ".join(SUBNET_IDS),
        security_group_ids=SECURITY_GROUP_ID,
        visibility_timeout_seconds="900",
        allow_unfiltered_notification="true",
    )
    assert found["batch_size"] == 25
    assert found["vpc_endpoints"] is False
    assert found["visibility_timeout_seconds"] == 900
    assert found["allow_unfiltered_notification"] is True
    assert [s.subnet_id for s in found["vpc_subnets"].subnets] == list(SUBNET_IDS)
    assert [g.security_group_id for g in found["security_groups"]] == [SECURITY_GROUP_ID]


def test_context_names_and_ids_become_imported_objects(app: App) -> None:
    found = props(
        app,
        existing_bucket_name="acme-django-media",
        alarm_topic_arn=TOPIC_ARN,
        vpc_id=VPC_ID,
        subnet_ids=list(SUBNET_IDS),
        security_group_ids=[SECURITY_GROUP_ID],
        vpc_cidr_block=VPC_CIDR,
    )
    assert found["bucket"].bucket_name == "acme-django-media"
    assert found["database_secret"].secret_arn == SECRET_ARN
    assert found["alarm_topic"].topic_arn == TOPIC_ARN
    assert found["vpc"].vpc_id == VPC_ID
    assert found["vpc"].vpc_cidr_block == VPC_CIDR
    assert found["architecture"].name == lambda_.Architecture.ARM_64.name
    assert found["event_source"] is None  # the construct picks: EventBridge for this bucket


def test_context_reconcile_imports_the_inventory_destination_by_its_name(app: App) -> None:
    found = props(
        app,
        reconcile="true",
        existing_bucket_name="acme-django-media",
        inventory_destination_bucket_name="acme-inventory",
    )
    assert found["reconcile"] is True
    assert found["inventory_destination"].bucket_name == "acme-inventory"


def test_context_reconcile_is_off_and_names_no_destination_by_default(app: App) -> None:
    found = props(app)
    assert (found["reconcile"], found["inventory_destination"]) == (False, None)


def test_context_targets_accepts_a_json_list_or_its_text(app: App) -> None:
    targets = [{"prefix": "media/", "table": "documents_document"}]
    as_list = props(app, table="", targets=targets)
    as_text = props(app, table="", targets=json.dumps(targets))
    expected = [RecorderTarget(prefix="media/", table="documents_document")]
    assert as_list["targets"] == as_text["targets"] == expected


def test_context_target_naming_the_existing_bucket_shares_its_import(app: App) -> None:
    found = props(
        app,
        table="",
        existing_bucket_name="acme-django-media",
        targets=[
            {"bucket": "acme-django-media", "table": "documents_document"},
            {"bucket": "acme-avatars", "table": "accounts_profile"},
        ],
    )
    media, avatars = (target.bucket for target in found["targets"])
    assert media is found["bucket"]
    assert avatars.bucket_name == "acme-avatars"


RDS_MANAGED_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0a1b2c3d-AbCdEf"
PROXY_ARN = "arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0"


def test_context_rds_managed_secret_arn_is_accepted_with_the_databases_address(
    app: App,
) -> None:
    found = props(app, db_secret_arn=RDS_MANAGED_ARN, db_host=CLUSTER_HOST, db_name="documents")
    assert found["database_secret"].secret_arn == RDS_MANAGED_ARN
    assert (found["database_host"], found["database_name"]) == (CLUSTER_HOST, "documents")


def test_context_iam_auth_imports_the_cluster_by_its_pair_of_ids(app: App) -> None:
    found = props(app, **IAM_CLUSTER_IN_VPC)
    cluster = found["database_cluster"]
    assert (cluster.cluster_identifier, cluster.cluster_resource_identifier) == (
        "documents",
        CLUSTER_RESOURCE_ID,
    )
    assert cluster.cluster_endpoint.hostname == CLUSTER_HOST
    assert found["database_user"] == IAM_USER
    assert found["database_secret"] is None
    assert found["snap_start"] is True


@pytest.mark.parametrize(
    ("values", "prop", "attribute", "expected"),
    [
        pytest.param(
            {"db_instance_identifier": "documents", "db_instance_resource_id": "db-ABCDEFGH"},
            "database_instance",
            "instance_resource_id",
            "db-ABCDEFGH",
            id="instance",
        ),
        pytest.param(
            {"db_proxy_name": "documents", "db_proxy_arn": PROXY_ARN},
            "database_proxy",
            "db_proxy_arn",
            PROXY_ARN,
            id="proxy",
        ),
    ],
)
def test_context_iam_auth_imports_an_instance_or_a_proxy(
    app: App, values: dict[str, str], prop: str, attribute: str, expected: str
) -> None:
    found = props(app, db_secret_arn="", db_iam_user=IAM_USER, db_host=CLUSTER_HOST, **values)
    assert getattr(found[prop], attribute) == expected


def test_context_endpoint_peers_mix_cidrs_and_security_groups(app: App) -> None:
    found = props(app, **IAM_CLUSTER_IN_VPC)
    cidr, group = found["endpoint_peers"]
    assert cidr.unique_id == VPC_CIDR
    assert group.security_group_id == APP_SECURITY_GROUP_ID


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
        pytest.param(
            {"table": "", "targets": '[{"table": "t", "colour": "red"}]'},
            ["targets"],
            id="targets-unknown-field",
        ),
        pytest.param({"table": "docs; drop table x"}, ["table"], id="table-not-identifier"),
        pytest.param({"size_column": "size bytes"}, ["sizeColumn"], id="column-not-identifier"),
        pytest.param({"db_secret_arn": "prod/db"}, ["dbSecretArn"], id="secret-not-arn"),
        pytest.param(
            {"db_secret_arn": RDS_MANAGED_ARN}, ["dbHost", "dbSecretArn"], id="rds-managed-no-host"
        ),
        pytest.param(
            {"db_iam_user": IAM_USER, "db_proxy_name": "p", "db_proxy_arn": PROXY_ARN},
            ["dbSecretArn", "dbIamUser", "dbProxyName"],
            id="secret+iam",
        ),
        pytest.param(
            {"db_secret_arn": "", "db_iam_user": IAM_USER, "db_host": CLUSTER_HOST},
            ["dbIamUser", "dbInstanceIdentifier", "dbClusterIdentifier", "dbProxyName"],
            id="iam-no-database",
        ),
        pytest.param(
            {"db_secret_arn": "", "db_iam_user": IAM_USER, "db_proxy_arn": PROXY_ARN},
            ["dbProxyName", "dbProxyArn", "dbHost"],
            id="iam-half-a-pair-no-host",
        ),
        pytest.param(
            {"db_secret_arn": "", "db_proxy_name": "p", "db_proxy_arn": PROXY_ARN, "db_host": "h"},
            ["dbIamUser", "dbProxyName"],
            id="database-no-user",
        ),
        pytest.param(
            {"db_cluster_resource_id": "cluster-abc"}, ["dbClusterResourceId"], id="cluster-id"
        ),
        pytest.param({"db_port": 70_000}, ["dbPort"], id="port"),
        pytest.param({"vpc_id": VPC_ID}, ["subnetIds", "securityGroupIds"], id="vpc-no-subnets"),
        pytest.param({"subnet_ids": SUBNET_IDS[0]}, ["vpcId"], id="subnets-no-vpc"),
        pytest.param({"vpc_cidr_block": VPC_CIDR}, ["vpcId", "vpcCidrBlock"], id="cidr-no-vpc"),
        pytest.param(
            {
                "vpc_id": VPC_ID,
                "subnet_ids": list(SUBNET_IDS),
                "security_group_ids": [SECURITY_GROUP_ID],
            },
            ["vpcCidrBlock", "endpointPeers", "vpcEndpoints"],
            id="endpoints-no-cidr",
        ),
        pytest.param(
            {"endpoint_peers": "10.0.0.0/8,app-servers"}, ["endpointPeers"], id="peer-malformed"
        ),
        pytest.param({"vpc_id": "vpc-1"}, ["vpcId"], id="vpc-id-malformed"),
        pytest.param(
            {
                "vpc_id": VPC_ID,
                "subnet_ids": list(SUBNET_IDS),
                "security_group_ids": [SECURITY_GROUP_ID],
                "vpc_cidr_block": VPC_CIDR,
                "subnet_route_table_ids": "rtb-1,rtb-2",
            },
            ["subnetRouteTableIds"],
            id="route-table-id-malformed",
        ),
        pytest.param(
            {
                "vpc_id": VPC_ID,
                "subnet_ids": list(SUBNET_IDS),
                "security_group_ids": [SECURITY_GROUP_ID],
                "vpc_cidr_block": VPC_CIDR,
                "subnet_route_table_ids": "rtb-0aaaaaaaaaaaaaaa1",
            },
            ["subnetRouteTableIds", "subnetIds"],
            id="route-tables-not-one-per-subnet",
        ),
        pytest.param(
            {"subnet_route_table_ids": "rtb-0aaaaaaaaaaaaaaa1"},
            ["vpcId", "subnetRouteTableIds"],
            id="route-tables-no-vpc",
        ),
        pytest.param(
            {"alarm_email": "ops@example.com", "alarm_topic_arn": TOPIC_ARN},
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
        pytest.param({"event_source": "sqs"}, ["eventSource"], id="event-source-unknown"),
        pytest.param(
            {"reconcile": "true", "existing_bucket_name": "media"},
            ["inventoryDestinationBucketName", "existingBucketName", "reconcile"],
            id="reconcile-existing-bucket-no-destination",
        ),
        pytest.param(
            {"inventory_destination_bucket_name": "acme-inventory"},
            ["inventoryDestinationBucketName", "reconcile"],
            id="destination-without-reconcile",
        ),
        pytest.param(
            {"reconcile": "yes"},
            ["reconcile"],
            id="reconcile-not-a-boolean",
        ),
        pytest.param(
            {"reconcile": "true", "inventory_destination_bucket_name": "Acme_Inventory"},
            ["inventoryDestinationBucketName"],
            id="destination-not-a-bucket-name",
        ),
        pytest.param(
            {"existing_bucket_name": "media", "noncurrent_version_expiration_days": 30},
            ["noncurrentVersionExpirationDays", "existingBucketName"],
            id="lifecycle-on-existing-bucket",
        ),
        pytest.param(
            {"existing_bucket_name": "media", "event_source": "notification"},
            ["eventSource", "notificationPrefix", "allowUnfilteredNotification"],
            id="unfiltered-notification-on-existing-bucket",
        ),
    ],
)
def test_context_bad_or_contradictory_values_name_their_keys(
    app: App, values: dict[str, Any], keys: list[str]
) -> None:
    message = rejected(app, **values)
    for key in keys:
        assert f"'size-recorder:{key}'" in message


def test_context_existing_bucket_notification_under_a_prefix_is_accepted(app: App) -> None:
    found = props(
        app, existing_bucket_name="media", event_source="notification", key_prefix="media/"
    )
    assert found["event_source"] == "notification"


def test_context_existing_bucket_unfiltered_notification_with_opt_in_is_accepted(
    app: App,
) -> None:
    found = props(
        app,
        existing_bucket_name="media",
        event_source="notification",
        allow_unfiltered_notification=True,
    )
    assert found["allow_unfiltered_notification"] is True


@pytest.mark.parametrize(
    ("key", "value"),
    [("batchSize", "ten"), ("vpcEndpoints", "yes"), ("batchSize", True), ("table", 5)],
)
def test_context_value_of_the_wrong_type_names_its_key(key: str, value: Any) -> None:
    with pytest.raises(SizeRecorderConfigError, match=re.escape(f"'size-recorder:{key}'")):
        settings_from_mapping({**_required_context(), f"size-recorder:{key}": value})


def test_context_unknown_key_is_a_typo_not_ignored() -> None:
    with pytest.raises(SizeRecorderConfigError, match="size-recorder:batchSise"):
        settings_from_mapping({**_required_context(), "size-recorder:batchSise": 10})


def test_context_error_fails_the_stack_before_synth() -> None:
    context = app_context(db_secret_arn="")
    with pytest.raises(SizeRecorderConfigError, match="'size-recorder:dbSecretArn'"):
        SizeRecorderStack(App(context=context), "SizeRecorder")


def test_context_every_problem_is_reported_at_once(app: App) -> None:
    message = rejected(app, db_secret_arn="", max_receive_count=1, architecture="sparc")
    assert message.count("\n  - ") == 3


def test_context_settings_given_directly_are_checked_too() -> None:
    with pytest.raises(SizeRecorderConfigError, match="'size-recorder:table'"):
        SizeRecorderStack(App(), "SizeRecorder", settings=ContextSettings(db_secret_arn=SECRET_ARN))


def _required_context() -> dict[str, Any]:
    return {context_key(name): value for name, value in REQUIRED.items()}
