"""Synthesize each stack configuration once per session: a cold synth costs seconds.

Template tests skip bundling (`aws:cdk:bundling-stacks` = []): they assert the template, not the
asset. The bundling and CLI tests in test_cli_synth.py run the real thing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from size_recorder_cdk.props import context_key
from size_recorder_cdk.stack import SizeRecorderStack

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/documents-db-AbCdEf"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ops-alarms"
VPC_ID = "vpc-0123456789abcdef0"
SUBNET_IDS = ("subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2")
SECURITY_GROUP_ID = "sg-0ccccccccccccccc3"
EXISTING_BUCKET = "acme-django-media"

# The settings a platform team must give; everything else comes from cdk.json.
REQUIRED = {"table": "public.documents_document", "db_secret_arn": SECRET_ARN}


def project_context() -> dict[str, Any]:
    """cdk.json's context, exactly as the CLI would pass it (feature flags included)."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


def app_context(*, bundle: bool = False, **settings: Any) -> dict[str, Any]:
    """cdk.json context + the required settings + `settings` (prop names, raw context values)."""
    context = project_context()
    context.update({context_key(name): value for name, value in {**REQUIRED, **settings}.items()})
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    return context


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: SizeRecorderStack
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


def synthesize(context: dict[str, Any]) -> Synthesized:
    """Build the app the way infra/app.py does, with cdk-nag's AwsSolutions pack applied.

    Synthesis raises when cdk-nag (or CDK's own validation) reports an unacknowledged finding.
    """
    app = App(context=context, outdir=tempfile.mkdtemp(prefix="size-recorder-cdk-"))
    stack = SizeRecorderStack(app, "SizeRecorder")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return Synthesized(app=app, stack=stack, template=Template.from_stack(stack))


# Two configurations cover both sides of every switch: bucket new/existing, VPC or not,
# topic new/existing, arm64/x86_64, single table/targets, filters or not.
NEW_BUCKET = {"alarm_email": "ops@example.com"}
EXISTING_BUCKET_IN_VPC = {
    "table": "",
    "targets": [
        {"prefix": "media/", "table": "documents_document"},
        {"prefix": "avatars/", "table": "accounts_profile", "size_column": "avatar_size"},
    ],
    "existing_bucket_name": EXISTING_BUCKET,
    "notification_suffix": ".pdf",
    "notification_prefix": "media/",
    "db_secret_kms_key_arn": KMS_KEY_ARN,
    # -c values arrive as strings: exercise that path too.
    "vpc_id": VPC_ID,
    "subnet_ids": ",".join(SUBNET_IDS),
    "security_group_ids": SECURITY_GROUP_ID,
    "alarm_topic_arn": TOPIC_ARN,
    "architecture": "x86_64",
    "batch_size": "100",
    "max_batching_window_seconds": "10",
    "function_timeout_seconds": "60",
    "max_concurrency": "3",
}


@pytest.fixture(scope="session")
def new_bucket() -> Synthesized:
    return synthesize(app_context(**NEW_BUCKET))


@pytest.fixture(scope="session")
def existing_bucket_in_vpc() -> Synthesized:
    return synthesize(app_context(**EXISTING_BUCKET_IN_VPC))


@pytest.fixture(scope="session", params=["new_bucket", "existing_bucket_in_vpc"])
def any_config(request: pytest.FixtureRequest) -> Synthesized:
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized
