"""cdk-nag (AwsSolutions) and cfn-lint on the synthesized templates.

The session fixtures already synthesized with cdk-nag applied: synthesis itself fails on any
unacknowledged finding. These tests also pin down *which* findings are acknowledged and why, so a
new acknowledgement is a reviewed change, and check that none of them is stale.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint

import size_recorder_cdk.construct
import size_recorder_cdk.context
from size_recorder_cdk import SizeRecorder
from size_recorder_cdk.context import settings_from_mapping
from size_recorder_cdk.stack import SizeRecorderStack
from tests.infra.apps import (
    EXISTING_BUCKET_IN_VPC,
    IAM_CLUSTER_IN_VPC,
    NEW_BUCKET,
    SCAFFOLDING_ACKNOWLEDGED,
    SECRET_ARN,
    Synthesized,
    app_context,
    feature_flags,
    private_vpc,
)

ACKNOWLEDGED = {
    "AwsSolutions::AwsSolutions-L1",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaVPCAccessExecutionRole]",
    "Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId",
    "Annotation::@aws-cdk/aws-lambda:snapStartRequirePublish",
    "AwsSolutions::AwsSolutions-EC23",
}
# cfn-lint warnings that come from CDK's own template shape, not from our choices:
# W3005: CDK adds explicit DependsOn (role before function, queue policy before the bucket
# notification) even where a GetAtt already implies the order.
CDK_LINT_NOISE = {"W3005"}


def acknowledgements(s: Synthesized) -> dict[str, str]:
    """Every acknowledged rule in the app, with its reason."""
    found: dict[str, str] = {}
    for construct in s.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                found.update(entry.data)
    return found


def validation_report(s: Synthesized) -> dict[str, Any]:
    outdir = Path(s.app.outdir)
    report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())
    return report


def test_nag_synth_has_no_unacknowledged_findings(any_config: Synthesized) -> None:
    # The fixture's synth would have raised; the report confirms not even a warning is left.
    for plugin in validation_report(any_config)["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]


def ours(s: Synthesized) -> set[str]:
    """The app's acknowledgements less those of a team's scaffolding, and less CDK's own VPC's
    (it acknowledges CloudFormation-Validate rules on itself: not ours to review)."""
    return {
        rule
        for rule in acknowledgements(s)
        if not rule.startswith("CloudFormation-")
        and (rule not in SCAFFOLDING_ACKNOWLEDGED or rule in ACKNOWLEDGED)
    }


def test_nag_acknowledgements_are_exactly_the_reviewed_ones(
    new_bucket: Synthesized,
    existing_bucket_in_vpc: Synthesized,
    iam_cluster_in_vpc: Synthesized,
    objects: Synthesized,
    notifications: Synthesized,
    iam_instance: Synthesized,
) -> None:
    every = (
        new_bucket,
        existing_bucket_in_vpc,
        iam_cluster_in_vpc,
        objects,
        notifications,
        iam_instance,
    )
    assert set().union(*map(ours, every)) == ACKNOWLEDGED


def test_nag_every_acknowledgement_gives_a_reason(any_config: Synthesized) -> None:
    for rule, reason in acknowledgements(any_config).items():
        assert len(reason.split()) >= 10, f"{rule}: reason too thin: {reason!r}"


@pytest.fixture(scope="module")
def findings_without_acknowledgements() -> set[str]:
    """What cdk-nag and CDK report when nothing is acknowledged, on one app holding the VPC
    configuration (EventBridge), the new bucket's (CDK's notifications handler), IAM auth with
    SnapStart, and a VPC made in the app (its CIDR a token)."""
    with pytest.MonkeyPatch.context() as patch:
        for module in (size_recorder_cdk.construct, size_recorder_cdk.context):
            patch.setattr(module, "acknowledge", lambda *_: None)
        app = App(context=feature_flags(), outdir=tempfile.mkdtemp(prefix="size-recorder-cdk-"))
        for name, values in (
            ("InVpc", EXISTING_BUCKET_IN_VPC),
            ("NewBucket", NEW_BUCKET),
            ("IamCluster", IAM_CLUSTER_IN_VPC),
        ):
            context = {k: v for k, v in app_context(**values).items() if k.startswith("size-")}
            SizeRecorderStack(app, name, settings=settings_from_mapping(context))
        stack = Stack(app, "VpcInTheApp")
        SizeRecorder(
            stack,
            "SizeRecorder",
            table="documents_document",
            database_secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN),
            vpc=private_vpc(stack),
        )
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        with pytest.raises(RuntimeError, match="ValidationFailed"):
            app.synth()
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    found = set()
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            rule = violation["ruleName"]
            found.add(
                rule if rule.startswith("Annotation::") else f"{plugin['pluginName']}::{rule}"
            )
    return found


def test_nag_no_acknowledgement_is_stale(findings_without_acknowledgements: set[str]) -> None:
    """Each acknowledgement silences a real finding, and they silence all of them."""
    assert findings_without_acknowledgements == ACKNOWLEDGED


def test_cfn_lint_has_no_errors(any_config: Synthesized) -> None:
    template = json.dumps(any_config.template.to_json())
    matches = lint(template, regions=["us-east-1", "eu-west-1"])
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    warnings = {m.rule.id for m in matches if m.rule.id.startswith("W")}
    assert warnings <= CDK_LINT_NOISE, f"new cfn-lint warnings: {warnings - CDK_LINT_NOISE}"
