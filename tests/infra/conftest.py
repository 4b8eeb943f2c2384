"""Synthesize each configuration (tests/infra/apps.py) once per session: a cold synth costs
seconds."""

from __future__ import annotations

import pytest

from tests.infra.apps import (
    EXISTING_BUCKET_IN_VPC,
    IAM_CLUSTER_IN_VPC,
    NEW_BUCKET,
    Synthesized,
    app_context,
    iam_instance_app,
    notification_app,
    objects_app,
    synthesize,
)


@pytest.fixture(scope="session")
def new_bucket() -> Synthesized:
    return synthesize(app_context(**NEW_BUCKET))


@pytest.fixture(scope="session")
def existing_bucket_in_vpc() -> Synthesized:
    return synthesize(app_context(**EXISTING_BUCKET_IN_VPC))


@pytest.fixture(scope="session")
def iam_cluster_in_vpc() -> Synthesized:
    return synthesize(app_context(**IAM_CLUSTER_IN_VPC))


@pytest.fixture(scope="session")
def objects() -> Synthesized:
    return objects_app()


@pytest.fixture(scope="session")
def iam_instance() -> Synthesized:
    return iam_instance_app()


@pytest.fixture(scope="session")
def notifications() -> Synthesized:
    return notification_app()


CONFIGS = [
    "new_bucket",
    "existing_bucket_in_vpc",
    "iam_cluster_in_vpc",
    "objects",
    "notifications",
    "iam_instance",
]


@pytest.fixture(scope="session", params=CONFIGS)
def any_config(request: pytest.FixtureRequest) -> Synthesized:
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized


@pytest.fixture(
    scope="session", params=["new_bucket", "existing_bucket_in_vpc", "iam_cluster_in_vpc"]
)
def context_config(request: pytest.FixtureRequest) -> Synthesized:
    """The stack behind cdk.json: literal ARNs, outputs."""
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized
