"""Everything a platform team can change about a size-recorder deployment, in one frozen value.

Each field is one CDK context key (`size-recorder:` + the field name in camelCase) when the stack
reads it from `cdk.json` or `-c key=value`, and one keyword of `SizeRecorderProps` when a team drops
the construct into its own app. `validate()` checks the whole set at once, so a missing or
contradictory value fails synth with a message naming the context key, not deep inside CDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final, Literal

from aws_lambda_powertools.shared.constants import (
    METRICS_NAMESPACE_ENV,
    POWERTOOLS_LOG_LEVEL_ENV,
    SERVICE_NAME_ENV,
)

from size_recorder import constants as c
from size_recorder.constants import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_WINDOW_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_FUNCTION_TIMEOUT_S,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RECEIVE_COUNT,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    DEFAULT_UNMATCHED_RETRY_BASE_S,
    DEFAULT_UNMATCHED_RETRY_MAX_S,
    DLQ_RETENTION_DAYS,
)
from size_recorder.core.config import ConfigError, Settings

CONTEXT_PREFIX: Final = "size-recorder:"

Architecture = Literal["arm64", "x86_64"]
ARCHITECTURES: Final[tuple[Architecture, ...]] = ("arm64", "x86_64")

# SQS and Lambda limits the template would otherwise only hit at deploy time.
MAX_VISIBILITY_TIMEOUT_S: Final = 43_200
MIN_MAX_RECEIVE_COUNT: Final = 5
# The recorder's statement_timeout must leave the function time to report the failure.
STATEMENT_TIMEOUT_SHARE: Final = 0.5
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS: Final = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)

_SECRET_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}"
)
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_VPC_ID = re.compile(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?")
_SECURITY_GROUP_ID = re.compile(r"sg-[0-9a-f]{8}([0-9a-f]{9})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# Which setting feeds which of the recorder's variables, to name the key in the recorder's errors.
_ENV_SETTINGS: Final = {
    c.ENV_TARGETS: "targets",
    c.ENV_TABLE: "table",
    c.ENV_KEY_COLUMN: "key_column",
    c.ENV_SIZE_COLUMN: "size_column",
    c.ENV_SEQUENCER_COLUMN: "sequencer_column",
    c.ENV_KEY_PREFIX: "key_prefix",
    c.ENV_STATEMENT_TIMEOUT_MS: "statement_timeout_ms",
    c.ENV_CONNECT_TIMEOUT_S: "connect_timeout_seconds",
}


# (setting, pattern, what it must be): checked wherever the setting is set.
_FORMATS: Final = (
    ("existing_bucket_name", _BUCKET_NAME, "an S3 bucket name"),
    ("db_secret_arn", _SECRET_ARN, "a complete secret ARN (ending in -XXXXXX)"),
    ("db_secret_kms_key_arn", _KMS_KEY_ARN, "a KMS key ARN"),
    ("vpc_id", _VPC_ID, "a VPC id (vpc-0123456789abcdef0)"),
    ("subnet_ids", _SUBNET_ID, "subnet ids (subnet-0123456789abcdef0)"),
    ("security_group_ids", _SECURITY_GROUP_ID, "security group ids (sg-0123456789abcdef0)"),
    ("alarm_email", _EMAIL, "an email address"),
    ("alarm_topic_arn", _TOPIC_ARN, "an SNS topic ARN"),
)


class SizeRecorderConfigError(ValueError):
    """A size-recorder setting is missing, malformed or contradicts another one."""


def context_key(name: str) -> str:
    """The context key of a `SizeRecorderProps` field: `batch_size` → `size-recorder:batchSize`."""
    head, *rest = name.split("_")
    return CONTEXT_PREFIX + head + "".join(part.capitalize() for part in rest)


def _named(*names: str) -> str:
    return " and ".join(f"{context_key(name)!r} (prop {name})" for name in names)


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeRecorderProps:
    """Settings of one size-recorder deployment; every field has a secure, working default
    except the two that only the platform team knows: the target table and the database secret.
    """

    # Bucket: a new, hardened one unless an existing bucket is named.
    existing_bucket_name: str | None = None
    notification_prefix: str | None = None  # default: key_prefix
    notification_suffix: str | None = None
    noncurrent_version_expiration_days: int = 0  # new bucket only; 0 keeps old versions

    # Target: one table, or SIZE_RECORDER_TARGETS. None leaves the recorder's own default.
    table: str | None = None
    key_column: str | None = None
    size_column: str | None = None
    sequencer_column: str | None = None
    key_prefix: str = ""
    targets: str | None = None  # JSON list, passed through as SIZE_RECORDER_TARGETS

    # Database.
    db_secret_arn: str | None = None
    db_secret_kms_key_arn: str | None = None
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    connect_timeout_seconds: int = DEFAULT_CONNECT_TIMEOUT_S

    # Network: no VPC, or all three ids.
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    vpc_endpoints: bool = True

    # Function.
    architecture: Architecture = "arm64"
    memory_size_mb: int = 256
    function_timeout_seconds: int = DEFAULT_FUNCTION_TIMEOUT_S
    log_retention_days: int = 30
    log_level: str = "INFO"
    unmatched_retry_base_seconds: int = DEFAULT_UNMATCHED_RETRY_BASE_S
    unmatched_retry_max_seconds: int = DEFAULT_UNMATCHED_RETRY_MAX_S

    # Queue and event source.
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batching_window_seconds: int = DEFAULT_BATCH_WINDOW_S
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    visibility_timeout_seconds: int | None = None  # default: 6 x timeout + window
    queue_retention_days: int = 4

    # Alarms.
    alarm_email: str | None = None
    alarm_topic_arn: str | None = None
    oldest_message_age_alarm_seconds: int = 900
    unmatched_alarm_threshold: int = 50
    invalid_alarm_threshold: int = 1
    errors_alarm_threshold: int = 1
    throttles_alarm_threshold: int = 1

    @property
    def effective_notification_prefix(self) -> str:
        return self.key_prefix if self.notification_prefix is None else self.notification_prefix

    @property
    def effective_visibility_timeout_seconds(self) -> int:
        """AWS's rule for SQS-triggered functions: at least 6 x timeout, plus the window."""
        if self.visibility_timeout_seconds is not None:
            return self.visibility_timeout_seconds
        return self.minimum_visibility_timeout_seconds

    @property
    def minimum_visibility_timeout_seconds(self) -> int:
        return 6 * self.function_timeout_seconds + self.max_batching_window_seconds

    @property
    def uses_vpc(self) -> bool:
        return self.vpc_id is not None

    @property
    def follows_deletes(self) -> bool:
        """Whether the recorder is told of deletions: only a target with a sequencer column can
        order a delete against the creates of the same key, so only then are they sent."""
        settings = Settings.from_env(
            function_environment(self, secret_arn=self.db_secret_arn or "unset")
        )
        return any(target.sequencer_column is not None for target in settings.targets)


def validate(props: SizeRecorderProps) -> None:
    """Raise `SizeRecorderConfigError` listing every problem, each naming its context key."""
    problems = [*_target_problems(props), *_other_problems(props)]
    if problems:
        raise SizeRecorderConfigError(
            "invalid size-recorder settings:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _target_problems(p: SizeRecorderProps) -> list[str]:
    single = ("table", "key_column", "size_column", "sequencer_column", "key_prefix")
    if p.targets is not None:
        clashing = [name for name in single if getattr(p, name)]
        if clashing:
            return [
                f"{_named('targets')} replaces the single-table settings: unset {_named(*clashing)}"
            ]
    elif p.table is None:
        return [f"{_named('table')} or {_named('targets')} is required: the table to update"]
    # The rest (identifiers, the targets JSON) is what the recorder itself checks at start-up:
    # ask it now, so a bad value fails synth instead of the first invocation.
    try:
        Settings.from_env(function_environment(p, secret_arn=p.db_secret_arn or "unset"))
    except ConfigError as exc:
        named = [name for env, name in _ENV_SETTINGS.items() if env in str(exc)]
        return [f"{_named(*named)}: the recorder rejects it: {exc}"]
    return []


def function_environment(props: SizeRecorderProps, *, secret_arn: str) -> dict[str, str]:
    """The function's environment, as in the core recorder's configuration table.

    DATABASE_URL is never set: credentials come from the secret, fetched at run time.
    """
    env = {
        c.ENV_DB_SECRET_ARN: secret_arn,
        c.ENV_STATEMENT_TIMEOUT_MS: str(props.statement_timeout_ms),
        c.ENV_CONNECT_TIMEOUT_S: str(props.connect_timeout_seconds),
        c.ENV_UNMATCHED_RETRY_BASE_S: str(props.unmatched_retry_base_seconds),
        c.ENV_UNMATCHED_RETRY_MAX_S: str(props.unmatched_retry_max_seconds),
        SERVICE_NAME_ENV: c.SERVICE_NAME,
        METRICS_NAMESPACE_ENV: c.METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL_ENV: props.log_level.upper(),
    }
    optional = {
        c.ENV_TABLE: props.table,
        c.ENV_KEY_COLUMN: props.key_column,
        c.ENV_SIZE_COLUMN: props.size_column,
        c.ENV_SEQUENCER_COLUMN: props.sequencer_column,
        c.ENV_KEY_PREFIX: props.key_prefix or None,
        c.ENV_TARGETS: props.targets,
    }
    env.update({name: value for name, value in optional.items() if value is not None})
    return env


def _other_problems(p: SizeRecorderProps) -> list[str]:
    problems: list[str] = []

    def need(ok: bool, *names: str, why: str) -> None:
        if not ok:
            problems.append(f"{_named(*names)}: {why}")

    need(
        p.existing_bucket_name is None or p.noncurrent_version_expiration_days == 0,
        "noncurrent_version_expiration_days",
        "existing_bucket_name",
        why="lifecycle rules apply only to a bucket this stack creates",
    )
    need(
        p.noncurrent_version_expiration_days >= 0,
        "noncurrent_version_expiration_days",
        why="must be 0 (keep) or a number of days",
    )

    if p.db_secret_arn is None:
        problems.append(
            f"{_named('db_secret_arn')} is required: the ARN of the Secrets Manager secret"
            " (RDS JSON shape) the function reads its database credentials from"
        )
    for name, pattern, what in _FORMATS:
        value = getattr(p, name)
        values = value if isinstance(value, tuple) else () if value is None else (value,)
        wrong = [v for v in values if not pattern.fullmatch(v)]
        need(not wrong, name, why=f"not {what}: {', '.join(map(repr, wrong))}")

    if p.uses_vpc:
        need(bool(p.subnet_ids), "subnet_ids", "vpc_id", why="a VPC needs the subnets to use")
        need(
            bool(p.security_group_ids),
            "security_group_ids",
            "vpc_id",
            why="a VPC needs the security group(s) that may reach the database",
        )
    else:
        need(
            not p.subnet_ids and not p.security_group_ids,
            "vpc_id",
            "subnet_ids",
            "security_group_ids",
            why="subnets and security groups need a VPC id",
        )

    need(
        p.architecture in ARCHITECTURES,
        "architecture",
        why=f"must be one of {', '.join(ARCHITECTURES)}, got {p.architecture!r}",
    )
    need(128 <= p.memory_size_mb <= 10_240, "memory_size_mb", why="must be 128..10240")
    need(1 <= p.function_timeout_seconds <= 900, "function_timeout_seconds", why="must be 1..900")
    need(
        p.log_retention_days in LOG_RETENTION_DAYS,
        "log_retention_days",
        why=f"must be one of {sorted(LOG_RETENTION_DAYS)}",
    )
    need(
        p.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"},
        "log_level",
        why=f"not a log level: {p.log_level!r}",
    )
    need(
        0 < p.statement_timeout_ms <= p.function_timeout_seconds * 1000 * STATEMENT_TIMEOUT_SHARE,
        "statement_timeout_ms",
        "function_timeout_seconds",
        why=f"the statement timeout ({p.statement_timeout_ms} ms) must be positive and at most"
        f" half the function timeout ({p.function_timeout_seconds} s)",
    )
    need(
        0 < p.connect_timeout_seconds < p.function_timeout_seconds,
        "connect_timeout_seconds",
        "function_timeout_seconds",
        why="connect timeout must be under the function timeout",
    )
    need(
        0
        < p.unmatched_retry_base_seconds
        <= p.unmatched_retry_max_seconds
        <= MAX_VISIBILITY_TIMEOUT_S,
        "unmatched_retry_base_seconds",
        "unmatched_retry_max_seconds",
        why=f"need 0 < base <= max <= {MAX_VISIBILITY_TIMEOUT_S}",
    )

    need(
        0 <= p.max_batching_window_seconds <= 300,
        "max_batching_window_seconds",
        why="must be 0..300",
    )
    need(1 <= p.batch_size <= 10_000, "batch_size", why="must be 1..10000")
    need(
        p.batch_size <= 10 or p.max_batching_window_seconds > 0,
        "batch_size",
        "max_batching_window_seconds",
        why="a batch size above 10 needs a batching window",
    )
    need(
        2 <= p.max_concurrency <= 1000,
        "max_concurrency",
        why="SQS event sources accept a maximum concurrency of 2..1000",
    )
    need(
        p.max_receive_count >= MIN_MAX_RECEIVE_COUNT,
        "max_receive_count",
        why=f"must be at least {MIN_MAX_RECEIVE_COUNT} so unmatched keys get retried",
    )
    visibility = p.effective_visibility_timeout_seconds
    need(
        p.minimum_visibility_timeout_seconds <= visibility <= MAX_VISIBILITY_TIMEOUT_S,
        "visibility_timeout_seconds",
        "function_timeout_seconds",
        why=f"visibility timeout {visibility} s must be at least 6 x the function timeout + the"
        f" batching window ({p.minimum_visibility_timeout_seconds} s) and at most"
        f" {MAX_VISIBILITY_TIMEOUT_S} s",
    )
    need(
        1 <= p.queue_retention_days < DLQ_RETENTION_DAYS,
        "queue_retention_days",
        why=f"must be 1..{DLQ_RETENTION_DAYS - 1}: the DLQ keeps messages"
        f" {DLQ_RETENTION_DAYS} days, counted from their first enqueue",
    )

    need(
        p.alarm_email is None or p.alarm_topic_arn is None,
        "alarm_email",
        "alarm_topic_arn",
        why="subscribe the email to your existing topic yourself, or let the stack make one",
    )
    for name in (
        "oldest_message_age_alarm_seconds",
        "unmatched_alarm_threshold",
        "invalid_alarm_threshold",
        "errors_alarm_threshold",
        "throttles_alarm_threshold",
    ):
        need(getattr(p, name) >= 1, name, why="must be at least 1")
    return problems


def setting_names() -> tuple[str, ...]:
    """The public field names, in declaration order (the README table's order)."""
    return tuple(f.name for f in fields(SizeRecorderProps))
