"""Issue 15: with the recorder's VPC endpoints (private subnets, no NAT), the reconciliation's
batches reach S3 through a gateway endpoint on the recorder's subnets' route tables."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint

from size_recorder_cdk import SizeRecorder, SizeRecorderConfigError
from size_recorder_cdk.reconcile import Reconciliation, add_reconciliation
from size_recorder_cdk.stack import SizeRecorderStack
from tests.infra.apps import (
    SECRET_ARN,
    SECURITY_GROUP_ID,
    SUBNET_IDS,
    VPC_CIDR,
    VPC_ID,
    app_context,
    feature_flags,
    new_app,
    synthesize,
)

ROUTE_TABLE_IDS = ("rtb-0aaaaaaaaaaaaaaa1", "rtb-0bbbbbbbbbbbbbbb2")


def private_subnets_app(
    *, route_tables: bool = True, vpc_endpoints: bool = True
) -> tuple[App, Stack, SizeRecorder]:
    """A recorder in an imported VPC's private subnets, making its endpoints by default."""
    app = App(context=feature_flags(), outdir=tempfile.mkdtemp(prefix="size-recorder-cdk-"))
    stack = Stack(app, "Media", env=Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id=VPC_ID,
        vpc_cidr_block=VPC_CIDR,
        availability_zones=["eu-west-1a", "eu-west-1b"],
        private_subnet_ids=list(SUBNET_IDS),
        private_subnet_route_table_ids=list(ROUTE_TABLE_IDS) if route_tables else None,
    )
    recorder = SizeRecorder(
        stack,
        "SizeRecorder",
        table="documents_document",
        database_secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN),
        vpc=vpc,
        vpc_endpoints=vpc_endpoints,
    )
    return app, stack, recorder


def gateway_endpoints(stack: Stack) -> list[dict[str, Any]]:
    endpoints = Template.from_stack(stack).find_resources("AWS::EC2::VPCEndpoint")
    return [
        e["Properties"]
        for e in endpoints.values()
        if e["Properties"].get("VpcEndpointType") == "Gateway"
    ]


@pytest.fixture(scope="module")
def in_private_subnets() -> tuple[App, Stack, SizeRecorder, Reconciliation]:
    """The reconciliation of a recorder in private subnets that makes its endpoints, checked by
    cdk-nag."""
    app, stack, recorder = private_subnets_app()
    reconciliation = add_reconciliation(recorder)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return app, stack, recorder, reconciliation


def test_reconciliation_in_private_subnets_reaches_s3_through_a_gateway_endpoint(
    in_private_subnets: tuple[App, Stack, SizeRecorder, Reconciliation],
) -> None:
    _, stack, recorder, reconciliation = in_private_subnets
    [endpoint] = gateway_endpoints(stack)
    assert endpoint["VpcId"] == VPC_ID
    assert endpoint["RouteTableIds"] == list(ROUTE_TABLE_IDS)
    assert endpoint["ServiceName"] == {
        "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]
    }
    assert reconciliation.s3_endpoint is not None
    # The interface endpoints stay as they were: SQS and Secrets Manager.
    assert len(recorder.endpoints) == 2


def test_reconciliation_with_its_s3_endpoint_passes_cdk_nag_and_cfn_lint(
    in_private_subnets: tuple[App, Stack, SizeRecorder, Reconciliation],
) -> None:
    app, stack, _, _ = in_private_subnets
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    assert [plugin["violations"] for plugin in report["pluginReports"]] == [[]]
    matches = lint(json.dumps(Template.from_stack(stack).to_json()), regions=["eu-west-1"])
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


def test_reconciliation_in_a_vpc_whose_route_tables_route_s3_already_makes_none() -> None:
    _, stack, recorder = private_subnets_app()
    reconciliation = add_reconciliation(recorder, s3_endpoint=False)
    assert reconciliation.s3_endpoint is None
    assert gateway_endpoints(stack) == []


def test_reconciliation_beside_a_vpc_without_the_recorders_endpoints_makes_none() -> None:
    # vpc_endpoints=False: the VPC has NAT, or endpoints of its own.
    _, stack, recorder = private_subnets_app(vpc_endpoints=False)
    reconciliation = add_reconciliation(recorder)
    assert reconciliation.s3_endpoint is None
    assert gateway_endpoints(stack) == []


def test_reconciliation_in_subnets_without_known_route_tables_is_refused() -> None:
    _, _, recorder = private_subnets_app(route_tables=False)
    with pytest.raises(SizeRecorderConfigError, match=r"s3_endpoint and vpc: .*route tables"):
        add_reconciliation(recorder)


# The stack behind cdk.json imports the subnets by id: their route tables come from context.


def reconcile_in_a_vpc_context(**settings: Any) -> dict[str, Any]:
    """`-c reconcile=true` with a VPC by ids, the stack making its endpoints (the default)."""
    return app_context(
        reconcile="true",
        vpc_id=VPC_ID,
        subnet_ids=",".join(SUBNET_IDS),
        security_group_ids=SECURITY_GROUP_ID,
        vpc_cidr_block=VPC_CIDR,
        **settings,
    )


def test_context_reconcile_in_a_vpc_with_route_table_ids_routes_s3_through_them() -> None:
    # The synth runs cdk-nag: the subnets, imported with their route tables, need no
    # acknowledgement.
    s = synthesize(reconcile_in_a_vpc_context(subnet_route_table_ids=",".join(ROUTE_TABLE_IDS)))
    [endpoint] = gateway_endpoints(s.stack)
    assert endpoint["VpcId"] == VPC_ID
    assert endpoint["RouteTableIds"] == list(ROUTE_TABLE_IDS)
    assert s.recorder.reconciliation is not None
    assert s.recorder.reconciliation.s3_endpoint is not None


def test_context_reconcile_in_subnets_sharing_a_route_table_routes_it_once() -> None:
    shared = [ROUTE_TABLE_IDS[0]] * len(SUBNET_IDS)
    s = synthesize(reconcile_in_a_vpc_context(subnet_route_table_ids=shared))
    [endpoint] = gateway_endpoints(s.stack)
    assert endpoint["RouteTableIds"] == [ROUTE_TABLE_IDS[0]]


def test_context_reconcile_in_a_vpc_that_routes_s3_already_synthesizes_without_one() -> None:
    s = synthesize(reconcile_in_a_vpc_context(s3_endpoint="false"))
    assert gateway_endpoints(s.stack) == []
    assert s.recorder.reconciliation is not None
    assert s.recorder.reconciliation.s3_endpoint is None


def test_context_reconcile_in_a_vpc_without_route_table_ids_names_the_keys_that_fix_it() -> None:
    with pytest.raises(SizeRecorderConfigError) as caught:
        SizeRecorderStack(new_app(reconcile_in_a_vpc_context()), "SizeRecorder")
    message = str(caught.value)
    assert "'size-recorder:subnetRouteTableIds' and 'size-recorder:s3Endpoint'" in message
    assert "s3_endpoint and vpc" not in message
