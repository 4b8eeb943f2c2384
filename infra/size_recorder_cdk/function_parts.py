"""What every function the construct makes has: a log group of its own, kept as long as the
recorder's logs; a role of its own that may write to that group only (instead of the
AWSLambdaBasicExecutionRole managed policy, which writes to any); in a VPC, the ENI policy."""

from __future__ import annotations

import typing
from typing import Final

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

VPC_ACCESS_POLICY: Final = "service-role/AWSLambdaVPCAccessExecutionRole"
# Why cdk-nag's AwsSolutions-IAM4 finding on VPC_ACCESS_POLICY is accepted.
VPC_ACCESS_WHY: Final = (
    "Lambda needs ec2:CreateNetworkInterface/DescribeNetworkInterfaces/DeleteNetworkInterface on"
    " * to place the function in the VPC; these actions do not support resource-level scoping,"
    " and AWS maintains this policy for exactly that."
)


def retained_log_group(scope: Construct, id: str, *, retention_days: int) -> logs.LogGroup:
    """A log group kept `retention_days` days."""
    log_group = logs.LogGroup(scope, id)
    # RetentionDays names periods ("ONE_MONTH"); the setting is a number of days.
    typing.cast(logs.CfnLogGroup, log_group.node.default_child).retention_in_days = retention_days
    return log_group


def function_role(scope: Construct, *, description: str, log_group: logs.ILogGroup) -> iam.Role:
    """A role Lambda assumes, allowed to write to `log_group` only."""
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_group.grant_write(role)
    return role


def allow_vpc_networking(role: iam.IRole) -> None:
    """Lets the function make its network interfaces in the VPC: EC2 actions that cannot be
    scoped to a resource. The caller acknowledges the managed policy, with VPC_ACCESS_WHY."""
    role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(VPC_ACCESS_POLICY))
