"""The six configurations the infra tests synthesize, and what they share: the context helpers,
the team-made apps, and `Synthesized` (a template with lookups).

Three come from CDK context, as `cdk deploy -c ...` builds them (SizeRecorderStack); three drop
the construct into a team's own stack and pass it CDK objects, as a platform team would.
Together they cover both sides of every switch: bucket new/existing/added,
notification/EventBridge, VPC by ids/as objects, endpoints admitting the VPC's CIDR/chosen peers,
topic new/imported/made in the app, single table/targets, a secret/IAM auth (cluster from
context, instance made in the app), SnapStart off/on, tokens.

Template tests skip bundling (`aws:cdk:bundling-stacks` = []): they assert the template, not the
asset. The bundling and CLI tests in test_cli_synth.py run the real thing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, App, CfnParameter, Duration, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from size_recorder_cdk import EventSource, SizeRecorder
from size_recorder_cdk.context import context_key
from size_recorder_cdk.stack import SizeRecorderStack

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/documents-db-AbCdEf"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ops-alarms"
VPC_ID = "vpc-0123456789abcdef0"
SUBNET_IDS = ("subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2")
SECURITY_GROUP_ID = "sg-0ccccccccccccccc3"
VPC_CIDR = "10.20.0.0/16"
APP_SECURITY_GROUP_ID = "sg-0ddddddddddddddd4"  # the Django app's, admitted to the endpoints
CLUSTER_RESOURCE_ID = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY1"
CLUSTER_HOST = "documents.cluster-c0ffee123456.eu-west-1.rds.amazonaws.com"
IAM_USER = "size_recorder"
EXISTING_BUCKET = "acme-django-media"
ADDED_BUCKET = "acme-legacy-uploads"
AVATARS_BUCKET = "acme-avatars"

# The settings a platform team must give; everything else comes from cdk.json.
REQUIRED = {"table": "public.documents_document", "db_secret_arn": SECRET_ARN}


def project_context() -> dict[str, Any]:
    """cdk.json's context, exactly as the CLI would pass it (feature flags included)."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


def app_context(*, bundle: bool = False, **settings: Any) -> dict[str, Any]:
    """cdk.json context + the required settings + `settings` (setting names, raw context values)."""
    context = project_context()
    context.update({context_key(name): value for name, value in {**REQUIRED, **settings}.items()})
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    return context


def feature_flags() -> dict[str, Any]:
    """cdk.json's feature flags alone, without bundling: what a team's own app would have."""
    context = {k: v for k, v in project_context().items() if not k.startswith("size-recorder:")}
    context["aws:cdk:bundling-stacks"] = []
    return context


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: Stack
    recorder: SizeRecorder
    template: Template

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.to_json()["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def one(self, resource_type: str) -> dict[str, Any]:
        found = list(self.of_type(resource_type).values())
        assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
        return found[0]["Properties"]  # type: ignore[no-any-return]


def synthesize_app(app: App, stack: Stack, recorder: SizeRecorder) -> Synthesized:
    """Synthesize with cdk-nag's AwsSolutions pack applied, as infra/app.py does.

    Synthesis raises when cdk-nag (or CDK's own validation) reports an unacknowledged finding.
    """
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return Synthesized(app=app, stack=stack, recorder=recorder, template=Template.from_stack(stack))


def new_app(context: dict[str, Any]) -> App:
    return App(context=context, outdir=tempfile.mkdtemp(prefix="size-recorder-cdk-"))


def synthesize(context: dict[str, Any]) -> Synthesized:
    """The stack behind cdk.json, from `context`."""
    app = new_app(context)
    stack = SizeRecorderStack(app, "SizeRecorder")
    return synthesize_app(app, stack, stack.recorder)


NEW_BUCKET = {"alarm_email": "ops@example.com"}
EXISTING_BUCKET_IN_VPC = {
    "table": "",
    "targets": [
        {"prefix": "media/", "table": "documents_document"},
        {"prefix": "avatars/", "table": "accounts_profile", "size_column": "avatar_size"},
    ],
    "existing_bucket_name": EXISTING_BUCKET,
    "notification_suffix": ".pdf",
    "db_secret_kms_key_arn": KMS_KEY_ARN,
    # -c values arrive as strings: exercise that path too.
    "vpc_id": VPC_ID,
    "subnet_ids": ",".join(SUBNET_IDS),
    "security_group_ids": SECURITY_GROUP_ID,
    "vpc_cidr_block": VPC_CIDR,
    "alarm_topic_arn": TOPIC_ARN,
    "architecture": "x86_64",
    "batch_size": "100",
    "max_batching_window_seconds": "10",
    "function_timeout_seconds": "60",
    "max_concurrency": "3",
}
# IAM auth against an Aurora cluster named by its ids, in a VPC whose endpoints admit a CIDR and
# the app's security group; SnapStart on.
IAM_CLUSTER_IN_VPC = {
    "db_secret_arn": "",
    "db_iam_user": IAM_USER,
    "db_cluster_identifier": "documents",
    "db_cluster_resource_id": CLUSTER_RESOURCE_ID,
    "db_host": CLUSTER_HOST,
    "db_name": "documents",
    "vpc_id": VPC_ID,
    "subnet_ids": list(SUBNET_IDS),
    "security_group_ids": [SECURITY_GROUP_ID],
    "endpoint_peers": f"{VPC_CIDR},{APP_SECURITY_GROUP_ID}",
    "snap_start": "true",
}

# Findings on the test app's own scaffolding (its VPC, secret, bucket), not on the recorder.
SCAFFOLDING_ACKNOWLEDGED = {
    "AwsSolutions::AwsSolutions-SMG4": "The test app's secret: rotating it is the database"
    " team's job, outside what this test app shows about the recorder construct.",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]": "CDK's own custom resources in the test app (the default"
    " security group restriction, the bucket's EventBridge switch) come with this role.",
}


def private_vpc(stack: Stack) -> ec2.Vpc:
    """A team's VPC with isolated subnets only (no NAT), and flow logs."""
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    vpc.add_flow_log("FlowLog")
    return vpc


def acknowledge_scaffolding(stack: Stack) -> None:
    for rule, reason in SCAFFOLDING_ACKNOWLEDGED.items():
        Validations.of(stack).acknowledge(Acknowledgment(id=rule, reason=reason))


def objects_app() -> Synthesized:
    """A team's stack that makes its own bucket, secret (with a KMS key), VPC, security group
    and topic, passes them as objects, takes some settings from CloudFormation parameters
    (tokens), and adds an imported bucket. EventBridge is the default for a given bucket."""
    app = new_app(feature_flags())
    stack = Stack(app, "MediaPlatform")
    vpc = private_vpc(stack)
    group = ec2.SecurityGroup(stack, "RecorderGroup", vpc=vpc, allow_all_outbound=False)
    group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(5432), "Postgres")
    key = kms.Key(stack, "DatabaseKey", enable_key_rotation=True)
    secret = secretsmanager.Secret(stack, "DatabaseSecret", encryption_key=key)
    topic = sns.Topic(stack, "OpsTopic", enforce_ssl=True)
    logs = s3.Bucket(
        stack,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
    )
    media = s3.Bucket(
        stack,
        "Media",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        server_access_logs_bucket=logs,
        # The team's own bucket: it turns EventBridge on where the bucket is defined.
        event_bridge_enabled=True,
    )
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        bucket=media,
        table=CfnParameter(stack, "Table", default="documents_document").value_as_string,
        key_prefix="media/",
        sequencer_column="size_sequencer",
        database_secret=secret,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_groups=[group],
        alarm_topic=topic,
        max_concurrency=CfnParameter(
            stack, "MaxConcurrency", type="Number", default=5
        ).value_as_number,
        function_timeout_seconds=CfnParameter(
            stack, "Timeout", type="Number", default=30
        ).value_as_number,
        visibility_timeout_seconds=300,
    )
    recorder.add_bucket(
        s3.Bucket.from_bucket_name(stack, "Avatars", AVATARS_BUCKET), prefix="avatars/"
    )
    acknowledge_scaffolding(stack)
    return synthesize_app(app, stack, recorder)


def iam_instance_app() -> Synthesized:
    """A team's stack that makes its VPC and its Postgres instance (on a port of its own) and
    passes both as objects, with IAM database authentication as one user; the function gets a
    new security group, and the endpoints admit the VPC's CIDR, a token."""
    app = new_app(feature_flags())
    stack = Stack(app, "Documents")
    vpc = private_vpc(stack)
    instance = rds.DatabaseInstance(
        stack,
        "Database",
        engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9),
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        port=5433,
        storage_encrypted=True,
        multi_az=True,
        deletion_protection=True,
        backup_retention=Duration.days(7),
        cloudwatch_logs_exports=["postgresql"],
    )
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        table="documents_document",
        database_user=IAM_USER,
        database_instance=instance,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    )
    instance.connections.allow_default_port_from(recorder.function)
    acknowledge_scaffolding(stack)
    return synthesize_app(app, stack, recorder)


def notification_app() -> Synthesized:
    """An existing bucket with an explicit queue notification under a prefix, a second
    existing bucket added, deletes followed (a sequencer column), and overrides."""
    app = new_app(feature_flags())
    stack = Stack(app, "Uploads")
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        bucket=s3.Bucket.from_bucket_name(stack, "Media", EXISTING_BUCKET),
        event_source=EventSource.NOTIFICATION,
        table="documents_document",
        key_prefix="media/",
        sequencer_column="size_sequencer",
        database_secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN),
        dead_letter_queue_props={"queue_name": "size-recorder-dead-letters"},
        function_props={"environment": {"APP_ENV": "production"}, "description": "ours"},
    )
    recorder.add_bucket(
        s3.Bucket.from_bucket_name(stack, "Legacy", ADDED_BUCKET), prefix="uploads/"
    )
    return synthesize_app(app, stack, recorder)
