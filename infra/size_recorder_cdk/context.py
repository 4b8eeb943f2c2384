"""CDK context (`cdk.json` defaults, `-c key=value` overrides) → the construct's props.

Each field of `ContextSettings` is one context key (`size-recorder:` + the field name in
camelCase): the public contract of `cdk deploy -c ...`. Values from `cdk.json` arrive typed
(numbers, booleans, lists); values from `-c` always arrive as strings. Both are accepted; an
empty string means "not set", so `cdk.json` can list every key.

`recorder_props` turns the settings into what `SizeRecorder` takes: names and ids become imported
CDK objects (`Bucket.from_bucket_name`, `Secret.from_secret_attributes`, `Vpc.from_vpc_attributes`,
`Topic.from_topic_arn`). Context values are literal strings, so their shape (an ARN, a VPC id) is
checked here, with the construct's own checks, and every problem is reported at once, naming its
context key.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Union, get_args, get_origin

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct, Node

from size_recorder import constants as c
from size_recorder_cdk.construct import acknowledge
from size_recorder_cdk.errors import Checks, Problem, SizeRecorderConfigError
from size_recorder_cdk.props import EventSource, RecorderTarget, SizeRecorderProps, problems

CONTEXT_PREFIX: Final = "size-recorder:"
STACK_NAME_KEY: Final = CONTEXT_PREFIX + "stackName"
DEFAULT_STACK_NAME: Final = "SizeRecorder"

ARCHITECTURES: Final = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextSettings:
    """The context keys and their defaults (cdk.json lists each with exactly this default)."""

    # Bucket: a new, hardened one unless an existing bucket is named.
    existing_bucket_name: str | None = None
    notification_prefix: str | None = None  # default: the targets' prefixes
    notification_suffix: str | None = None
    noncurrent_version_expiration_days: int = 0  # new bucket only; 0 keeps old versions
    event_source: str | None = None  # default: notification (new bucket), eventbridge (existing)
    allow_unfiltered_notification: bool = False

    # Target: one table, or SIZE_RECORDER_TARGETS. None leaves the recorder's own default.
    table: str | None = None
    key_column: str | None = None
    size_column: str | None = None
    sequencer_column: str | None = None
    key_prefix: str = ""
    targets: str | None = None  # JSON list of target objects, as SIZE_RECORDER_TARGETS
    sequencer_ledger: str | None = None  # SIZE_RECORDER_SEQUENCER_LEDGER; needs a sequencer column

    # Database: a secret, or IAM auth (a user and one instance, cluster or proxy, by its pair
    # of ids: the identifier to import it by, and what IAM names it by).
    db_secret_arn: str | None = None
    db_secret_kms_key_arn: str | None = None
    db_iam_user: str | None = None
    db_instance_identifier: str | None = None
    db_instance_resource_id: str | None = None
    db_cluster_identifier: str | None = None
    db_cluster_resource_id: str | None = None
    db_proxy_name: str | None = None
    db_proxy_arn: str | None = None
    db_host: str | None = None  # IAM auth: required; a secret: wins over its host
    db_port: int | None = None  # default: 5432 (IAM auth), the secret's port
    db_name: str | None = None  # default: postgres (IAM auth), the secret's dbname
    statement_timeout_ms: int = c.DEFAULT_STATEMENT_TIMEOUT_MS
    connect_timeout_seconds: int = c.DEFAULT_CONNECT_TIMEOUT_S

    # Network: no VPC, or all three ids.
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    subnet_route_table_ids: tuple[str, ...] = ()  # each subnet's, in order: the S3 endpoint's
    security_group_ids: tuple[str, ...] = ()
    vpc_endpoints: bool = True
    vpc_cidr_block: str | None = None  # the endpoints admit it (their DNS serves the whole VPC)
    endpoint_peers: tuple[str, ...] = ()  # instead of the CIDR: CIDRs and security group ids

    # Function.
    architecture: str = "arm64"
    memory_size_mb: int = 256
    function_timeout_seconds: int = c.DEFAULT_FUNCTION_TIMEOUT_S
    log_retention_days: int = 30
    log_level: str = "INFO"
    snap_start: bool = False
    unmatched_retry_base_seconds: int = c.DEFAULT_UNMATCHED_RETRY_BASE_S
    unmatched_retry_max_seconds: int = c.DEFAULT_UNMATCHED_RETRY_MAX_S

    # Queue and event source.
    batch_size: int = c.DEFAULT_BATCH_SIZE
    max_batching_window_seconds: int = c.DEFAULT_BATCH_WINDOW_S
    max_concurrency: int = c.DEFAULT_MAX_CONCURRENCY
    max_receive_count: int = c.DEFAULT_MAX_RECEIVE_COUNT
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

    # Nightly reconciliation from S3 Inventory (a new bucket gets its inventory configured; an
    # existing one names the bucket its own inventory configuration writes to).
    reconcile: bool = False
    inventory_destination_bucket_name: str | None = None
    s3_endpoint: bool = True  # with the VPC endpoints: an S3 gateway endpoint for its batches


def context_key(name: str) -> str:
    """The context key of a setting: `batch_size` → `size-recorder:batchSize`."""
    head, *rest = name.split("_")
    return CONTEXT_PREFIX + head + "".join(part.capitalize() for part in rest)


def setting_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(ContextSettings))


# The props a context key becomes under another name (the object instead of its name or id);
# every other setting is the prop of the same name. A prop fed by several keys is named in
# errors by the first of them.
PROP_OF_SETTING: Final = {
    "existing_bucket_name": "bucket",
    "db_secret_arn": "database_secret",
    "db_secret_kms_key_arn": "database_secret",
    "db_iam_user": "database_user",
    "db_instance_identifier": "database_instance",
    "db_instance_resource_id": "database_instance",
    "db_cluster_identifier": "database_cluster",
    "db_cluster_resource_id": "database_cluster",
    "db_proxy_name": "database_proxy",
    "db_proxy_arn": "database_proxy",
    "db_host": "database_host",
    "db_port": "database_port",
    "db_name": "database_name",
    "vpc_id": "vpc",
    "vpc_cidr_block": "vpc",
    "subnet_ids": "vpc_subnets",
    "subnet_route_table_ids": "vpc_subnets",
    "security_group_ids": "security_groups",
    "alarm_topic_arn": "alarm_topic",
    "inventory_destination_bucket_name": "inventory_destination",
}
_SETTING_OF_PROP: Final = {
    prop: next(setting for setting, p in PROP_OF_SETTING.items() if p == prop)
    for prop in PROP_OF_SETTING.values()
}
# Each way IAM auth can name its database: (prop, identifier setting, IAM id setting).
_IAM_DATABASE_SETTINGS: Final = (
    ("database_instance", "db_instance_identifier", "db_instance_resource_id"),
    ("database_cluster", "db_cluster_identifier", "db_cluster_resource_id"),
    ("database_proxy", "db_proxy_name", "db_proxy_arn"),
)


def name_setting(name: str) -> str:
    """How the stack's errors name a setting or a prop: by its context key."""
    setting = _SETTING_OF_PROP.get(name, name)
    return repr(context_key(setting)) if setting in setting_names() else name


def settings_from_context(node: Node) -> ContextSettings:
    """Read every `size-recorder:*` context key below `node`."""
    return settings_from_mapping(node.get_all_context())


def settings_from_mapping(values: Mapping[str, Any]) -> ContextSettings:
    """Settings from `{context key: raw value}`; unknown `size-recorder:` keys are errors."""
    hints = typing.get_type_hints(ContextSettings)
    known = {context_key(name) for name in setting_names()} | {STACK_NAME_KEY}
    unknown = sorted(k for k in values if k.startswith(CONTEXT_PREFIX) and k not in known)
    if unknown:
        raise SizeRecorderConfigError(
            [
                Problem(
                    tuple(unknown),
                    f"unknown context key(s); known keys: {', '.join(sorted(known))}",
                )
            ],
            name=repr,
        )
    kwargs: dict[str, Any] = {}
    found: list[Problem] = []
    for name in setting_names():
        key = context_key(name)
        if key not in values:
            continue
        try:
            parsed = _parse(values[key], hints[name], json_text=name == "targets")
        except ValueError as exc:
            found.append(Problem((name,), str(exc)))
            continue
        if parsed is not _UNSET:
            kwargs[name] = parsed
    if found:
        raise SizeRecorderConfigError(found, name=name_setting)
    return ContextSettings(**kwargs)


def stack_name_from_context(node: Node) -> str:
    name = node.try_get_context(STACK_NAME_KEY)
    if name is None or name == "":
        return DEFAULT_STACK_NAME
    if not isinstance(name, str):
        raise SizeRecorderConfigError([Problem((STACK_NAME_KEY,), "must be a string")], name=repr)
    return name


# --- Settings → props --------------------------------------------------------------------

_SECRET_ARN = re.compile(
    # `!` appears in RDS-managed secrets' names (`rds!db-...`, `rds!cluster-...`).
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}"
)
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_VPC_ID = re.compile(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?")
_ROUTE_TABLE_ID = re.compile(r"rtb-[0-9a-f]{8}([0-9a-f]{9})?")
_SECURITY_GROUP_ID = re.compile(r"sg-[0-9a-f]{8}([0-9a-f]{9})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DB_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,62}")
_DB_INSTANCE_RESOURCE_ID = re.compile(r"db-[A-Z0-9]+")
_DB_CLUSTER_RESOURCE_ID = re.compile(r"cluster-[A-Z0-9]+")
_DB_PROXY_ARN = re.compile(r"arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:db-proxy:prx-[0-9a-f]+")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_CIDR = r"(\d{1,3}\.){3}\d{1,3}/\d{1,2}"
_IPV4_CIDR = re.compile(_CIDR)
_ENDPOINT_PEER = re.compile(rf"{_CIDR}|{_SECURITY_GROUP_ID.pattern}")

# (setting, pattern, what it must be): checked wherever the setting is set.
_FORMATS: Final = (
    ("existing_bucket_name", _BUCKET_NAME, "an S3 bucket name"),
    ("inventory_destination_bucket_name", _BUCKET_NAME, "an S3 bucket name"),
    ("db_secret_arn", _SECRET_ARN, "a complete secret ARN (ending in -XXXXXX)"),
    ("db_secret_kms_key_arn", _KMS_KEY_ARN, "a KMS key ARN"),
    ("vpc_id", _VPC_ID, "a VPC id (vpc-0123456789abcdef0)"),
    ("subnet_ids", _SUBNET_ID, "subnet ids (subnet-0123456789abcdef0)"),
    ("subnet_route_table_ids", _ROUTE_TABLE_ID, "route table ids (rtb-0123456789abcdef0)"),
    ("security_group_ids", _SECURITY_GROUP_ID, "security group ids (sg-0123456789abcdef0)"),
    ("vpc_cidr_block", _IPV4_CIDR, "an IPv4 CIDR block (10.0.0.0/16)"),
    ("endpoint_peers", _ENDPOINT_PEER, "IPv4 CIDR blocks or security group ids"),
    ("db_instance_identifier", _DB_IDENTIFIER, "a DB instance identifier"),
    ("db_instance_resource_id", _DB_INSTANCE_RESOURCE_ID, "a DbiResourceId (db-...)"),
    ("db_cluster_identifier", _DB_IDENTIFIER, "a DB cluster identifier"),
    ("db_cluster_resource_id", _DB_CLUSTER_RESOURCE_ID, "a DbClusterResourceId (cluster-...)"),
    ("db_proxy_name", _DB_IDENTIFIER, "an RDS Proxy name"),
    ("db_proxy_arn", _DB_PROXY_ARN, "an RDS Proxy ARN (...:db-proxy:prx-...)"),
    ("db_host", _HOST, "a host name (the endpoint's address)"),
    ("alarm_email", _EMAIL, "an email address"),
    ("alarm_topic_arn", _TOPIC_ARN, "an SNS topic ARN"),
)
_TARGET_FIELDS: Final = frozenset(
    {"bucket", "prefix", "location", "table", "key_column", "size_column", "sequencer_column"}
)


def recorder_props(scope: Construct, settings: ContextSettings) -> dict[str, Any]:
    """The keywords of `SizeRecorder` for these settings, with the named resources imported
    under `scope`. Raises `SizeRecorderConfigError` with every problem, naming context keys."""
    checks = Checks()
    for name, pattern, what in _FORMATS:
        value = getattr(settings, name)
        values = value if isinstance(value, tuple) else () if value is None else (value,)
        wrong = [v for v in values if not pattern.fullmatch(v)]
        checks.need(not wrong, name, why=f"not {what}: {', '.join(map(repr, wrong))}")
    s = settings
    _check_network(checks, s)
    _check_iam_database(checks, s)
    # The construct checks this too, once built; here the message names the context keys.
    checks.need(
        not s.reconcile
        or s.existing_bucket_name is None
        or bool(s.inventory_destination_bucket_name),
        "inventory_destination_bucket_name",
        "existing_bucket_name",
        "reconcile",
        why="reconciling an existing bucket needs the bucket its S3 Inventory configuration"
        " writes reports to (prefix `inventory`)",
    )
    checks.need(
        s.architecture in ARCHITECTURES,
        "architecture",
        why=f"must be one of {', '.join(ARCHITECTURES)}, got {s.architecture!r}",
    )
    sources = {source.value for source in EventSource}
    checks.need(
        s.event_source is None or s.event_source in sources,
        "event_source",
        why=f"must be one of {', '.join(sorted(sources))}, got {s.event_source!r}",
    )
    flagged = {name for problem in checks.found for name in problem.props}

    imported = Construct(scope, "Imported")
    bucket = None
    if s.existing_bucket_name is not None and "existing_bucket_name" not in flagged:
        bucket = s3.Bucket.from_bucket_name(imported, "Bucket", s.existing_bucket_name)
    targets = None
    if s.targets is not None:
        try:
            targets = _targets(imported, s.targets, bucket)
        except ValueError as exc:
            checks.need(False, "targets", why=str(exc))
            flagged.add("targets")

    converted = {"targets", "architecture", "event_source", "endpoint_peers"}
    plain = {
        name: getattr(s, name)
        for name in setting_names()
        if name not in PROP_OF_SETTING and name not in converted
    }
    kwargs: dict[str, Any] = {
        **plain,
        "bucket": bucket,
        "targets": targets,
        "database_secret": None
        if {"db_secret_arn", "db_secret_kms_key_arn"} & flagged
        else _secret(imported, s),
        "database_user": s.db_iam_user,
        "database_host": None if "db_host" in flagged else s.db_host,
        "database_port": s.db_port,
        "database_name": s.db_name,
        **_iam_database(imported, s, flagged),
        "alarm_topic": None
        if s.alarm_topic_arn is None or "alarm_topic_arn" in flagged
        else sns.Topic.from_topic_arn(imported, "AlarmTopic", s.alarm_topic_arn),
        "event_source": None if "event_source" in flagged else s.event_source,
        "inventory_destination": None
        if s.inventory_destination_bucket_name is None
        or "inventory_destination_bucket_name" in flagged
        else s3.Bucket.from_bucket_name(
            imported, "InventoryDestination", s.inventory_destination_bucket_name
        ),
    }
    if "architecture" not in flagged:
        kwargs["architecture"] = ARCHITECTURES[s.architecture]
    if s.vpc_id is not None and not set(_NETWORK_SETTINGS) & flagged:
        kwargs.update(_network(imported, s))

    # The construct's own checks, less those about a setting already reported as malformed.
    flagged_props = flagged | {PROP_OF_SETTING.get(name, name) for name in flagged}
    found = checks.found + [
        problem
        for problem in problems(SizeRecorderProps(**kwargs), region=Stack.of(scope).region)
        if not flagged_props & set(problem.props)
    ]
    if found:
        raise SizeRecorderConfigError(found, name=name_setting)
    return kwargs


_NETWORK_SETTINGS: Final = (
    "vpc_id",
    "subnet_ids",
    "subnet_route_table_ids",
    "security_group_ids",
    "vpc_cidr_block",
    "endpoint_peers",
)


def _check_network(checks: Checks, s: ContextSettings) -> None:
    if s.vpc_id is None:
        given = [name for name in _NETWORK_SETTINGS[1:] if getattr(s, name)]
        checks.need(not given, "vpc_id", *given, why="these need a VPC id")
        return
    checks.need(bool(s.subnet_ids), "subnet_ids", "vpc_id", why="a VPC needs the subnets")
    checks.need(
        not s.subnet_route_table_ids or len(s.subnet_route_table_ids) == len(s.subnet_ids),
        "subnet_route_table_ids",
        "subnet_ids",
        why="one route table id per subnet, in the subnets' order (repeat an id the subnets share)",
    )
    # The construct refuses this too, once built; here the message names the context keys.
    checks.need(
        not (s.reconcile and s.vpc_endpoints and s.s3_endpoint) or bool(s.subnet_route_table_ids),
        "subnet_route_table_ids",
        "s3_endpoint",
        why="the reconciliation's S3 gateway endpoint (made with the VPC endpoints) adds a route"
        " to each subnet's route table, which synth does not look up: give them, or set"
        " s3Endpoint=false if those route tables already route S3 (a gateway endpoint or NAT)",
    )
    checks.need(
        bool(s.security_group_ids),
        "security_group_ids",
        "vpc_id",
        why="a VPC needs the security group(s) that may reach the database",
    )
    checks.need(
        not s.vpc_endpoints or s.vpc_cidr_block is not None or bool(s.endpoint_peers),
        "vpc_cidr_block",
        "endpoint_peers",
        "vpc_endpoints",
        why="the endpoints' private DNS answers for the whole VPC, so every workload in it must"
        " be able to reach them: give the VPC's CIDR (or the peers to admit instead), or set"
        " vpcEndpoints=false if the VPC has its own endpoints",
    )


def _check_iam_database(checks: Checks, s: ContextSettings) -> None:
    """Each database is named by a pair of ids, and its endpoint cannot be looked up."""
    given = False
    for _, identifier, iam_id in _IAM_DATABASE_SETTINGS:
        pair = (getattr(s, identifier), getattr(s, iam_id))
        given = given or any(pair)
        checks.need(
            all(pair) or not any(pair),
            identifier,
            iam_id,
            why="give both: the identifier imports the database, and IAM policies name it by the"
            " other",
        )
    checks.need(
        not given or s.db_host is not None,
        "db_host",
        why="IAM auth needs the database's endpoint address, which synth does not look up",
    )


def _iam_database(scope: Construct, s: ContextSettings, flagged: set[str]) -> dict[str, Any]:
    """The instance, cluster or proxy named for IAM auth, imported (each one named)."""
    found: dict[str, Any] = {}
    for prop, identifier, iam_id in _IAM_DATABASE_SETTINGS:
        name, iam_name = getattr(s, identifier), getattr(s, iam_id)
        if name is None or iam_name is None or {identifier, iam_id, "db_host"} & flagged:
            continue
        assert s.db_host is not None  # _check_iam_database flags it otherwise
        port = s.db_port or c.DEFAULT_DB_PORT
        if prop == "database_instance":
            found[prop] = rds.DatabaseInstance.from_database_instance_attributes(
                scope,
                "DatabaseInstance",
                instance_identifier=name,
                instance_resource_id=iam_name,
                instance_endpoint_address=s.db_host,
                port=port,
                security_groups=[],
            )
        elif prop == "database_cluster":
            found[prop] = rds.DatabaseCluster.from_database_cluster_attributes(
                scope,
                "DatabaseCluster",
                cluster_identifier=name,
                cluster_resource_identifier=iam_name,
                cluster_endpoint_address=s.db_host,
                port=port,
            )
        else:
            found[prop] = rds.DatabaseProxy.from_database_proxy_attributes(
                scope,
                "DatabaseProxy",
                db_proxy_name=name,
                db_proxy_arn=iam_name,
                endpoint=s.db_host,
                security_groups=[],
            )
    return found


def _secret(scope: Construct, s: ContextSettings) -> secretsmanager.ISecret | None:
    if s.db_secret_arn is None:
        return None
    key = (
        None
        if s.db_secret_kms_key_arn is None
        else kms.Key.from_key_arn(scope, "DatabaseSecretKey", s.db_secret_kms_key_arn)
    )
    return secretsmanager.Secret.from_secret_attributes(
        scope, "DatabaseSecret", secret_complete_arn=s.db_secret_arn, encryption_key=key
    )


def _network(scope: Construct, s: ContextSettings) -> dict[str, Any]:
    """The VPC, subnets (with their route tables, when given) and groups from their ids, so
    synth needs no lookup (the AZ list is unused once the subnets are explicit)."""
    assert s.vpc_id is not None
    vpc = ec2.Vpc.from_vpc_attributes(
        scope,
        "Vpc",
        vpc_id=s.vpc_id,
        availability_zones=["unused"],
        vpc_cidr_block=s.vpc_cidr_block,
    )
    subnets: list[ec2.ISubnet] = []
    for i, subnet_id in enumerate(s.subnet_ids):
        if s.subnet_route_table_ids:
            subnets.append(
                ec2.Subnet.from_subnet_attributes(
                    scope,
                    f"Subnet{i}",
                    subnet_id=subnet_id,
                    route_table_id=s.subnet_route_table_ids[i],
                )
            )
            continue
        subnet = ec2.Subnet.from_subnet_id(scope, f"Subnet{i}", subnet_id)
        acknowledge(
            subnet,
            "Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId",
            "Subnets are given by id only, without subnetRouteTableIds; nothing in this stack"
            " reads their route tables (the reconciliation's S3 gateway endpoint would, and is"
            " refused without them).",
        )
        subnets.append(subnet)
    return {
        "vpc": vpc,
        "vpc_subnets": ec2.SubnetSelection(subnets=subnets),
        # Imported immutable: the team owns these groups (and their rule to the database).
        "security_groups": _security_groups(scope, "SecurityGroup", s.security_group_ids),
        "endpoint_peers": _endpoint_peers(scope, s.endpoint_peers),
    }


def _endpoint_peers(scope: Construct, peers: tuple[str, ...]) -> list[ec2.IPeer] | None:
    """The CIDRs and security groups (imported immutable) the endpoints admit; None leaves the
    construct's default, the VPC's CIDR."""
    if not peers:
        return None
    return [
        ec2.SecurityGroup.from_security_group_id(scope, f"EndpointPeer{i}", peer, mutable=False)
        if _SECURITY_GROUP_ID.fullmatch(peer)
        else ec2.Peer.ipv4(peer)
        for i, peer in enumerate(peers)
    ]


def _security_groups(scope: Construct, id: str, ids: tuple[str, ...]) -> list[ec2.ISecurityGroup]:
    return [
        ec2.SecurityGroup.from_security_group_id(scope, f"{id}{i}", sg, mutable=False)
        for i, sg in enumerate(ids)
    ]


def _targets(scope: Construct, text: str, bucket: s3.IBucket | None) -> list[RecorderTarget]:
    """RecorderTargets from the context's JSON list; a target's bucket is imported by name (the
    existing bucket's own import when it names that one)."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("must be a JSON list of target objects")
    targets = []
    for index, item in enumerate(items):
        where = f"entry {index}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not a JSON object")
        unknown = sorted(set(item) - _TARGET_FIELDS)
        if unknown:
            raise ValueError(f"{where} has unknown field(s) {', '.join(unknown)}")
        if not all(isinstance(value, str) for value in item.values()):
            raise ValueError(f"{where}: every field is a string")
        if "table" not in item:
            raise ValueError(f"{where} has no 'table'")
        name = item.pop("bucket", None)
        target_bucket = None
        if name:
            target_bucket = (
                bucket
                if bucket is not None and name == bucket.bucket_name
                else s3.Bucket.from_bucket_name(scope, f"TargetBucket{index}", name)
            )
        targets.append(RecorderTarget(bucket=target_bucket, **item))
    return targets


_UNSET: Final = object()


def _parse(raw: Any, hint: Any, *, json_text: bool) -> Any:
    """Coerce one raw context value to the field's type; `_UNSET` keeps the default."""
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    base = next(a for a in get_args(hint) if a is not type(None)) if optional else hint
    if raw is None or raw == "" or raw == []:
        if optional:
            return None
        return () if get_origin(base) is tuple else _UNSET
    if json_text:
        return raw if isinstance(raw, str) else json.dumps(raw)
    if base is bool:
        return _parse_bool(raw)
    if base is int:
        return _parse_int(raw)
    if get_origin(base) is tuple:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"expected a list of strings or a comma-separated string, got {raw!r}")
        return tuple(i.strip() for i in items if i.strip())
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {raw!r}")
    return raw


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    raise ValueError(f"expected a whole number, got {raw!r}")
