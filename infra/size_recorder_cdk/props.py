"""What a team can set on a `SizeRecorder`, as one frozen value, and the checks run on it.

Props take CDK objects (`IBucket`, `ISecret`, `IVpc`, `ITopic`), never their names, so a bucket,
secret, VPC or topic made in the same app flows in as tokens. Every check that needs a concrete
value runs only when the value is resolved (`Token.is_unresolved`); the rest is left to
CloudFormation and to the recorder's own start-up check. `problems()` reports everything wrong at
once, each problem naming its props, so a mistake fails synth with a readable list instead of a
stack trace from deep inside CDK or a deploy that rolls back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aws_cdk import Token, Tokenization
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns

from size_recorder import constants as c
from size_recorder.core.config import ConfigError, Settings
from size_recorder_cdk import overrides
from size_recorder_cdk.bundling import PLATFORMS
from size_recorder_cdk.errors import Checks, Problem, SizeRecorderConfigError

# Powertools' own variables, set on the function. Spelled here rather than imported from
# Powertools, so the `cdk` extra synthesizes without the function's runtime dependencies.
SERVICE_NAME_ENV: Final = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE_ENV: Final = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL_ENV: Final = "POWERTOOLS_LOG_LEVEL"

# SQS and Lambda limits the template would otherwise only hit at deploy time.
MAX_VISIBILITY_TIMEOUT_S: Final = 43_200
MIN_MAX_RECEIVE_COUNT: Final = 5
# The recorder's statement_timeout must leave the function time to report the failure.
STATEMENT_TIMEOUT_SHARE: Final = 0.5
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731}
    | {1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
# Key prefixes whose characters S3 never URL-encodes in an event, so a filter on them matches the
# key as S3 notifications and EventBridge both carry it. Other characters (a space is `+` in an
# event) need the prefix in its encoded form, which only the team can vouch for.
PLAIN_PREFIX: Final = re.compile(r"[A-Za-z0-9/._-]*")
# The props naming what IAM database authentication logs in to: exactly one with database_user.
IAM_DATABASES: Final = ("database_instance", "database_cluster", "database_proxy")
# RDS-managed secrets (`rds!db-...`, `rds!cluster-...`) hold only a username and a password.
_RDS_MANAGED_ARN_MARK = ":secret:rds!"


class EventSource(StrEnum):
    """How the bucket's events reach the queue."""

    NOTIFICATION = "notification"  # S3 event notifications, written into the bucket's config
    EVENTBRIDGE = "eventbridge"  # an EventBridge rule; the bucket must have EventBridge on


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderTarget:
    """Objects under `prefix` (of `bucket`, or of every bucket when None) are recorded in `table`.

    One entry of SIZE_RECORDER_TARGETS; a column left None takes the recorder's default.
    `location` is the leading part of `prefix` the row's name leaves out (None: the prefix),
    for several fields under one Django storage location (docs/configuration.md).
    """

    table: str
    prefix: str = ""
    key_column: str | None = None
    size_column: str | None = None
    sequencer_column: str | None = None
    bucket: s3.IBucket | None = None
    location: str | None = None

    def to_json(self) -> dict[str, str]:
        """The SIZE_RECORDER_TARGETS entry: only what is set, so the recorder's defaults apply."""
        entry = {
            "bucket": None if self.bucket is None else self.bucket.bucket_name,
            "prefix": self.prefix or None,
            "location": self.location,
            "table": self.table,
            "key_column": self.key_column,
            "size_column": self.size_column,
            "sequencer_column": self.sequencer_column,
        }
        return {name: value for name, value in entry.items() if value is not None}


def doc(text: str, *, default: str | None = None) -> dict[str, str]:
    """Field metadata for docs/deploy.md's props tables, SizeRecorder's and Reconciliation's
    (`default` when repr says too little)."""
    return {"doc": text} if default is None else {"doc": text, "default": default}


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeRecorderProps:
    """Every keyword of `SizeRecorder`, in the order of the props table. Only the database
    credentials and the target table have no working default: nobody but the platform team
    knows them."""

    # Bucket.
    bucket: s3.IBucket | None = field(
        default=None,
        metadata=doc(
            "an existing bucket (imported, or made elsewhere in your app); none: a new, hardened,"
            " versioned bucket with access logs",
            default="none: a new bucket",
        ),
    )
    bucket_props: Mapping[str, Any] | None = field(
        default=None,
        metadata=doc(
            "new bucket only: `s3.Bucket` keywords merged over the secure defaults (encryption,"
            " SSL, public access and EventBridge cannot be turned off)"
        ),
    )
    noncurrent_version_expiration_days: int = field(
        default=0,
        metadata=doc(
            "new bucket only: delete noncurrent versions after this many days", default="`0` (keep)"
        ),
    )
    event_source: EventSource | None = field(
        default=None,
        metadata=doc(
            "`notification` (S3 event notifications) or `eventbridge` (an EventBridge rule)",
            default="notification for a new bucket, eventbridge for an existing one",
        ),
    )
    notification_prefix: str | None = field(
        default=None,
        metadata=doc(
            "only objects under this prefix send events, in the form S3 puts in events (a"
            " space is `+`)",
            default="the targets' prefixes",
        ),
    )
    notification_suffix: str | None = field(
        default=None, metadata=doc("only objects with this suffix send events")
    )
    allow_unfiltered_notification: bool = field(
        default=False,
        metadata=doc(
            "let `notification` send every object of an existing bucket (no prefix): only when"
            " the bucket has no other ObjectCreated notification, which S3 would refuse"
        ),
    )
    # Target: one table, or several.
    table: str | None = field(
        default=None,
        metadata=doc("`SIZE_RECORDER_TABLE`", default="**required** unless `targets`"),
    )
    key_column: str | None = field(
        default=None,
        metadata=doc("`SIZE_RECORDER_KEY_COLUMN`", default="the recorder's (`file`)"),
    )
    size_column: str | None = field(
        default=None,
        metadata=doc("`SIZE_RECORDER_SIZE_COLUMN`", default="the recorder's (`size_bytes`)"),
    )
    sequencer_column: str | None = field(
        default=None,
        metadata=doc(
            "`SIZE_RECORDER_SEQUENCER_COLUMN`; with it, deletes are sent to the recorder too"
        ),
    )
    key_prefix: str = field(default="", metadata=doc("`SIZE_RECORDER_KEY_PREFIX`"))
    targets: Sequence[RecorderTarget] | None = field(
        default=None,
        metadata=doc(
            "several targets (`RecorderTarget`), as `SIZE_RECORDER_TARGETS`; replaces the five"
            " props above"
        ),
    )
    sequencer_ledger: str | None = field(
        default=None,
        metadata=doc(
            "`SIZE_RECORDER_SEQUENCER_LEDGER`: the table, optionally schema-qualified, keeping"
            " the newest sequencer of each key ([the sequencer"
            " ledger](configuration.md#the-sequencer-ledger)); needs `sequencer_column` (or a"
            " target's)"
        ),
    )
    # Database: a secret, or IAM database authentication (a user and the database it logs in to).
    database_secret: secretsmanager.ISecret | None = field(
        default=None,
        metadata=doc(
            "the credentials secret (RDS JSON shape; an RDS-managed `rds!...` secret needs"
            " `database_host`); the function may read it (and decrypt it through Secrets"
            " Manager). Not with `database_user`",
            default="none: this or `database_user` is **required**",
        ),
    )
    database_user: str | None = field(
        default=None,
        metadata=doc(
            "IAM database authentication as this database user (`SIZE_RECORDER_DB_IAM_USER`)"
            " against exactly one of the next three props, whose `grant_connect` gives the"
            " function `rds-db:connect` for this user. Not with `database_secret`"
        ),
    )
    database_instance: rds.IDatabaseInstance | None = field(
        default=None,
        metadata=doc(
            "IAM auth: the RDS instance (an imported one needs `instance_resource_id`, which"
            " IAM names it by)"
        ),
    )
    database_cluster: rds.IDatabaseCluster | None = field(
        default=None,
        metadata=doc(
            "IAM auth: the Aurora cluster, through its writer endpoint (an imported one needs"
            " `cluster_resource_identifier` and `cluster_endpoint_address`)"
        ),
    )
    database_proxy: rds.IDatabaseProxy | None = field(
        default=None, metadata=doc("IAM auth: the RDS Proxy, through its endpoint")
    )
    database_host: str | None = field(
        default=None,
        metadata=doc(
            "`SIZE_RECORDER_DB_HOST`: the endpoint to connect to (with a secret, it wins over"
            " the secret's `host`)",
            default="IAM auth: the instance's, cluster's or proxy's endpoint; a secret: its `host`",
        ),
    )
    database_port: int | None = field(
        default=None,
        metadata=doc(
            "`SIZE_RECORDER_DB_PORT`",
            default="IAM auth: the instance's or cluster's port (a proxy's: `5432`); a secret:"
            " its `port`, else `5432`",
        ),
    )
    database_name: str | None = field(
        default=None,
        metadata=doc(
            "`SIZE_RECORDER_DB_NAME`: the database to record sizes in",
            default=f"IAM auth: `{c.DEFAULT_DB_NAME}`; a secret: its `dbname`, else"
            f" `{c.DEFAULT_DB_NAME}`",
        ),
    )
    statement_timeout_ms: int = field(
        default=c.DEFAULT_STATEMENT_TIMEOUT_MS,
        metadata=doc("`SIZE_RECORDER_STATEMENT_TIMEOUT_MS`; at most half the function timeout"),
    )
    connect_timeout_seconds: int = field(
        default=c.DEFAULT_CONNECT_TIMEOUT_S,
        metadata=doc("`SIZE_RECORDER_CONNECT_TIMEOUT_S`; under the function timeout"),
    )
    # Network.
    vpc: ec2.IVpc | None = field(
        default=None, metadata=doc("place the function in this VPC", default="none: no VPC")
    )
    vpc_subnets: ec2.SubnetSelection | None = field(
        default=None,
        metadata=doc("the function's subnets in `vpc`", default="the VPC's private subnets"),
    )
    security_groups: Sequence[ec2.ISecurityGroup] | None = field(
        default=None,
        metadata=doc(
            "the function's security groups; allow them to reach the database",
            default="a new group (`recorder.function.connections`)",
        ),
    )
    vpc_endpoints: bool = field(
        default=True,
        metadata=doc(
            "with a VPC: SQS and (with a secret) Secrets Manager interface endpoints with"
            " private DNS, which then answers for the whole VPC; `False` when the VPC already"
            " has them"
        ),
    )
    endpoint_peers: Sequence[ec2.IPeer] | None = field(
        default=None,
        metadata=doc(
            "who may reach the endpoints on 443 besides the function: every workload in the VPC"
            " resolves the services' names to them",
            default="the VPC's CIDR (`vpc.vpc_cidr_block`)",
        ),
    )
    # Function.
    architecture: lambda_.Architecture = field(
        default=lambda_.Architecture.ARM_64,
        metadata=doc("`ARM_64` or `X86_64`; the bundle follows", default="`ARM_64`"),
    )
    memory_size_mb: int = field(default=256, metadata=doc("128 to 10,240"))
    function_timeout_seconds: int = field(
        default=c.DEFAULT_FUNCTION_TIMEOUT_S, metadata=doc("1 to 900")
    )
    log_retention_days: int = field(
        default=30, metadata=doc("one of CloudWatch Logs' retention periods")
    )
    log_level: str = field(default="INFO", metadata=doc("`POWERTOOLS_LOG_LEVEL`"))
    snap_start: bool = field(
        default=False,
        metadata=doc(
            "SnapStart: a published version and a `live` alias behind the event source;"
            " restores instead of cold starts, for a caching and a restore charge"
        ),
    )
    unmatched_retry_base_seconds: int = field(
        default=c.DEFAULT_UNMATCHED_RETRY_BASE_S,
        metadata=doc("`SIZE_RECORDER_UNMATCHED_RETRY_BASE_S`"),
    )
    unmatched_retry_max_seconds: int = field(
        default=c.DEFAULT_UNMATCHED_RETRY_MAX_S,
        metadata=doc("`SIZE_RECORDER_UNMATCHED_RETRY_MAX_S`"),
    )
    function_props: Mapping[str, Any] | None = field(
        default=None,
        metadata=doc(
            "`lambda.Function` keywords merged over the defaults (`environment` is added to the"
            " recorder's); what the props above set cannot be overridden"
        ),
    )
    # Queue and event source.
    batch_size: int = field(
        default=c.DEFAULT_BATCH_SIZE,
        metadata=doc("messages per invocation, 1 to 10,000 (above 10 needs a batching window)"),
    )
    max_batching_window_seconds: int = field(
        default=c.DEFAULT_BATCH_WINDOW_S, metadata=doc("0 to 300")
    )
    max_concurrency: int = field(
        default=c.DEFAULT_MAX_CONCURRENCY,
        metadata=doc(
            "event source maximum concurrency (2 to 1,000): at most this many Postgres connections"
        ),
    )
    max_receive_count: int = field(
        default=c.DEFAULT_MAX_RECEIVE_COUNT,
        metadata=doc("receives before a message moves to the DLQ (at least 5)"),
    )
    visibility_timeout_seconds: int | None = field(
        default=None,
        metadata=doc(
            "may only be raised, up to 43,200; required when the timeout or window is a token",
            default=f"6 x timeout + window (`{c.DEFAULT_VISIBILITY_TIMEOUT_S}`)",
        ),
    )
    queue_retention_days: int = field(default=4, metadata=doc("below the DLQ's 14 days"))
    queue_props: Mapping[str, Any] | None = field(
        default=None,
        metadata=doc(
            "`sqs.Queue` keywords for the source queue, merged over the defaults (encryption"
            " and SSL cannot be turned off)"
        ),
    )
    dead_letter_queue_props: Mapping[str, Any] | None = field(
        default=None,
        metadata=doc(
            "`sqs.Queue` keywords for the DLQ, merged over the defaults (encryption and SSL"
            " cannot be turned off; retention stays 14 days)"
        ),
    )
    # Alarms.
    alarm_topic: sns.ITopic | None = field(
        default=None,
        metadata=doc("publish alarms to this topic", default="none: a new topic"),
    )
    alarm_email: str | None = field(
        default=None,
        metadata=doc("subscribe this address to the new topic (not with `alarm_topic`)"),
    )
    oldest_message_age_alarm_seconds: int = field(
        default=900, metadata=doc("`QueueOldestMessage` threshold")
    )
    unmatched_alarm_threshold: int = field(
        default=50, metadata=doc("`RecordsUnmatched` threshold (per 15 minutes)")
    )
    invalid_alarm_threshold: int = field(
        default=1, metadata=doc("`RecordsInvalid` threshold (per 5 minutes)")
    )
    errors_alarm_threshold: int = field(
        default=1, metadata=doc("`FunctionErrors` threshold (per 5 minutes)")
    )
    throttles_alarm_threshold: int = field(
        default=1, metadata=doc("`FunctionThrottles` threshold (per 5 minutes)")
    )
    # Reconciliation.
    reconcile: bool = field(
        default=False,
        metadata=doc(
            "check every row against S3 Inventory's daily report with a Step Functions"
            " Distributed Map, and repair drift (`recorder.reconciliation`; tuning through"
            " `add_reconciliation` instead)"
        ),
    )
    inventory_destination: s3.IBucket | None = field(
        default=None,
        metadata=doc(
            "with `reconcile`: the bucket your inventory of an existing bucket writes to (its"
            " prefix `inventory`, its ID any)",
            default="none: a new one, for a bucket the construct makes",
        ),
    )
    s3_endpoint: bool = field(
        default=True,
        metadata=doc(
            "with `reconcile`: the reconciliation's `s3_endpoint`, an S3 gateway endpoint on the"
            " route tables of the recorder's subnets when it makes its VPC endpoints (imported"
            " subnets need their `route_table_id`); `False` when those route tables already"
            " route S3"
        ),
    )

    @property
    def effective_event_source(self) -> EventSource:
        """An existing bucket defaults to EventBridge: a queue notification on it may overlap
        the notifications it already has, and S3 then refuses the whole configuration."""
        if self.event_source is not None:
            return EventSource(self.event_source)
        return EventSource.NOTIFICATION if self.bucket is None else EventSource.EVENTBRIDGE

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
    def recorder_targets(self) -> tuple[RecorderTarget, ...]:
        """The targets, the single-table props being one target with no bucket."""
        if self.targets is not None:
            return tuple(self.targets)
        if self.table is None:
            return ()
        return (
            RecorderTarget(
                table=self.table,
                prefix=self.key_prefix,
                key_column=self.key_column,
                size_column=self.size_column,
                sequencer_column=self.sequencer_column,
            ),
        )

    @property
    def iam_database(
        self,
    ) -> rds.IDatabaseInstance | rds.IDatabaseCluster | rds.IDatabaseProxy | None:
        """The instance, cluster or proxy IAM database authentication logs in to (the first
        given: `validate` refuses more than one)."""
        given = [getattr(self, name) for name in IAM_DATABASES if getattr(self, name) is not None]
        return given[0] if given else None

    @property
    def follows_deletes(self) -> bool:
        """Whether the recorder is told of deletions: only a target with a sequencer column can
        order a delete against the creates of the same key, so only then are they sent."""
        return any(target.sequencer_column for target in self.recorder_targets)


# --- Problems -------------------------------------------------------------------------------


def validate(props: SizeRecorderProps, *, region: str | None = None) -> None:
    """Raise `SizeRecorderConfigError` listing every problem. `region` is the stack's (a token
    when the stack is environment-agnostic)."""
    found = problems(props, region=region)
    if found:
        raise SizeRecorderConfigError(found)


def problems(props: SizeRecorderProps, *, region: str | None = None) -> list[Problem]:
    return [
        *_target_problems(props),
        *_bucket_problems(props),
        *_event_problems(props),
        *_database_problems(props),
        *_network_problems(props, region),
        *_function_problems(props),
        *_queue_problems(props),
        *_alarm_problems(props),
        *_reconcile_problems(props),
        *overrides.BUCKET.problems(props.bucket_props),
        *overrides.QUEUE.problems(props.queue_props),
        *overrides.DEAD_LETTER_QUEUE.problems(props.dead_letter_queue_props),
        *overrides.FUNCTION.problems(props.function_props),
    ]


def resolved(*values: Any) -> bool:
    """True when every value is concrete at synth (no token), so a check can run on it."""
    return not any(Token.is_unresolved(value) for value in values)


_SINGLE_TARGET = ("table", "key_column", "size_column", "sequencer_column", "key_prefix")
# Which prop feeds which of the recorder's variables, to name the prop in the recorder's errors.
# The ledger first: its refusal names the sequencer column it lacks, and the ledger is the cause.
_ENV_PROPS: Final = {
    c.ENV_SEQUENCER_LEDGER: "sequencer_ledger",
    c.ENV_TARGETS: "targets",
    c.ENV_TABLE: "table",
    c.ENV_KEY_COLUMN: "key_column",
    c.ENV_SIZE_COLUMN: "size_column",
    c.ENV_SEQUENCER_COLUMN: "sequencer_column",
    c.ENV_KEY_PREFIX: "key_prefix",
}


def _target_problems(p: SizeRecorderProps) -> list[Problem]:
    if p.targets is not None:
        clashing = tuple(name for name in _SINGLE_TARGET if getattr(p, name))
        if clashing:
            return [Problem(("targets", *clashing), "targets replaces the single-table props")]
        if not p.targets:
            return [Problem(("targets",), "give at least one target")]
    elif p.table is None:
        return [Problem(("table", "targets"), "one is required: the table to update")]
    # The rest (identifiers, duplicate prefixes) is what the recorder itself checks at start-up:
    # ask it now, so a bad value fails synth instead of the first invocation. A token stands in
    # as a plain identifier; the recorder checks its real value when it starts.
    env = {
        c.ENV_DB_SECRET_ARN: "checked-at-synth",
        **target_variables(p, text=_stand_in),
        **ledger_variables(p, text=_stand_in),
    }
    try:
        Settings.from_env(env)
    except ConfigError as exc:
        named = tuple(name for env_name, name in _ENV_PROPS.items() if env_name in str(exc))
        return [Problem(named or ("targets",), f"the recorder rejects it: {exc}")]
    return []


def _stand_in(value: str) -> str:
    return re.sub(r"\W", "_", value) if Token.is_unresolved(value) else value


def target_variables(
    props: SizeRecorderProps,
    *,
    text: Callable[[str], str] = str,
    to_json: Callable[[Any], str] = json.dumps,
) -> dict[str, str]:
    """The recorder's target variables: the five single-table ones, or SIZE_RECORDER_TARGETS.

    `to_json` is the stack's `to_json_string` in the construct, so tokens inside the JSON resolve;
    `text` maps each value (the checks swap tokens for stand-ins).
    """
    if props.targets is not None:
        entries = [
            {name: text(value) for name, value in target.to_json().items()}
            for target in props.targets
        ]
        return {c.ENV_TARGETS: to_json(entries)}
    optional = {
        c.ENV_TABLE: props.table,
        c.ENV_KEY_COLUMN: props.key_column,
        c.ENV_SIZE_COLUMN: props.size_column,
        c.ENV_SEQUENCER_COLUMN: props.sequencer_column,
        c.ENV_KEY_PREFIX: props.key_prefix or None,
    }
    return {name: text(value) for name, value in optional.items() if value is not None}


def ledger_variables(
    props: SizeRecorderProps, *, text: Callable[[str], str] = str
) -> dict[str, str]:
    """SIZE_RECORDER_SEQUENCER_LEDGER when `sequencer_ledger` is set, else nothing."""
    if props.sequencer_ledger is None:
        return {}
    return {c.ENV_SEQUENCER_LEDGER: text(props.sequencer_ledger)}


def function_environment(
    props: SizeRecorderProps, *, to_json: Callable[[Any], str]
) -> dict[str, str]:
    """The function's environment, as in the recorder's configuration table, less the database
    variables, which RecorderFunction adds for the chosen authentication. DATABASE_URL is never
    set."""
    level = props.log_level.upper() if resolved(props.log_level) else props.log_level
    return {
        **target_variables(props, to_json=to_json),
        **ledger_variables(props),
        c.ENV_STATEMENT_TIMEOUT_MS: Tokenization.stringify_number(props.statement_timeout_ms),
        c.ENV_CONNECT_TIMEOUT_S: Tokenization.stringify_number(props.connect_timeout_seconds),
        c.ENV_UNMATCHED_RETRY_BASE_S: Tokenization.stringify_number(
            props.unmatched_retry_base_seconds
        ),
        c.ENV_UNMATCHED_RETRY_MAX_S: Tokenization.stringify_number(
            props.unmatched_retry_max_seconds
        ),
        SERVICE_NAME_ENV: c.SERVICE_NAME,
        METRICS_NAMESPACE_ENV: c.METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL_ENV: level,
    }


def _bucket_problems(p: SizeRecorderProps) -> list[Problem]:
    checks = Checks()
    checks.need(
        p.bucket is None or p.bucket_props is None,
        "bucket",
        "bucket_props",
        why="give an existing bucket or props for a new one, not both",
    )
    checks.need(
        p.bucket is None or p.noncurrent_version_expiration_days == 0,
        "noncurrent_version_expiration_days",
        "bucket",
        why="lifecycle rules apply only to a bucket this construct creates",
    )
    days = p.noncurrent_version_expiration_days
    checks.need(
        not resolved(days) or days >= 0,
        "noncurrent_version_expiration_days",
        why="must be 0 (keep) or a number of days",
    )
    return checks.found


def _event_problems(p: SizeRecorderProps) -> list[Problem]:
    checks = Checks()
    if p.event_source is not None and p.event_source not in set(EventSource):
        choices = ", ".join(source.value for source in EventSource)
        return [Problem(("event_source",), f"must be one of {choices}, got {p.event_source!r}")]
    if p.notification_prefix is None:
        derived = [t.prefix for t in p.recorder_targets if resolved(t.prefix)]
        odd = sorted({prefix for prefix in derived if not PLAIN_PREFIX.fullmatch(prefix)})
        checks.need(
            not odd,
            "key_prefix" if p.targets is None else "targets",
            "notification_prefix",
            why=f"prefix(es) {', '.join(map(repr, odd))} hold characters S3 URL-encodes in"
            " events, so a filter on them would miss their objects: set notification_prefix to"
            " the prefix as S3 encodes it (a space is '+'), or to '' for no filter",
        )
    if p.bucket is not None and p.effective_event_source is EventSource.NOTIFICATION:
        checks.need(
            p.allow_unfiltered_notification or "" not in filter_prefixes(p, p.bucket),
            "event_source",
            "notification_prefix",
            "allow_unfiltered_notification",
            why=unfiltered_notification_why("the existing bucket"),
        )
    return checks.found


def unfiltered_notification_why(what: str) -> str:
    return (
        f"a queue notification without a prefix on {what} overlaps every other ObjectCreated"
        " notification it has, and S3 then refuses the whole configuration (the deploy rolls"
        " back). Use event_source=eventbridge (the default for an existing bucket), or give a"
        " prefix (key_prefix, the targets' prefixes or notification_prefix), or pass"
        " allow_unfiltered_notification=True if the bucket has no other ObjectCreated"
        " notification"
    )


def filter_prefixes(p: SizeRecorderProps, bucket: s3.IBucket) -> tuple[str, ...]:
    """The key prefixes whose events `bucket` sends: notification_prefix, or the prefixes of the
    targets that route this bucket's objects. ("",) means no filter."""
    if p.notification_prefix is not None:
        return (p.notification_prefix,)
    return covering_prefixes(
        t.prefix for t in p.recorder_targets if t.bucket is None or same_bucket(t.bucket, bucket)
    )


def same_bucket(a: s3.IBucket, b: s3.IBucket) -> bool:
    if a is b:
        return True
    names = (a.bucket_name, b.bucket_name)
    return resolved(*names) and names[0] == names[1]


def covering_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """The fewest prefixes that cover all of `prefixes`: S3 refuses two notifications whose
    prefixes overlap, and a prefix inside another adds nothing. Tokens are kept as they are."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not resolved(prefix) or not any(resolved(k) and prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return tuple(kept)


def _database_problems(p: SizeRecorderProps) -> list[Problem]:
    checks = Checks()
    given = [name for name in IAM_DATABASES if getattr(p, name) is not None]
    iam = p.database_user is not None or bool(given)
    secret = p.database_secret is not None
    checks.need(
        secret or iam,
        "database_secret",
        "database_user",
        why="one is required: the Secrets Manager secret (RDS JSON shape) the function reads its"
        " database credentials from, or the database user it logs in as with IAM database"
        " authentication (with the instance, cluster or proxy it logs in to)",
    )
    checks.need(
        not (secret and iam),
        "database_secret",
        "database_user",
        *given,
        why="choose one way to log in: the secret, or IAM database authentication",
    )
    if iam:
        checks.need(
            p.database_user is not None,
            "database_user",
            *given,
            why="IAM database authentication needs the database user to log in as",
        )
        checks.need(
            len(given) == 1,
            "database_user",
            *(given if len(given) > 1 else IAM_DATABASES),
            why="give exactly one: the instance, cluster or proxy IAM database authentication"
            " logs in to, which the grant names",
        )
    user = p.database_user
    checks.need(
        user is None or not resolved(user) or bool(user.strip()),
        "database_user",
        why="must name a database user",
    )
    checks.found.extend(_imported_database_problems(p))
    arn = None if p.database_secret is None else p.database_secret.secret_arn
    checks.need(
        arn is None
        or not resolved(arn)
        or _RDS_MANAGED_ARN_MARK not in arn
        or p.database_host is not None,
        "database_host",
        "database_secret",
        why="an RDS-managed secret holds only the username and password: give the endpoint of"
        " the instance, cluster or proxy to connect to",
    )
    port = p.database_port
    checks.need(
        port is None or not resolved(port) or 0 < port < 65_536,
        "database_port",
        why="must be a TCP port, 1..65535",
    )
    statement, connect, timeout = (
        p.statement_timeout_ms,
        p.connect_timeout_seconds,
        p.function_timeout_seconds,
    )
    checks.need(
        not resolved(statement, timeout)
        or 0 < statement <= timeout * 1000 * STATEMENT_TIMEOUT_SHARE,
        "statement_timeout_ms",
        "function_timeout_seconds",
        why=f"the statement timeout ({statement} ms) must be positive and at most half the"
        f" function timeout ({timeout} s)",
    )
    checks.need(
        not resolved(connect, timeout) or 0 < connect < timeout,
        "connect_timeout_seconds",
        "function_timeout_seconds",
        why="connect timeout must be under the function timeout",
    )
    return checks.found


def _imported_database_problems(p: SizeRecorderProps) -> list[Problem]:
    """What an imported instance or cluster must have been given for IAM auth: IAM names the
    database by its resource id (not its identifier), and the function needs the endpoint."""
    checks = Checks()
    instance, cluster = p.database_instance, p.database_cluster
    checks.need(
        instance is None or instance.instance_resource_id is not None,
        "database_instance",
        why="imported without instance_resource_id (db-...): IAM names an instance by it; pass"
        " it to DatabaseInstance.from_database_instance_attributes",
    )
    for attribute, given_as in (
        ("cluster_resource_identifier", "cluster_resource_identifier"),
        ("cluster_endpoint", "cluster_endpoint_address"),
    ):
        checks.need(
            cluster is None or _readable(cluster, attribute),
            "database_cluster",
            why=f"imported without {given_as}: pass it to"
            " DatabaseCluster.from_database_cluster_attributes",
        )
    return checks.found


def _readable(construct: Any, attribute: str) -> bool:
    """Whether an imported construct was given `attribute`: CDK raises on reading a missing one."""
    try:
        getattr(construct, attribute)
    except RuntimeError:
        return False
    return True


def _network_problems(p: SizeRecorderProps, region: str | None) -> list[Problem]:
    checks = Checks()
    for name in ("vpc_subnets", "security_groups", "endpoint_peers"):
        checks.need(
            p.vpc is not None or getattr(p, name) is None,
            name,
            "vpc",
            why="subnets, security groups and endpoint peers need a VPC",
        )
    endpoints = p.vpc is not None and p.vpc_endpoints
    checks.need(
        endpoints or p.endpoint_peers is None,
        "endpoint_peers",
        "vpc_endpoints",
        why="endpoint peers are admitted to the endpoints the construct makes, and it makes none",
    )
    if endpoints and p.endpoint_peers is None:
        checks.need(
            _readable(p.vpc, "vpc_cidr_block"),
            "vpc",
            "endpoint_peers",
            "vpc_endpoints",
            why="the endpoints' private DNS answers for the whole VPC, so every workload in it"
            " must be able to reach them: import the VPC with its CIDR (vpc_cidr_block), or"
            " give endpoint_peers, or pass vpc_endpoints=False if the VPC has its own endpoints",
        )
    arn = None if p.database_secret is None else p.database_secret.secret_arn
    if endpoints and arn is not None and region is not None and resolved(arn, region):
        secret_region = arn.split(":")[3]
        checks.need(
            secret_region == region,
            "database_secret",
            "vpc_endpoints",
            why=f"the secret is in {secret_region}, but the function reaches Secrets Manager"
            f" through this stack's endpoint, which serves {region} only: use the secret's"
            f" replica in {region}, or vpc_endpoints=False with another route to {secret_region}",
        )
    return checks.found


def _function_problems(p: SizeRecorderProps) -> list[Problem]:
    checks = Checks()
    checks.need(
        p.architecture.name in PLATFORMS,
        "architecture",
        why=f"the bundle is built for {', '.join(PLATFORMS)}, not {p.architecture.name}",
    )
    memory, timeout, days = p.memory_size_mb, p.function_timeout_seconds, p.log_retention_days
    checks.need(
        not resolved(memory) or 128 <= memory <= 10_240, "memory_size_mb", why="must be 128..10240"
    )
    checks.need(
        not resolved(timeout) or 1 <= timeout <= 900,
        "function_timeout_seconds",
        why="must be 1..900",
    )
    checks.need(
        not resolved(days) or days in LOG_RETENTION_DAYS,
        "log_retention_days",
        why=f"must be one of {sorted(LOG_RETENTION_DAYS)}",
    )
    checks.need(
        not resolved(p.log_level) or p.log_level.upper() in LOG_LEVELS,
        "log_level",
        why=f"not a log level: {p.log_level!r}",
    )
    base, most = p.unmatched_retry_base_seconds, p.unmatched_retry_max_seconds
    checks.need(
        not resolved(base, most) or 0 < base <= most <= MAX_VISIBILITY_TIMEOUT_S,
        "unmatched_retry_base_seconds",
        "unmatched_retry_max_seconds",
        why=f"need 0 < base <= max <= {MAX_VISIBILITY_TIMEOUT_S}",
    )
    return checks.found


def _queue_problems(p: SizeRecorderProps) -> list[Problem]:
    checks = Checks()
    window, size = p.max_batching_window_seconds, p.batch_size
    checks.need(
        not resolved(window) or 0 <= window <= 300,
        "max_batching_window_seconds",
        why="must be 0..300",
    )
    checks.need(not resolved(size) or 1 <= size <= 10_000, "batch_size", why="must be 1..10000")
    checks.need(
        not resolved(size, window) or size <= 10 or window > 0,
        "batch_size",
        "max_batching_window_seconds",
        why="a batch size above 10 needs a batching window",
    )
    checks.need(
        not resolved(p.max_concurrency) or 2 <= p.max_concurrency <= 1000,
        "max_concurrency",
        why="SQS event sources accept a maximum concurrency of 2..1000",
    )
    checks.need(
        not resolved(p.max_receive_count) or p.max_receive_count >= MIN_MAX_RECEIVE_COUNT,
        "max_receive_count",
        why=f"must be at least {MIN_MAX_RECEIVE_COUNT} so unmatched keys get retried",
    )
    timeout = p.function_timeout_seconds
    if p.visibility_timeout_seconds is None and not resolved(timeout, window):
        checks.need(
            False,
            "visibility_timeout_seconds",
            why="required when function_timeout_seconds or max_batching_window_seconds is a"
            " token: at least 6 x the timeout + the window",
        )
    elif resolved(p.visibility_timeout_seconds, timeout, window):
        visibility, minimum = (
            p.effective_visibility_timeout_seconds,
            p.minimum_visibility_timeout_seconds,
        )
        checks.need(
            minimum <= visibility <= MAX_VISIBILITY_TIMEOUT_S,
            "visibility_timeout_seconds",
            "function_timeout_seconds",
            why=f"visibility timeout {visibility} s must be at least 6 x the function timeout +"
            f" the batching window ({minimum} s) and at most {MAX_VISIBILITY_TIMEOUT_S} s",
        )
    checks.need(
        resolved(p.queue_retention_days),
        "queue_retention_days",
        why="must be a number at synth, not a token: SQS takes seconds, and CloudFormation"
        " cannot multiply a token by 86,400",
    )
    checks.need(
        not resolved(p.queue_retention_days) or 1 <= p.queue_retention_days < c.DLQ_RETENTION_DAYS,
        "queue_retention_days",
        why=f"must be 1..{c.DLQ_RETENTION_DAYS - 1}: the DLQ keeps messages"
        f" {c.DLQ_RETENTION_DAYS} days, counted from their first enqueue",
    )
    return checks.found


def _alarm_problems(p: SizeRecorderProps) -> list[Problem]:
    checks = Checks()
    checks.need(
        p.alarm_email is None or p.alarm_topic is None,
        "alarm_email",
        "alarm_topic",
        why="subscribe the email to your existing topic yourself, or let the construct make one",
    )
    for name in (
        "oldest_message_age_alarm_seconds",
        "unmatched_alarm_threshold",
        "invalid_alarm_threshold",
        "errors_alarm_threshold",
        "throttles_alarm_threshold",
    ):
        value = getattr(p, name)
        checks.need(not resolved(value) or value >= 1, name, why="must be at least 1")
    return checks.found


def _reconcile_problems(p: SizeRecorderProps) -> list[Problem]:
    """The rest is the reconciliation's own check (size_recorder_cdk.reconcile)."""
    checks = Checks()
    checks.need(
        p.reconcile or p.inventory_destination is None,
        "inventory_destination",
        "reconcile",
        why="an inventory destination is only read by the reconciliation: set reconcile=True",
    )
    return checks.found
