"""The nightly reconciliation in the template: the state machine's definition, the rule that
starts it, the inventory it reads, its IAM, its functions and alarms; cdk-nag and cfn-lint; the
reconciliation's bundle; the props that stop a configuration that cannot work.

Two apps, synthesized once per session: a team's stack with a new recorder bucket (the construct
makes the destination bucket and the inventory), and one with an existing bucket, an existing
inventory destination, a VPC and a secret under a customer-managed key. Neither app sets the
ResultWriterV2 feature flag: the construct sets it for itself.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint

import size_recorder_cdk.construct
import size_recorder_cdk.reconcile
from size_recorder import constants as c
from size_recorder_cdk import RecorderTarget, SizeRecorder, SizeRecorderConfigError
from size_recorder_cdk.bundling import Bundle, Interpreter, PipLocalBundling, bundle_python
from size_recorder_cdk.reconcile import (
    BATCH_BYTES,
    OPS_PARTS,
    RESULT_WRITER_V2,
    Reconciliation,
    ReconciliationProps,
    add_reconciliation,
    problems,
)
from size_recorder_cdk.reference import props_table
from tests.infra.apps import (
    EXISTING_BUCKET,
    KMS_KEY_ARN,
    ROOT,
    SECRET_ARN,
    SECURITY_GROUP_ID,
    SUBNET_IDS,
    VPC_ID,
    feature_flags,
)

DESTINATION = "acme-inventory"
IAM_USER, INSTANCE_RESOURCE_ID = "size_recorder", "db-ABCDEFGHIJKLMNOP"
ACCOUNT, REGION = "123456789012", "eu-west-1"
# cfn-lint warnings from CDK's own template shape (explicit DependsOn beside a GetAtt).
CDK_LINT_NOISE = {"W3005"}


@dataclass(frozen=True)
class Reconciled:
    app: App
    stack: Stack
    recorder: SizeRecorder
    reconciliation: Reconciliation
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v["Properties"] for k, v in self.resources.items() if v["Type"] == kind}

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.resolve(self.stack.get_logical_id(construct.node.default_child)))

    def properties(self, construct: Any) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[self.logical_id(construct)]["Properties"]
        return properties

    def definition(self) -> dict[str, Any]:
        """The state machine's definition, each reference written as `<LogicalId[.Attr]>`."""
        joined = self.properties(self.reconciliation.state_machine)["DefinitionString"]
        parts = [_reference(part) for part in joined["Fn::Join"][1]]
        document: dict[str, Any] = json.loads("".join(parts))
        return document

    def map_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.definition()["States"]["Reconcile"]
        return state

    def statements(self, role: Any) -> list[dict[str, Any]]:
        """Every statement of the policies attached to `role`."""
        role_id = self.logical_id(role)
        return [
            statement
            for policy in self.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Roles"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]

    def allowed(self, role: Any) -> dict[str, set[str]]:
        """action → the resources the role may act on, as cdk-nag writes them."""
        found: dict[str, set[str]] = {}
        for statement in self.statements(role):
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in actions if isinstance(actions, list) else [actions]:
                for resource in resources if isinstance(resources, list) else [resources]:
                    found.setdefault(action, set()).add(_flat(resource))
        return found


def _reference(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Ref" in part:
        return f"<{part['Ref']}>"
    logical, attribute = part["Fn::GetAtt"]
    return f"<{logical}.{attribute}>"


def _flat(value: Any) -> str:
    return size_recorder_cdk.reconcile._flatten(value)


def app_context() -> dict[str, Any]:
    context = feature_flags()
    context.pop(RESULT_WRITER_V2, None)
    return context


def synthesize(build: Any, *, nag: bool = True) -> Reconciled:
    app = App(context=app_context(), outdir=tempfile.mkdtemp(prefix="size-recorder-cdk-"))
    stack, recorder, reconciliation = build(app)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    template = Template.from_stack(stack).to_json()
    return Reconciled(app, stack, recorder, reconciliation, template)


def new_bucket_app(app: App) -> tuple[Stack, SizeRecorder, Reconciliation]:
    """`reconcile=True` on a recorder with a new bucket, logging in with IAM database
    authentication."""
    stack = Stack(app, "Media")
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        table="documents_document",
        key_prefix="media/",
        sequencer_column="size_sequencer",
        database_user=IAM_USER,
        database_instance=rds.DatabaseInstance.from_database_instance_attributes(
            stack,
            "Instance",
            instance_identifier="documents",
            instance_endpoint_address="documents.abc123.eu-west-1.rds.amazonaws.com",
            port=5432,
            security_groups=[],
            instance_resource_id=INSTANCE_RESOURCE_ID,
        ),
        reconcile=True,
    )
    assert recorder.reconciliation is not None
    return stack, recorder, recorder.reconciliation


def existing_bucket_app(app: App) -> tuple[Stack, SizeRecorder, Reconciliation]:
    stack = Stack(app, "Uploads", env=Environment(account=ACCOUNT, region=REGION))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id=VPC_ID,
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        private_subnet_ids=list(SUBNET_IDS),
        private_subnet_route_table_ids=["rtb-0aaaaaaaaaaaaaaa1", "rtb-0bbbbbbbbbbbbbbb2"],
    )
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        bucket=s3.Bucket.from_bucket_name(stack, "Media", EXISTING_BUCKET),
        targets=[
            RecorderTarget(table="documents_document", prefix="media/"),
            RecorderTarget(table="accounts_profile", prefix="avatars/", size_column="avatar_size"),
        ],
        database_secret=secretsmanager.Secret.from_secret_attributes(
            stack,
            "Db",
            secret_complete_arn=SECRET_ARN,
            encryption_key=kms.Key.from_key_arn(stack, "DbKey", KMS_KEY_ARN),
        ),
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets),
        security_groups=[ec2.SecurityGroup.from_security_group_id(stack, "Sg", SECURITY_GROUP_ID)],
        vpc_endpoints=False,
        max_concurrency=3,
    )
    reconciliation = Reconciliation(
        stack,
        "Reconciliation",
        recorder=recorder,
        inventory_destination=s3.Bucket.from_bucket_name(stack, "Inventory", DESTINATION),
        inventory_prefix="reports",
        inventory_id="daily-csv",
        fix=False,
        batch_rows=500,
        tolerated_failure_percentage=10,
        drift_alarm_threshold=25,
    )
    return stack, recorder, reconciliation


@pytest.fixture(scope="session")
def new_bucket() -> Reconciled:
    return synthesize(new_bucket_app)


@pytest.fixture(scope="session")
def existing_bucket() -> Reconciled:
    return synthesize(existing_bucket_app)


@pytest.fixture(scope="session", params=["new_bucket", "existing_bucket"])
def any_app(request: pytest.FixtureRequest) -> Reconciled:
    synthesized: Reconciled = request.getfixturevalue(request.param)
    return synthesized


# --- the state machine's definition ------------------------------------------------------------


def test_map_is_distributed_and_feeds_the_batches_to_the_reconcile_function(
    new_bucket: Reconciled,
) -> None:
    state = new_bucket.map_state()
    assert state["Type"] == "Map"
    assert state["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    task = state["ItemProcessor"]["States"]["ReconcileBatch"]
    function = new_bucket.logical_id(new_bucket.reconciliation.function)
    assert (task["Type"], task["Resource"]) == ("Task", f"<{function}.Arn>")


def test_map_reads_the_inventory_manifest_the_event_names(new_bucket: Reconciled) -> None:
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    assert new_bucket.map_state()["ItemReader"] == {
        "Resource": "arn:<AWS::Partition>:states:::s3:getObject",
        "ReaderConfig": {"InputType": "MANIFEST"},
        "Parameters": {"Bucket": f"<{destination}>", "Key.$": "$.detail.object.key"},
    }


def test_map_batches_rows_with_the_manifest_and_fix_as_batch_input(
    new_bucket: Reconciled,
) -> None:
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    assert new_bucket.map_state()["ItemBatcher"] == {
        "MaxItemsPerBatch": 1000,
        "MaxInputBytesPerBatch": BATCH_BYTES,
        "BatchInput": {
            c.BATCH_MANIFEST_BUCKET: f"<{destination}>",
            f"{c.BATCH_MANIFEST_KEY}.$": "$.detail.object.key",
            c.BATCH_FIX: True,
        },
    }


def test_map_batch_settings_follow_the_props(existing_bucket: Reconciled) -> None:
    state = existing_bucket.map_state()
    assert state["ItemBatcher"]["MaxItemsPerBatch"] == 500
    assert state["ItemBatcher"]["BatchInput"][c.BATCH_FIX] is False
    assert state["ItemBatcher"]["BatchInput"][c.BATCH_MANIFEST_BUCKET] == DESTINATION
    assert state["ToleratedFailurePercentage"] == 10


def test_map_concurrency_is_the_recorders_so_connections_stay_bounded(
    any_app: Reconciled,
) -> None:
    assert any_app.map_state()["MaxConcurrency"] == any_app.recorder.props.max_concurrency


def test_map_tolerates_a_few_failed_batches(new_bucket: Reconciled) -> None:
    assert new_bucket.map_state()["ToleratedFailurePercentage"] == 5


def test_batches_retry_lambda_errors_throttling_and_postgres_outages(
    new_bucket: Reconciled,
) -> None:
    task = new_bucket.map_state()["ItemProcessor"]["States"]["ReconcileBatch"]
    retried = {
        error: retry["MaxAttempts"] for retry in task["Retry"] for error in retry["ErrorEquals"]
    }
    assert retried == {
        "Lambda.ClientExecutionTimeoutException": 6,
        "Lambda.ServiceException": 6,
        "Lambda.AWSLambdaException": 6,
        "Lambda.SdkClientException": 6,
        "Lambda.TooManyRequestsException": 8,
        "PostgresError": 4,
    }
    assert "States.ALL" not in retried  # a wrong table fails fast instead of every batch 4 times


def test_results_are_written_as_json_lines_of_the_batches_outputs(
    new_bucket: Reconciled,
) -> None:
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    assert new_bucket.map_state()["ResultWriter"] == {
        "Resource": "arn:<AWS::Partition>:states:::s3:putObject",
        "Parameters": {"Bucket": f"<{destination}>", "Prefix": "reconciliation"},
        "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"},
    }


def test_summary_step_gets_the_map_run_and_the_manifest_and_ends_the_run(
    new_bucket: Reconciled,
) -> None:
    definition = new_bucket.definition()
    assert (definition["StartAt"], definition["States"]["Reconcile"]["Next"]) == (
        "Reconcile",
        "Summarise",
    )
    assert definition["States"]["Reconcile"]["ResultPath"] == "$.map"
    summary = definition["States"]["Summarise"]
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    function = new_bucket.logical_id(new_bucket.reconciliation.summary_function)
    assert (summary["Resource"], summary["End"]) == (f"<{function}.Arn>", True)
    assert summary["Parameters"] == {
        c.BATCH_MANIFEST_BUCKET: f"<{destination}>",
        f"{c.BATCH_MANIFEST_KEY}.$": "$.detail.object.key",
        c.BATCH_FIX: True,
        f"{c.SUMMARY_MAP_RUN}.$": "$.map",
    }


def test_a_run_times_out_before_the_next_daily_report(new_bucket: Reconciled) -> None:
    assert new_bucket.definition()["TimeoutSeconds"] == 20 * 3600


def test_state_machine_logs_every_event_without_the_rows_and_traces(
    new_bucket: Reconciled,
) -> None:
    properties = new_bucket.properties(new_bucket.reconciliation.state_machine)
    logging = properties["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    assert properties["TracingConfiguration"] == {"Enabled": True}


# --- what starts it ------------------------------------------------------------------------------


def test_rule_starts_a_run_when_this_buckets_report_manifest_lands(
    new_bucket: Reconciled,
) -> None:
    rule = new_bucket.properties(new_bucket.reconciliation.rule)
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    source = new_bucket.logical_id(new_bucket.recorder.bucket)
    pattern = rule["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.s3"], ["Object Created"])
    assert pattern["detail"]["bucket"] == {"name": [{"Ref": destination}]}
    (matcher,) = pattern["detail"]["object"]["key"]
    assert _flat(matcher["wildcard"]) == f"inventory/<{source}>/size-recorder/*/manifest.json"
    (target,) = rule["Targets"]
    state_machine = new_bucket.logical_id(new_bucket.reconciliation.state_machine)
    assert target["Arn"] == {"Ref": state_machine}


def test_rule_for_an_existing_inventory_matches_its_prefix_and_configuration(
    existing_bucket: Reconciled,
) -> None:
    pattern = existing_bucket.properties(existing_bucket.reconciliation.rule)["EventPattern"]
    assert pattern["detail"] == {
        "bucket": {"name": [DESTINATION]},
        "object": {"key": [{"wildcard": f"reports/{EXISTING_BUCKET}/daily-csv/*/manifest.json"}]},
    }


def test_results_own_manifest_never_matches_the_rule(existing_bucket: Reconciled) -> None:
    wildcard = existing_bucket.properties(existing_bucket.reconciliation.rule)["EventPattern"][
        "detail"
    ]["object"]["key"][0]["wildcard"]
    assert not f"reconciliation/{'x' * 8}/manifest.json".startswith(wildcard.split("*")[0])


def test_an_existing_destination_is_told_to_send_events_to_eventbridge(
    existing_bucket: Reconciled,
) -> None:
    infos = [
        entry.data
        for entry in existing_bucket.reconciliation.node.metadata
        if entry.type == "aws:cdk:info"
    ]
    assert any(f"enable-eventbridge --bucket {DESTINATION}" in str(info) for info in infos)


# --- the inventory -------------------------------------------------------------------------------


def test_new_bucket_gets_a_daily_csv_inventory_of_current_versions_and_sizes(
    new_bucket: Reconciled,
) -> None:
    bucket = new_bucket.properties(new_bucket.recorder.bucket)
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    assert bucket["InventoryConfigurations"] == [
        {
            "Id": "size-recorder",
            "Enabled": True,
            "Destination": {
                "BucketArn": {"Fn::GetAtt": [destination, "Arn"]},
                "Format": "CSV",
                "Prefix": "inventory",
            },
            "IncludedObjectVersions": "Current",
            "OptionalFields": ["Size", "LastModifiedDate"],
            "Prefix": "media/",
            "ScheduleFrequency": "Daily",
        }
    ]


def test_new_destination_is_hardened_sends_events_and_expires_old_reports(
    new_bucket: Reconciled,
) -> None:
    destination = new_bucket.properties(new_bucket.reconciliation.inventory_destination)
    assert destination["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert all(destination["PublicAccessBlockConfiguration"].values())
    assert destination["LifecycleConfiguration"]["Rules"] == [
        {"ExpirationInDays": 14, "Status": "Enabled"}
    ]
    assert "LoggingConfiguration" in destination
    reference = {"Ref": new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)}
    (notifications,) = [
        n
        for n in new_bucket.of_type("Custom::S3BucketNotifications").values()
        if n["BucketName"] == reference
    ]
    assert "EventBridgeConfiguration" in notifications["NotificationConfiguration"]


def test_new_destination_admits_only_s3_inventory_of_the_recorders_bucket(
    new_bucket: Reconciled,
) -> None:
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    (policy,) = [
        p
        for p in new_bucket.of_type("AWS::S3::BucketPolicy").values()
        if p["Bucket"] == {"Ref": destination}
    ]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    source = new_bucket.logical_id(new_bucket.recorder.bucket)
    assert allows == [
        {
            "Action": "s3:PutObject",
            "Condition": {"ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [source, "Arn"]}}},
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Resource": [
                {"Fn::GetAtt": [destination, "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [destination, "Arn"]}, "/inventory*"]]},
            ],
        }
    ]


# --- IAM -----------------------------------------------------------------------------------------


def test_state_machine_reads_this_buckets_reports_writes_results_invokes_two_functions(
    new_bucket: Reconciled,
) -> None:
    r = new_bucket.reconciliation
    destination = new_bucket.logical_id(r.inventory_destination)
    source = new_bucket.logical_id(new_bucket.recorder.bucket)
    batch, summary = (new_bucket.logical_id(f) for f in (r.function, r.summary_function))
    allowed = new_bucket.allowed(r.state_machine.role)
    reports = f"<{destination}.Arn>/inventory/<{source}>/size-recorder/*"
    results = f"<{destination}.Arn>/reconciliation/*"
    assert allowed["s3:GetObject"] == {reports, results}
    for action in ("s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"):
        assert allowed[action] == {results}
    assert allowed["lambda:InvokeFunction"] == {
        f"<{batch}.Arn>",
        f"<{batch}.Arn>:*",
        f"<{summary}.Arn>",
        f"<{summary}.Arn>:*",
    }
    # states: the Distributed Map's own policy on its child executions (the next test).
    others = {
        a for a in allowed if not a.startswith(("s3:", "lambda:", "logs:", "xray:", "states:"))
    }
    assert others == set()


def test_state_machine_may_run_only_its_own_child_executions(new_bucket: Reconciled) -> None:
    state_machine = new_bucket.logical_id(new_bucket.reconciliation.state_machine)
    (policy,) = [
        p for k, p in new_bucket.of_type("AWS::IAM::Policy").items() if "DistributedMapPolicy" in k
    ]
    statements = policy["PolicyDocument"]["Statement"]
    assert statements[0] == {
        "Action": "states:StartExecution",
        "Effect": "Allow",
        "Resource": {"Ref": state_machine},
    }
    assert all(state_machine in json.dumps(s["Resource"]) for s in statements)


def test_rule_may_only_start_this_state_machine(new_bucket: Reconciled) -> None:
    rule = new_bucket.properties(new_bucket.reconciliation.rule)
    role = rule["Targets"][0]["RoleArn"]["Fn::GetAtt"][0]
    state_machine = new_bucket.logical_id(new_bucket.reconciliation.state_machine)
    statements = [
        s
        for p in new_bucket.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Roles"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": state_machine}}
    ]


def test_batch_function_heads_only_the_targets_objects_and_reads_the_reports(
    existing_bucket: Reconciled,
) -> None:
    allowed = existing_bucket.allowed(existing_bucket.reconciliation.function.role)
    media = f"arn:aws:s3:::{EXISTING_BUCKET}"  # the stack's region names the partition
    assert allowed["s3:GetObject"] == {
        f"arn:aws:s3:::{DESTINATION}/reports/{EXISTING_BUCKET}/daily-csv/*",
        f"{media}/avatars/*",
        f"{media}/media/*",
    }
    # Without ListBucket a HEAD on a deleted object is a 403: the batch would fail.
    assert allowed["s3:ListBucket"] == {media}
    assert "s3:PutObject" not in allowed


def test_batch_function_reads_the_secret_and_decrypts_only_through_secrets_manager(
    existing_bucket: Reconciled,
) -> None:
    statements = existing_bucket.statements(existing_bucket.reconciliation.function.role)
    (decrypt,) = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert decrypt["Resource"] == KMS_KEY_ARN
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"]
    reads = existing_bucket.allowed(existing_bucket.reconciliation.function.role)
    assert reads["secretsmanager:GetSecretValue"] == {SECRET_ARN}


def test_batch_function_may_connect_as_the_recorders_iam_database_user(
    new_bucket: Reconciled,
) -> None:
    connect = new_bucket.allowed(new_bucket.reconciliation.function.role)["rds-db:connect"]
    assert connect == new_bucket.allowed(new_bucket.recorder.role)["rds-db:connect"]
    assert any(f"dbuser:{INSTANCE_RESOURCE_ID}/{IAM_USER}" in arn for arn in connect)


def test_summary_function_reads_reports_and_results_and_writes_only_results(
    new_bucket: Reconciled,
) -> None:
    allowed = new_bucket.allowed(new_bucket.reconciliation.summary_function.role)
    destination = new_bucket.logical_id(new_bucket.reconciliation.inventory_destination)
    source = new_bucket.logical_id(new_bucket.recorder.bucket)
    results = f"<{destination}.Arn>/reconciliation/*"
    assert allowed["s3:PutObject"] == {results}
    assert allowed["s3:GetObject"] == {
        f"<{destination}.Arn>/inventory/<{source}>/size-recorder/*",
        results,
    }
    assert not any(action.startswith("secretsmanager:") for action in allowed)


# --- the functions -------------------------------------------------------------------------------


def function_properties(r: Reconciled, function: Any) -> dict[str, Any]:
    return r.properties(function)


def test_batch_function_has_the_recorders_database_settings(any_app: Reconciled) -> None:
    recorder = function_properties(any_app, any_app.recorder.function)
    batch = function_properties(any_app, any_app.reconciliation.function)
    assert batch["Handler"] == c.RECONCILE_HANDLER
    assert batch["Environment"] == recorder["Environment"]
    assert (batch["Runtime"], batch["Architectures"]) == (
        recorder["Runtime"],
        recorder["Architectures"],
    )


def test_batch_function_joins_the_recorders_vpc_subnets_and_security_groups(
    existing_bucket: Reconciled,
) -> None:
    recorder = function_properties(existing_bucket, existing_bucket.recorder.function)
    batch = function_properties(existing_bucket, existing_bucket.reconciliation.function)
    assert batch["VpcConfig"] == recorder["VpcConfig"]
    assert batch["VpcConfig"]["SecurityGroupIds"] == [SECURITY_GROUP_ID]


def test_summary_function_holds_no_database_settings_and_no_vpc(
    existing_bucket: Reconciled,
) -> None:
    summary = function_properties(existing_bucket, existing_bucket.reconciliation.summary_function)
    assert summary["Handler"] == c.SUMMARY_HANDLER
    assert c.ENV_DB_SECRET_ARN not in summary["Environment"]["Variables"]
    assert "VpcConfig" not in summary


def test_both_functions_run_the_reconciliation_bundle_not_the_recorders(
    new_bucket: Reconciled,
) -> None:
    def asset(function: Any) -> Any:
        return function_properties(new_bucket, function)["Code"]["S3Key"]

    r = new_bucket.reconciliation
    assert asset(r.function) == asset(r.summary_function) != asset(new_bucket.recorder.function)


# --- alarms --------------------------------------------------------------------------------------


def alarm(r: Reconciled, name: str) -> dict[str, Any]:
    return r.properties(r.reconciliation.alarms[name])


def test_drift_alarm_compares_the_runs_drift_with_the_threshold(
    existing_bucket: Reconciled,
) -> None:
    drift = alarm(existing_bucket, "ReconcileDrift")
    assert (drift["Namespace"], drift["MetricName"]) == (
        c.METRICS_NAMESPACE,
        c.METRIC_RECONCILE_DRIFT,
    )
    assert drift["Dimensions"] == [{"Name": "service", "Value": c.SERVICE_NAME}]
    assert (drift["Threshold"], drift["Statistic"], drift["TreatMissingData"]) == (
        25,
        "Maximum",
        "ignore",  # one data point a night: the last run's verdict stands until the next
    )
    assert drift["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_alarms_notify_the_recorders_topic_on_alarm_and_recovery(new_bucket: Reconciled) -> None:
    topic = new_bucket.stack.resolve(new_bucket.recorder.alarm_topic.topic_arn)
    for name in new_bucket.reconciliation.alarms:
        properties = alarm(new_bucket, name)
        assert properties["AlarmActions"] == properties["OKActions"] == [topic]


def test_failed_batches_and_failed_runs_raise_their_own_alarms(new_bucket: Reconciled) -> None:
    batches = alarm(new_bucket, "ReconcileBatchesFailed")
    assert (batches["MetricName"], batches["Threshold"]) == (c.METRIC_RECONCILE_BATCHES_FAILED, 1)
    run = alarm(new_bucket, "ReconciliationFailed")
    state_machine = new_bucket.logical_id(new_bucket.reconciliation.state_machine)
    assert (run["Namespace"], run["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert run["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": state_machine}}]


# --- compliance ----------------------------------------------------------------------------------


def acknowledged(r: Reconciled) -> dict[str, str]:
    found: dict[str, str] = {}
    for construct in r.reconciliation.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                found.update(entry.data)
    return found


def test_nag_finds_nothing_unacknowledged(any_app: Reconciled) -> None:
    report = json.loads((Path(any_app.app.outdir) / "validation-report.json").read_text())
    assert [plugin["violations"] for plugin in report["pluginReports"]] == [[]]


@pytest.fixture(scope="module")
def findings_without_acknowledgements() -> dict[str, set[str]]:
    """What cdk-nag reports on each app's reconciliation when it acknowledges nothing."""
    found: dict[str, set[str]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(size_recorder_cdk.reconcile, "acknowledge", lambda *_: None)
        for name, make in (
            ("new_bucket", new_bucket_app),
            ("existing_bucket", existing_bucket_app),
        ):
            app = App(context=app_context(), outdir=tempfile.mkdtemp(prefix="size-recorder-cdk-"))
            _, _, reconciliation = make(app)
            Validations.of(app).add_plugins(AwsSolutionsChecks(app))
            with pytest.raises(RuntimeError, match="ValidationFailed"):
                app.synth()
            report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
            path = reconciliation.node.path + "/"
            found[name] = {
                f"{plugin['pluginName']}::{violation['ruleName']}"
                for plugin in report["pluginReports"]
                for violation in plugin["violations"]
                if any(
                    v["constructPath"].startswith(path) for v in violation["violatingConstructs"]
                )
            }
    return found


def test_nag_acknowledgements_are_exactly_the_findings_they_silence(
    any_app: Reconciled,
    findings_without_acknowledgements: dict[str, set[str]],
    request: pytest.FixtureRequest,
) -> None:
    """No acknowledgement is stale, and each wildcard is one we chose with its reason."""
    name = request.node.callspec.params["any_app"]
    assert set(acknowledged(any_app)) == findings_without_acknowledgements[name]


def test_nag_acknowledgements_are_runtime_pins_and_the_reviewed_wildcards(
    new_bucket: Reconciled,
) -> None:
    kinds = {rule.split("[")[0] for rule in acknowledged(new_bucket)}
    assert kinds == {"AwsSolutions::AwsSolutions-L1", "AwsSolutions::AwsSolutions-IAM5"}
    wildcards = sorted(
        rule.split("Resource::", 1)[1].rstrip("]")
        for rule in acknowledged(new_bucket)
        if "IAM5" in rule
    )
    r = new_bucket.reconciliation
    destination = new_bucket.logical_id(r.inventory_destination)
    source = new_bucket.logical_id(new_bucket.recorder.bucket)
    batch, summary = (new_bucket.logical_id(f) for f in (r.function, r.summary_function))
    mine = {
        "*",
        f"<{batch}.Arn>:*",
        f"<{summary}.Arn>:*",
        f"<{destination}.Arn>/inventory/<{source}>/size-recorder/*",
        f"<{destination}.Arn>/reconciliation/*",
        f"<{source}.Arn>/media/*",
    }
    cdk_map_policy = {w for w in wildcards if ":execution:" in w}
    assert set(wildcards) - cdk_map_policy == mine
    assert len(cdk_map_policy) == 2


def test_nag_every_acknowledgement_gives_a_reason(any_app: Reconciled) -> None:
    for rule, reason in acknowledged(any_app).items():
        assert len(reason.split()) >= 10, f"{rule}: reason too thin: {reason!r}"


def test_cfn_lint_finds_no_errors(any_app: Reconciled) -> None:
    matches = lint(json.dumps(any_app.template), regions=["us-east-1", REGION])
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []
    warnings = {m.rule.id for m in matches if m.rule.id.startswith("W")}
    assert warnings <= CDK_LINT_NOISE, f"new cfn-lint warnings: {warnings - CDK_LINT_NOISE}"


def test_the_construct_sets_the_result_writer_v2_flag_the_app_lacks(
    new_bucket: Reconciled,
) -> None:
    assert new_bucket.app.node.try_get_context(RESULT_WRITER_V2) is None
    assert "WriterConfig" in new_bucket.map_state()["ResultWriter"]


# --- props that cannot work ----------------------------------------------------------------------


@dataclass(frozen=True)
class Recorders:
    new: SizeRecorder
    existing: SizeRecorder
    destination: s3.IBucket


@pytest.fixture(scope="module")
def recorders() -> Recorders:
    """A recorder with a new bucket and one with an existing bucket, to check props against."""
    stack = Stack(App(context=app_context()), "Checks")
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN)
    made, given = (
        SizeRecorder(
            stack,
            name,
            bucket=bucket,
            table="documents_document",
            key_prefix="media/",
            database_secret=secret,
        )
        for name, bucket in (
            ("New", None),
            ("Existing", s3.Bucket.from_bucket_name(stack, "Media", EXISTING_BUCKET)),
        )
    )
    destination = s3.Bucket.from_bucket_name(stack, "Inventory", DESTINATION)
    return Recorders(made, given, destination)


def refused(recorder: SizeRecorder, **keywords: Any) -> str:
    """The props' problems, one line each, as the construct would raise them."""
    found = problems(ReconciliationProps(**keywords), recorder)
    return str(SizeRecorderConfigError(found)) if found else ""


def test_an_existing_bucket_needs_the_inventorys_destination(recorders: Recorders) -> None:
    with pytest.raises(SizeRecorderConfigError, match="inventory_destination: required"):
        Reconciliation(Stack(App(), "Refused"), "Reconciliation", recorder=recorders.existing)


@pytest.mark.parametrize("results", ["", "/", f"inventory/{EXISTING_BUCKET}/runs"])
def test_results_inside_the_buckets_reports_are_refused(recorders: Recorders, results: str) -> None:
    found = refused(
        recorders.existing, inventory_destination=recorders.destination, results_prefix=results
    )
    assert "results_prefix and inventory_prefix: the results need a prefix of their own" in found


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("max_concurrency", 0),
        ("max_concurrency", 10_001),
        ("batch_rows", 0),
        ("batch_rows", 10_001),
        ("tolerated_failure_percentage", 101),
        ("function_timeout_seconds", 901),
        ("memory_size_mb", 64),
        ("retention_days", 0),
        ("drift_alarm_threshold", 0),
    ],
)
def test_values_out_of_range_are_refused(recorders: Recorders, keyword: str, value: int) -> None:
    assert f"{keyword}: must be" in refused(recorders.new, **{keyword: value})


@pytest.mark.parametrize("keyword", ["inventory_prefix", "results_prefix"])
def test_prefixes_with_characters_s3_encodes_in_events_are_refused(
    recorders: Recorders, keyword: str
) -> None:
    assert f"{keyword}: 'my reports'" in refused(recorders.new, **{keyword: "my reports"})


def test_reconcile_makes_the_reconciliation_inside_the_recorder(new_bucket: Reconciled) -> None:
    assert new_bucket.reconciliation.node.path == "Media/SizeRecorder/Reconciliation"


def test_inventory_destination_without_reconcile_is_refused() -> None:
    stack = Stack(App(context=app_context()), "Refused")
    with pytest.raises(SizeRecorderConfigError, match="inventory_destination and reconcile"):
        SizeRecorder(
            stack,
            "SizeRecorder",
            bucket=s3.Bucket.from_bucket_name(stack, "Media", EXISTING_BUCKET),
            table="documents_document",
            database_secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN),
            inventory_destination=s3.Bucket.from_bucket_name(stack, "Inventory", DESTINATION),
        )


def test_reconcile_on_an_existing_bucket_needs_its_inventorys_destination() -> None:
    stack = Stack(App(context=app_context()), "Refused")
    with pytest.raises(SizeRecorderConfigError, match="inventory_destination: required"):
        SizeRecorder(
            stack,
            "SizeRecorder",
            bucket=s3.Bucket.from_bucket_name(stack, "Media", EXISTING_BUCKET),
            table="documents_document",
            database_secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN),
            reconcile=True,
        )


def test_add_reconciliation_makes_it_inside_the_recorder(recorders: Recorders) -> None:
    reconciliation = add_reconciliation(recorders.new, drift_alarm_threshold=10)
    assert reconciliation.node.path == f"{recorders.new.node.path}/Reconciliation"
    assert reconciliation.props.drift_alarm_threshold == 10


def test_the_defaults_pass_every_check(recorders: Recorders) -> None:
    assert refused(recorders.new) == ""
    assert refused(recorders.existing, inventory_destination=recorders.destination) == ""


# --- the bundle ----------------------------------------------------------------------------------


def test_reconciliation_bundle_copies_ops_beside_the_lambda_parts() -> None:
    command = Bundle("arm64", extra_parts=OPS_PARTS).command()[-1]
    assert "cp -r __init__.py constants.py handler.py core adapters aws_lambda ops" in command
    assert " ops " not in Bundle("arm64").command()[-1]


def test_extra_parts_must_be_other_entries_of_the_package() -> None:
    for parts in (("nowhere",), ("core",)):
        with pytest.raises(ValueError, match="extra_parts"):
            Bundle("arm64", extra_parts=parts)


@pytest.fixture(scope="module")
def python_313() -> Interpreter:
    found = bundle_python()
    if found is None:
        pytest.skip("needs CPython 3.13 (pyenv's, or SIZE_RECORDER_BUNDLE_PYTHON)")
    return found


@pytest.mark.slow
def test_reconciliation_bundle_imports_both_handlers_under_python_313(
    tmp_path: Path, python_313: Interpreter
) -> None:
    """The real bundle (pip from the lock, x86_64, compiled), imported by the runtime's Python
    with nothing else on its path: everything ops/ needs is in it."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    PipLocalBundling(Bundle("x86_64", python=python_313, extra_parts=OPS_PARTS)).try_bundle(
        str(bundle)
    )
    handlers = [c.RECONCILE_HANDLER, c.SUMMARY_HANDLER]
    probe = "; ".join(f"from {h.rsplit('.', 1)[0]} import {h.rsplit('.', 1)[1]}" for h in handlers)
    done = subprocess.run(
        [python_313.path, "-I", "-S", "-c", f"import sys; sys.path[:0] = ['{bundle}']; {probe}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"AWS_DEFAULT_REGION": REGION},
    )
    assert done.returncode == 0, done.stderr
    assert not (bundle / "size_recorder" / "cli").exists()


# --- the guide -----------------------------------------------------------------------------------


def test_construct_keywords_are_exactly_the_props_fields_with_their_defaults() -> None:
    parameters = list(inspect.signature(Reconciliation.__init__).parameters.values())[4:]
    assert [(p.name, p.annotation, p.default) for p in parameters] == [
        (f.name, f.type, f.default) for f in fields(ReconciliationProps)
    ]


def test_reconciliation_props_table_in_the_guide_is_the_generated_one() -> None:
    """Regenerate with `python -m size_recorder_cdk.reconcile`."""
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    start = "<!-- reconciliation props table: generated -->\n"
    end = "\n<!-- reconciliation props table: end -->"
    assert start in guide
    assert end in guide
    assert guide.split(start, 1)[1].split(end, 1)[0] == props_table(ReconciliationProps)
