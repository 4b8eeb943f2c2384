"""A stack's outputs, for `size-recorder status --stack NAME`.

boto3 is imported on first use; the client honours boto3's standard settings.
"""

from __future__ import annotations

from typing import Any


class StackNotFound(Exception):
    """No stack of that name in this account and region."""


def cloudformation_client() -> Any:
    import boto3

    return boto3.client("cloudformation")


def stack_outputs(client: Any, stack_name: str) -> dict[str, str]:
    """OutputKey → OutputValue of the stack; raises `StackNotFound`."""
    from botocore.exceptions import ClientError

    try:
        response = client.describe_stacks(StackName=stack_name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # CloudFormation answers a missing stack with a ValidationError "... does not exist".
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise StackNotFound(_missing(client, stack_name)) from None
        raise
    stacks = response.get("Stacks", [])
    if not stacks:
        raise StackNotFound(_missing(client, stack_name))
    return {
        str(output["OutputKey"]): str(output["OutputValue"])
        for output in stacks[0].get("Outputs", [])
    }


def _missing(client: Any, stack_name: str) -> str:
    region = client.meta.region_name
    return (
        f"no stack named {stack_name!r} in {region}"
        " (is AWS_DEFAULT_REGION, or the profile's region, the stack's?)"
    )
