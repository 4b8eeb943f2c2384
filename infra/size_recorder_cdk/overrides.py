"""Override props (`bucket_props`, `queue_props`, `dead_letter_queue_props`, `function_props`):
keyword arguments of the CDK constructor, merged over the construct's secure defaults.

As in AWS Solutions Constructs, the team may change anything but what keeps the recorder secure
and working: a keyword that would turn encryption or TLS off is refused, and so is one that a
typed prop or the construct's own wiring sets (naming that prop), so two settings never fight.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from size_recorder import constants as c
from size_recorder_cdk.errors import Problem

# Variables the construct sets from its props; a password in DATABASE_URL would sit in plain
# sight in the function's configuration.
_RESERVED_VARIABLE_PREFIXES: Final = ("SIZE_RECORDER_", "POWERTOOLS_", c.ENV_DATABASE_URL)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A value the construct will not accept for one keyword, and why."""

    refuses: Callable[[Any], bool]
    why: str


@dataclass(frozen=True, slots=True)
class OverrideRules:
    prop: str
    constructor: type
    # keyword → what sets it instead (a prop, or the construct's wiring)
    owned: Mapping[str, str]
    refused: Mapping[str, Refusal]

    def accepted(self) -> frozenset[str]:
        # The class's own __init__: jsii's metaclass hides it from inspect.signature(cls).
        parameters = inspect.signature(vars(self.constructor)["__init__"]).parameters
        return frozenset(parameters) - {"self", "scope", "id"}

    def problems(self, overrides: Mapping[str, Any] | None) -> list[Problem]:
        if overrides is None:
            return []
        found = []
        unknown = sorted(set(overrides) - self.accepted())
        if unknown:
            found.append(
                Problem(
                    (self.prop,),
                    f"{self.constructor.__qualname__} takes no keyword {', '.join(unknown)}",
                )
            )
        for key in sorted(set(overrides) & set(self.owned)):
            found.append(Problem((self.prop,), f"{key!r} is set by {self.owned[key]}"))
        for key, refusal in self.refused.items():
            if key in overrides and refusal.refuses(overrides[key]):
                found.append(Problem((self.prop,), f"{key}={overrides[key]!r}: {refusal.why}"))
        return found


def merged(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None, wired: Mapping[str, Any]
) -> dict[str, Any]:
    """The constructor's keywords: secure defaults, then the team's overrides (checked by
    `problems` first), then what the construct wires itself."""
    return {**defaults, **(overrides or {}), **wired}


def _is(*refused: Any) -> Callable[[Any], bool]:
    return lambda value: any(value is r or value == r for r in refused)


def _not_block_all(value: Any) -> bool:
    return not all(
        getattr(value, flag, False)
        for flag in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )


_SSL = Refusal(_is(False), "TLS stays enforced: requests without it are denied")
_QUEUE_ENCRYPTION = Refusal(
    _is(sqs.QueueEncryption.UNENCRYPTED, sqs.QueueEncryption.KMS_MANAGED),
    "messages name the app's objects: keep them encrypted, with SQS_MANAGED or a customer"
    " managed KMS key (S3 and EventBridge cannot send to a queue under the AWS-managed"
    " alias/aws/sqs key)",
)
_FIFO = Refusal(_is(True), "S3 and EventBridge send to a standard queue")

BUCKET: Final = OverrideRules(
    prop="bucket_props",
    constructor=s3.Bucket,
    owned={"event_bridge_enabled": "event_source"},
    refused={
        "encryption": Refusal(
            _is(s3.BucketEncryption.UNENCRYPTED), "objects stay encrypted at rest"
        ),
        "enforce_ssl": _SSL,
        "block_public_access": Refusal(_not_block_all, "all public access stays blocked"),
        "public_read_access": Refusal(_is(True), "all public access stays blocked"),
    },
)
QUEUE: Final = OverrideRules(
    prop="queue_props",
    constructor=sqs.Queue,
    owned={
        "dead_letter_queue": "max_receive_count and the construct's dead-letter queue",
        "visibility_timeout": "visibility_timeout_seconds",
        "retention_period": "queue_retention_days",
    },
    refused={"encryption": _QUEUE_ENCRYPTION, "enforce_ssl": _SSL, "fifo": _FIFO},
)
DEAD_LETTER_QUEUE: Final = OverrideRules(
    prop="dead_letter_queue_props",
    constructor=sqs.Queue,
    owned={
        "retention_period": f"the construct: {c.DLQ_RETENTION_DAYS} days, the most SQS keeps,"
        " so replay has the longest window",
    },
    refused={
        "encryption": Refusal(
            _is(sqs.QueueEncryption.UNENCRYPTED), "dead letters name the app's objects too"
        ),
        "enforce_ssl": _SSL,
        "fifo": Refusal(_is(True), "a standard queue's dead-letter queue is standard"),
    },
)
_BUNDLE = "the construct: the recorder's bundle, handler and runtime"
FUNCTION: Final = OverrideRules(
    prop="function_props",
    constructor=lambda_.Function,
    owned={
        "code": _BUNDLE,
        "handler": _BUNDLE,
        "runtime": _BUNDLE,
        "architecture": "architecture",
        "memory_size": "memory_size_mb",
        "timeout": "function_timeout_seconds",
        "role": "the construct's least-privilege role (add statements to recorder.function.role)",
        "log_group": "the construct's log group (log_retention_days)",
        "log_retention": "log_retention_days",
        "vpc": "vpc",
        "vpc_subnets": "vpc_subnets",
        "security_groups": "security_groups",
        "events": "the construct's SQS event source",
        "snap_start": "snap_start",
        "current_version_options": "snap_start (each replaced version is deleted, so only the"
        " live one keeps a cached snapshot)",
    },
    refused={
        "environment": Refusal(
            lambda env: any(name.startswith(_RESERVED_VARIABLE_PREFIXES) for name in (env or {})),
            "SIZE_RECORDER_* and POWERTOOLS_* variables come from the props, and DATABASE_URL"
            " would put a password in the function's configuration (use database_secret or IAM"
            " auth: database_user)",
        ),
    },
)
