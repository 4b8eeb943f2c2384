"""How the function logs in to the database: a Secrets Manager secret, or IAM database
authentication against an instance, a cluster or a proxy (CDK's own `grant_connect` on the object
given), and the errors for every other combination.

The instance made in a team's app and the cluster named by context come from the session's
synthesized apps (conftest.py); the rest are small stacks, synthesized without cdk-nag, or
refused while the construct is built."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from size_recorder import constants as c
from size_recorder_cdk import SizeRecorder, SizeRecorderConfigError
from tests.infra.apps import (
    CLUSTER_RESOURCE_ID,
    IAM_USER,
    SECRET_ARN,
    VPC_CIDR,
    VPC_ID,
    Synthesized,
    feature_flags,
)
from tests.infra.test_stack import recorder_function, recorder_policy

PROXY_ARN = "arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0"
PROXY_HOST = "documents.proxy-c0ffee123456.eu-west-1.rds.amazonaws.com"
RDS_MANAGED_SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0a1b2c3d-4e5f-AbCdEf"
)
INSTANCE_HOST = "documents.c0ffee123456.eu-west-1.rds.amazonaws.com"
# The user part of every rds-db:connect ARN the grant writes.
USER_SUFFIX = f"/{IAM_USER}"


def connect_resources(template: dict[str, Any]) -> list[Any]:
    """The resources of every rds-db:connect statement in the template's IAM policies."""
    return [
        statement["Resource"]
        for policy in template["Resources"].values()
        if policy["Type"] == "AWS::IAM::Policy"
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "rds-db:connect"
    ]


def rds_db_arn(database_id: Any) -> dict[str, Any]:
    """`arn:<partition>:rds-db:<region>:<account>:dbuser:<database id>/<user>`, as CDK writes it
    in an environment-agnostic stack (a literal id joined with its neighbours)."""
    tail = (
        [f":dbuser:{database_id}{USER_SUFFIX}"]
        if isinstance(database_id, str)
        else [":dbuser:", database_id, USER_SUFFIX]
    )
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":rds-db:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                *tail,
            ],
        ]
    }


def database_variables(env: dict[str, Any]) -> dict[str, Any]:
    names = (c.ENV_DB_SECRET_ARN, c.ENV_DB_IAM_USER, c.ENV_DB_HOST, c.ENV_DB_PORT, c.ENV_DB_NAME)
    return {name: env[name] for name in names if name in env}


# --- An instance made in the team's app (the `iam_instance` app) -----------------------------


def _instance_id(s: Synthesized) -> str:
    (instance_id,) = s.of_type("AWS::RDS::DBInstance")
    return instance_id


def test_iam_instance_grants_connect_as_the_user_on_its_resource_id(
    iam_instance: Synthesized,
) -> None:
    resource_id = {"Fn::GetAtt": [_instance_id(iam_instance), "DbiResourceId"]}
    assert connect_resources(iam_instance.template.to_json()) == [rds_db_arn(resource_id)]


def test_iam_instance_endpoint_and_port_reach_the_function_as_tokens(
    iam_instance: Synthesized,
) -> None:
    instance_id = _instance_id(iam_instance)
    env = recorder_function(iam_instance)["Environment"]["Variables"]
    assert database_variables(env) == {
        c.ENV_DB_IAM_USER: IAM_USER,
        c.ENV_DB_HOST: {"Fn::GetAtt": [instance_id, "Endpoint.Address"]},
        c.ENV_DB_PORT: {"Fn::GetAtt": [instance_id, "Endpoint.Port"]},  # 5433, the app's
        c.ENV_DB_NAME: c.DEFAULT_DB_NAME,
    }


def test_iam_instance_made_in_the_app_gets_iam_authentication_on(
    iam_instance: Synthesized,
) -> None:
    """CDK's grant_connect turns it on for an instance it owns (RDS refuses tokens otherwise)."""
    assert iam_instance.one("AWS::RDS::DBInstance")["EnableIAMDatabaseAuthentication"] is True


def test_iam_instance_function_reads_no_secret(iam_instance: Synthesized) -> None:
    assert "secretsmanager:" not in json.dumps(recorder_policy(iam_instance))


def test_iam_instance_vpc_endpoints_admit_the_vpcs_cidr_token(iam_instance: Synthesized) -> None:
    (vpc_id,) = iam_instance.of_type("AWS::EC2::VPC")
    (group,) = [
        v["Properties"]
        for k, v in iam_instance.of_type("AWS::EC2::SecurityGroup").items()
        if "EndpointSecurityGroup" in k
    ]
    assert group["SecurityGroupIngress"] == [
        {
            "CidrIp": {"Fn::GetAtt": [vpc_id, "CidrBlock"]},
            "Description": "HTTPS from the VPC's workloads (private DNS sends them here)",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


# --- A cluster named by context (the `iam_cluster_in_vpc` stack) ------------------------------


def test_iam_cluster_grants_connect_as_the_user_on_its_resource_id(
    iam_cluster_in_vpc: Synthesized,
) -> None:
    template = iam_cluster_in_vpc.template.to_json()
    assert connect_resources(template) == [rds_db_arn(CLUSTER_RESOURCE_ID)]


# --- Small stacks: a proxy, an RDS-managed secret, what is refused ---------------------------

_stacks = itertools.count()


@pytest.fixture
def app() -> App:
    """An app per test: a template is synthesized once per app."""
    return App(context=feature_flags())


@pytest.fixture
def stack(app: App) -> Stack:
    return Stack(app, f"Database{next(_stacks)}")


def proxy(stack: Stack) -> rds.IDatabaseProxy:
    return rds.DatabaseProxy.from_database_proxy_attributes(
        stack,
        "Proxy",
        db_proxy_arn=PROXY_ARN,
        db_proxy_name="documents",
        endpoint=PROXY_HOST,
        security_groups=[],
    )


def instance(stack: Stack, **attributes: Any) -> rds.IDatabaseInstance:
    return rds.DatabaseInstance.from_database_instance_attributes(
        stack,
        "Instance",
        instance_identifier="documents",
        instance_endpoint_address=INSTANCE_HOST,
        port=5432,
        security_groups=[],
        **attributes,
    )


def secret(stack: Stack, arn: str = SECRET_ARN) -> secretsmanager.ISecret:
    return secretsmanager.Secret.from_secret_complete_arn(stack, "Secret", arn)


def template(stack: Stack, **props: Any) -> dict[str, Any]:
    SizeRecorder(stack, "SizeRecorder", table="documents_document", **props)
    found: dict[str, Any] = Template.from_stack(stack).to_json()
    return found


def function_environment(found: dict[str, Any]) -> dict[str, Any]:
    (env,) = [
        r["Properties"]["Environment"]["Variables"]
        for r in found["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == c.HANDLER
    ]
    return env


def test_iam_proxy_grants_connect_as_the_user_on_the_proxy(stack: Stack) -> None:
    found = template(stack, database_user=IAM_USER, database_proxy=proxy(stack))
    assert connect_resources(found) == [rds_db_arn(PROXY_ARN.rsplit(":", 1)[1])]


def test_iam_proxy_endpoint_reaches_the_function_and_its_port_stays_the_default(
    stack: Stack,
) -> None:
    found = template(
        stack, database_user=IAM_USER, database_proxy=proxy(stack), database_name="documents"
    )
    assert database_variables(function_environment(found)) == {
        c.ENV_DB_IAM_USER: IAM_USER,
        c.ENV_DB_HOST: PROXY_HOST,
        c.ENV_DB_NAME: "documents",
    }


def test_rds_managed_secret_takes_its_address_from_the_props(stack: Stack) -> None:
    found = template(
        stack,
        database_secret=secret(stack, RDS_MANAGED_SECRET_ARN),
        database_host=PROXY_HOST,
        database_port=5433,
        database_name="documents",
    )
    assert database_variables(function_environment(found)) == {
        c.ENV_DB_SECRET_ARN: RDS_MANAGED_SECRET_ARN,
        c.ENV_DB_HOST: PROXY_HOST,
        c.ENV_DB_PORT: "5433",
        c.ENV_DB_NAME: "documents",
    }


def refused(stack: Stack, **props: Any) -> str:
    with pytest.raises(SizeRecorderConfigError) as caught:
        SizeRecorder(stack, "SizeRecorder", table="documents_document", **props)
    return str(caught.value)


def test_rds_managed_secret_without_a_host_is_refused(stack: Stack) -> None:
    message = refused(stack, database_secret=secret(stack, RDS_MANAGED_SECRET_ARN))
    assert "database_host and database_secret: an RDS-managed secret" in message


def test_no_way_to_log_in_is_refused_naming_both(stack: Stack) -> None:
    assert "database_secret and database_user: one is required" in refused(stack)


def test_a_secret_and_iam_auth_together_are_refused(stack: Stack) -> None:
    message = refused(
        stack, database_secret=secret(stack), database_user=IAM_USER, database_proxy=proxy(stack)
    )
    assert "database_secret and database_user and database_proxy: choose one way" in message


def test_iam_user_without_a_database_is_refused_naming_the_three(stack: Stack) -> None:
    message = refused(stack, database_user=IAM_USER)
    assert "database_user and database_instance and database_cluster and database_proxy" in message


def test_iam_auth_against_two_databases_is_refused(stack: Stack) -> None:
    message = refused(
        stack,
        database_user=IAM_USER,
        database_proxy=proxy(stack),
        database_instance=instance(stack, instance_resource_id="db-ABCDEFGHIJKL"),
    )
    assert "database_user and database_instance and database_proxy: give exactly one" in message


def test_a_database_without_a_user_is_refused(stack: Stack) -> None:
    message = refused(stack, database_proxy=proxy(stack))
    assert "database_user and database_proxy: IAM database authentication needs" in message


def test_imported_instance_without_its_resource_id_is_refused(stack: Stack) -> None:
    message = refused(stack, database_user=IAM_USER, database_instance=instance(stack))
    assert "database_instance: imported without instance_resource_id" in message


def test_imported_cluster_without_its_resource_id_is_refused(stack: Stack) -> None:
    cluster = rds.DatabaseCluster.from_database_cluster_attributes(
        stack, "Cluster", cluster_identifier="documents", cluster_endpoint_address=INSTANCE_HOST
    )
    message = refused(stack, database_user=IAM_USER, database_cluster=cluster)
    assert "database_cluster: imported without cluster_resource_identifier" in message


# --- The secret's region and the VPC's endpoints ---------------------------------------------


def regional_stack(app: App, region: str) -> Stack:
    return Stack(
        app,
        f"Regional{next(_stacks)}",
        env=Environment(account="123456789012", region=region),
    )


def vpc(stack: Stack, **attributes: Any) -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id=VPC_ID,
        availability_zones=["eu-west-1a"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1"],
        **attributes,
    )


def test_secret_in_another_region_than_the_endpoints_is_refused(app: App) -> None:
    stack = regional_stack(app, "us-east-1")
    message = refused(stack, database_secret=secret(stack), vpc=vpc(stack, vpc_cidr_block=VPC_CIDR))
    assert "the secret is in eu-west-1, but the function reaches Secrets Manager" in message


def test_secret_in_another_region_is_accepted_without_the_endpoints(app: App) -> None:
    stack = regional_stack(app, "us-east-1")
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        table="documents_document",
        database_secret=secret(stack),
        vpc=vpc(stack),
        vpc_endpoints=False,
    )
    assert recorder.endpoints == []


def test_vpc_without_a_known_cidr_is_refused_while_endpoints_are_made(stack: Stack) -> None:
    message = refused(stack, database_secret=secret(stack), vpc=vpc(stack))
    assert "vpc and endpoint_peers and vpc_endpoints: the endpoints' private DNS" in message


def test_vpc_without_a_known_cidr_is_accepted_with_chosen_peers(stack: Stack) -> None:
    app_group = ec2.SecurityGroup.from_security_group_id(stack, "App", "sg-0ddddddddddddddd4")
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        table="documents_document",
        database_secret=secret(stack),
        vpc=vpc(stack),
        endpoint_peers=[app_group],
    )
    assert len(recorder.endpoints) == 2
