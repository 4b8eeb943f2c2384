"""`SizeRecorder`: S3 events → SQS (+ DLQ) → Lambda → Postgres, with alarms.

Secure defaults with explicit overrides, in the spirit of AWS Solutions Constructs' `aws-s3-sqs`
and `aws-sqs-lambda`: give an existing bucket or let the construct make one (never both), and
reach in through what it exposes (`recorder.queue`, `recorder.function`, ...). Each part is a
small construct; `SizeRecorder` wires them and the bucket's events.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final

import jsii
from aws_cdk import (
    Acknowledgment,
    Annotations,
    ArnFormat,
    CfnResource,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from size_recorder import constants as c
from size_recorder_cdk import overrides
from size_recorder_cdk.alarms import topic_alarms
from size_recorder_cdk.bundling import RUNTIME, function_code
from size_recorder_cdk.database_access import database_environment, grant_database
from size_recorder_cdk.errors import Problem, SizeRecorderConfigError
from size_recorder_cdk.function_parts import (
    VPC_ACCESS_POLICY,
    VPC_ACCESS_WHY,
    allow_vpc_networking,
    function_role,
    retained_log_group,
)
from size_recorder_cdk.hardening import HARDENED_BUCKET, hardened_bucket
from size_recorder_cdk.props import (
    EventSource,
    RecorderTarget,
    SizeRecorderProps,
    filter_prefixes,
    function_environment,
    resolved,
    same_bucket,
    unfiltered_notification_why,
    validate,
)

if typing.TYPE_CHECKING:
    from size_recorder_cdk.reconcile import Reconciliation

BASIC_EXECUTION_POLICY: Final = "service-role/AWSLambdaBasicExecutionRole"
NOTIFICATIONS_HANDLER_ID: Final = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
HANDLER_LOG_GROUP_ID: Final = NOTIFICATIONS_HANDLER_ID + "LogGroup"
LIVE_ALIAS: Final = "live"
# CDK warns on every SnapStart function that SnapStart applies to published versions only.
SNAP_START_PUBLISH_WARNING: Final = "Annotation::@aws-cdk/aws-lambda:snapStartRequirePublish"
# EventBridge's names for the S3 events the recorder reads.
OBJECT_CREATED: Final = "Object Created"
OBJECT_DELETED: Final = "Object Deleted"


def managed_policy_finding(policy: str) -> str:
    """cdk-nag's id for one AWS managed policy on a role (AwsSolutions-IAM4)."""
    return f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Record why a cdk-nag finding is accepted, on the construct that produces it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


# SQS-managed SSE: S3 cannot send to a queue under the AWS-managed `alias/aws/sqs` key.
_SECURE_QUEUE: Final[Mapping[str, Any]] = {
    "encryption": sqs.QueueEncryption.SQS_MANAGED,
    "enforce_ssl": True,
}


class RecorderBucket(Construct):
    """A new, hardened bucket whose uploads are recorded, with its access-log bucket."""

    def __init__(self, scope: Construct, id: str, *, props: SizeRecorderProps) -> None:
        super().__init__(scope, id)
        chosen = props.bucket_props or {}
        self.access_log_bucket: s3.Bucket | None = None
        if chosen.get("server_access_logs_bucket") is None:
            self.access_log_bucket = hardened_bucket(
                self, "AccessLogs", object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED
            )
        lifecycle = list(chosen.get("lifecycle_rules") or ())
        if props.noncurrent_version_expiration_days:
            lifecycle.append(
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(
                        props.noncurrent_version_expiration_days
                    )
                )
            )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            **overrides.merged(
                {
                    **HARDENED_BUCKET,
                    # Every write of a key is its own version and its own event, so concurrent
                    # overwrites each reach the recorder, which keeps the newest by sequencer.
                    "versioned": True,
                    "server_access_logs_bucket": self.access_log_bucket,
                    "server_access_logs_prefix": "access-logs/",
                },
                props.bucket_props,
                {
                    "lifecycle_rules": lifecycle or None,
                    # Safe here, unlike on an existing bucket: this stack owns every notification
                    # of a bucket it creates.
                    "event_bridge_enabled": props.effective_event_source is EventSource.EVENTBRIDGE,
                },
            ),
        )


class RecorderQueues(Construct):
    """The source queue and its dead-letter queue, encrypted so S3 can still deliver to them."""

    def __init__(self, scope: Construct, id: str, *, props: SizeRecorderProps) -> None:
        super().__init__(scope, id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            **overrides.merged(
                _SECURE_QUEUE,
                props.dead_letter_queue_props,
                {"retention_period": Duration.days(c.DLQ_RETENTION_DAYS)},
            ),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            **overrides.merged(
                _SECURE_QUEUE,
                props.queue_props,
                {
                    "retention_period": Duration.days(props.queue_retention_days),
                    "visibility_timeout": Duration.seconds(
                        props.effective_visibility_timeout_seconds
                    ),
                    "dead_letter_queue": sqs.DeadLetterQueue(
                        queue=self.dead_letter_queue, max_receive_count=props.max_receive_count
                    ),
                },
            ),
        )


class RecorderFunction(Construct):
    """The Lambda function, its role and log group, its SQS event source (on a `live` alias with
    SnapStart), its database access (a secret, or IAM database authentication), and VPC
    plumbing."""

    def __init__(
        self, scope: Construct, id: str, *, props: SizeRecorderProps, queue: sqs.IQueue
    ) -> None:
        super().__init__(scope, id)
        self.log_group = retained_log_group(
            self, "LogGroup", retention_days=props.log_retention_days
        )
        self.role = function_role(
            self,
            description="size-recorder function: consume its queue, log in to the database",
            log_group=self.log_group,
        )
        if props.vpc is not None:
            allow_vpc_networking(self.role)
            acknowledge(self.role, managed_policy_finding(VPC_ACCESS_POLICY), VPC_ACCESS_WHY)

        chosen = props.function_props or {}
        environment = {
            **(chosen.get("environment") or {}),
            **function_environment(props, to_json=Stack.of(self).to_json_string),
            **database_environment(props),
        }
        self.function = lambda_.Function(
            self,
            "Function",
            **overrides.merged(
                {"description": "size-recorder: writes each S3 upload's size into its row"},
                props.function_props,
                {
                    "runtime": RUNTIME,
                    "architecture": props.architecture,
                    "handler": c.HANDLER,
                    "code": function_code(props.architecture.name),
                    "memory_size": props.memory_size_mb,
                    "timeout": Duration.seconds(props.function_timeout_seconds),
                    "role": self.role,
                    "log_group": self.log_group,
                    "environment": environment,
                    "vpc": props.vpc,
                    "vpc_subnets": props.vpc_subnets,
                    "security_groups": _optional_list(props.security_groups),
                    **_snap_start(props),
                },
            ),
        )
        acknowledge(
            self.function,
            "AwsSolutions::AwsSolutions-L1",
            f"Pinned to {RUNTIME.name} on purpose: the bundle's compiled wheels (psycopg-binary)"
            " are fetched for exactly this Python version, so the runtime and the bundling must"
            " move together, deliberately, in one change (see bundling.py).",
        )
        grant_database(props, self.function)
        # What the queue invokes: the function itself, or with SnapStart the alias of its
        # published version (SnapStart never applies to $LATEST).
        self.alias: lambda_.Alias | None = None
        target: lambda_.IFunction = self.function
        if props.snap_start:
            self.alias = lambda_.Alias(
                self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version
            )
            target = self.alias
            acknowledge(
                self.function,
                SNAP_START_PUBLISH_WARNING,
                "SnapStart runs on published versions only: the construct publishes one on every"
                " change (current_version) and the queue invokes it through the live alias.",
            )
        target.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=props.batch_size,
                max_batching_window=Duration.seconds(props.max_batching_window_seconds),
                report_batch_item_failures=True,
                # Caps concurrent Postgres connections: one per concurrent function instance.
                max_concurrency=props.max_concurrency,
            )
        )
        # Unmatched keys are retried sooner than the visibility timeout by shortening it.
        queue.grant(self.function, "sqs:ChangeMessageVisibility")
        self.endpoints: list[ec2.InterfaceVpcEndpoint] = []
        if props.vpc is not None and props.vpc_endpoints:
            self._endpoints(props)

    def _endpoints(self, props: SizeRecorderProps) -> None:
        """Private subnets without NAT still reach SQS (ChangeMessageVisibility) and Secrets
        Manager (the credentials; not needed with IAM auth, which signs locally) through
        interface endpoints.

        Private DNS makes every workload in the VPC resolve these services to the endpoints, so
        they admit the whole VPC (or the caller's peers) besides the function: admitting the
        function alone cuts the VPC's other workloads off from SQS and Secrets Manager.
        """
        vpc = props.vpc
        assert vpc is not None
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="size-recorder VPC endpoints: HTTPS from the VPC, whose DNS they serve",
        )
        https = ec2.Port.tcp(443)
        endpoint_group.connections.allow_from(
            self.function, https, "HTTPS from the size-recorder function"
        )
        if props.endpoint_peers is not None:
            peers = list(props.endpoint_peers)
        else:
            peers = [ec2.Peer.ipv4(vpc.vpc_cidr_block)]
            if not resolved(vpc.vpc_cidr_block):
                acknowledge(
                    endpoint_group,
                    "AwsSolutions::AwsSolutions-EC23",
                    "The only CIDR admitted is the VPC's own block, known at deploy time:"
                    " cdk-nag cannot read the token, so its open-ingress rule errors out.",
                )
        for peer in peers:
            endpoint_group.add_ingress_rule(
                peer, https, "HTTPS from the VPC's workloads (private DNS sends them here)"
            )
        services = {"SqsEndpoint": ec2.InterfaceVpcEndpointAwsService.SQS}
        if props.database_secret is not None:
            services["SecretsManagerEndpoint"] = ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER
        for name, service in services.items():
            self.endpoints.append(
                ec2.InterfaceVpcEndpoint(
                    self,
                    name,
                    vpc=vpc,
                    service=service,
                    subnets=props.vpc_subnets,
                    security_groups=[endpoint_group],
                    private_dns_enabled=True,
                    open=False,
                )
            )


def _snap_start(props: SizeRecorderProps) -> dict[str, Any]:
    """The function keywords for SnapStart: a snapshot per published version, and each replaced
    version deleted (CDK retains them by default), since every version keeps a cached snapshot
    that is charged for."""
    if not props.snap_start:
        return {}
    return {
        "snap_start": lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS,
        "current_version_options": lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY),
    }


def _optional_list(items: Sequence[Any] | None) -> list[Any] | None:
    return None if items is None else list(items)


class RecorderAlarms(Construct):
    """Alarms on an SNS topic, and a dashboard with the same signals."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        props: SizeRecorderProps,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id)
        self.alarm_topic: sns.ITopic
        if props.alarm_topic is not None:
            self.alarm_topic = props.alarm_topic
        else:
            topic = sns.Topic(self, "Topic", display_name="size-recorder alarms", enforce_ssl=True)
            topic.add_to_resource_policy(_cloudwatch_may_publish(topic))
            if props.alarm_email is not None:
                topic.add_subscription(subscriptions.EmailSubscription(props.alarm_email))
            self.alarm_topic = topic

        recorder_dimensions = {"service": c.SERVICE_NAME}  # Powertools' default dimension

        def recorder_metric(name: str, period: Duration) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=c.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map=recorder_dimensions,
                statistic=cloudwatch.Stats.SUM,
                period=period,
            )

        five_minutes = Duration.minutes(5)
        dlq_visible = dead_letter_queue.metric_approximate_number_of_messages_visible(
            statistic=cloudwatch.Stats.MAXIMUM, period=Duration.minutes(1)
        )
        oldest = queue.metric_approximate_age_of_oldest_message(
            statistic=cloudwatch.Stats.MAXIMUM, period=five_minutes
        )
        errors = function.metric_errors(statistic=cloudwatch.Stats.SUM, period=five_minutes)
        throttles = function.metric_throttles(statistic=cloudwatch.Stats.SUM, period=five_minutes)
        unmatched = recorder_metric(c.METRIC_UNMATCHED, Duration.minutes(15))
        invalid = recorder_metric(c.METRIC_INVALID, five_minutes)

        # Idle queues and a quiet function publish nothing: missing data is not a breach.
        specs = (
            (
                "DeadLetterQueueNotEmpty",
                dlq_visible,
                1,
                "Messages reached the size-recorder DLQ: inspect, fix, then size-recorder replay.",
            ),
            (
                "QueueOldestMessage",
                oldest,
                props.oldest_message_age_alarm_seconds,
                "The oldest size-recorder message is too old: the function lags or fails.",
            ),
            (
                "FunctionErrors",
                errors,
                props.errors_alarm_threshold,
                "The size-recorder function crashed (per-message failures are not errors).",
            ),
            (
                "FunctionThrottles",
                throttles,
                props.throttles_alarm_threshold,
                "The size-recorder function was throttled.",
            ),
            (
                "RecordsUnmatched",
                unmatched,
                props.unmatched_alarm_threshold,
                "Many uploads had no row to update: wrong table/prefix, or rows inserted late.",
            ),
            (
                "RecordsInvalid",
                invalid,
                props.invalid_alarm_threshold,
                "Malformed S3 events or events without a size reached the size-recorder.",
            ),
        )
        self.alarms = topic_alarms(
            self,
            specs,
            topic=self.alarm_topic,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="size-recorder alarms", alarms=list(self.alarms.values()), width=24
            )
        )
        # RecordsStaleByLedger is part of RecordsStale, published only when the sequencer
        # ledger refused a record, so it is drawn beside it, and only where a ledger is kept.
        by_ledger = (c.METRIC_STALE_BY_LEDGER,) if props.sequencer_ledger is not None else ()
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Record outcomes",
                left=[
                    recorder_metric(name, five_minutes)
                    for name in (
                        c.METRIC_RECORDED,
                        c.METRIC_STALE,
                        *by_ledger,
                        c.METRIC_SKIPPED,
                        c.METRIC_UNMATCHED,
                        c.METRIC_INVALID,
                        c.METRIC_FAILED,
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Queues",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=five_minutes),
                    dlq_visible,
                ],
                right=[oldest],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function",
                left=[function.metric_invocations(period=five_minutes), errors, throttles],
                right=[function.metric_duration(period=five_minutes)],
                width=24,
            )
        )


def _cloudwatch_may_publish(topic: sns.ITopic) -> iam.PolicyStatement:
    """Lets this account's alarms publish to `topic`. `enforce_ssl` gives the topic a policy whose
    only statement is a Deny, and a topic policy replaces SNS's default one (which is what lets
    CloudWatch publish): without this Allow, no alarm would ever reach a subscriber."""
    stack = Stack.of(topic)
    return iam.PolicyStatement(
        sid="AllowThisAccountsAlarms",
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions=["sns:Publish"],
        resources=[topic.topic_arn],
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name="*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        },
    )


def key_matchers(prefixes: Sequence[str], suffix: str | None) -> list[dict[str, str]]:
    """EventBridge content filters on `detail.object.key`, one per prefix (any may match);
    [] when every key matches. A prefix and a suffix together need a wildcard pattern."""
    if not suffix and all(prefix == "" for prefix in prefixes):
        return []
    matchers = []
    for prefix in prefixes:
        if not suffix:
            matchers.append({"prefix": prefix})
        elif not prefix:
            matchers.append({"suffix": suffix})
        else:
            matchers.append(
                {"wildcard": f"{_wildcard_literal(prefix)}*{_wildcard_literal(suffix)}"}
            )
    return matchers


def _wildcard_literal(text: str) -> str:
    """`text` matched literally inside an EventBridge wildcard (a token goes in as it is)."""
    return text.replace("\\", "\\\\").replace("*", "\\*") if resolved(text) else text


class SizeRecorder(Construct):
    """Records the size of every upload to a bucket in the Postgres row that names it.

    Every keyword is a field of `SizeRecorderProps`, documented there and in docs/deploy.md's
    props table, and checked as a whole before anything is made.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket | None = None,
        bucket_props: Mapping[str, Any] | None = None,
        noncurrent_version_expiration_days: int = 0,
        event_source: EventSource | None = None,
        notification_prefix: str | None = None,
        notification_suffix: str | None = None,
        allow_unfiltered_notification: bool = False,
        table: str | None = None,
        key_column: str | None = None,
        size_column: str | None = None,
        sequencer_column: str | None = None,
        key_prefix: str = "",
        targets: Sequence[RecorderTarget] | None = None,
        sequencer_ledger: str | None = None,
        database_secret: secretsmanager.ISecret | None = None,
        database_user: str | None = None,
        database_instance: rds.IDatabaseInstance | None = None,
        database_cluster: rds.IDatabaseCluster | None = None,
        database_proxy: rds.IDatabaseProxy | None = None,
        database_host: str | None = None,
        database_port: int | None = None,
        database_name: str | None = None,
        statement_timeout_ms: int = c.DEFAULT_STATEMENT_TIMEOUT_MS,
        connect_timeout_seconds: int = c.DEFAULT_CONNECT_TIMEOUT_S,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        vpc_endpoints: bool = True,
        endpoint_peers: Sequence[ec2.IPeer] | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        memory_size_mb: int = 256,
        function_timeout_seconds: int = c.DEFAULT_FUNCTION_TIMEOUT_S,
        log_retention_days: int = 30,
        log_level: str = "INFO",
        snap_start: bool = False,
        unmatched_retry_base_seconds: int = c.DEFAULT_UNMATCHED_RETRY_BASE_S,
        unmatched_retry_max_seconds: int = c.DEFAULT_UNMATCHED_RETRY_MAX_S,
        function_props: Mapping[str, Any] | None = None,
        batch_size: int = c.DEFAULT_BATCH_SIZE,
        max_batching_window_seconds: int = c.DEFAULT_BATCH_WINDOW_S,
        max_concurrency: int = c.DEFAULT_MAX_CONCURRENCY,
        max_receive_count: int = c.DEFAULT_MAX_RECEIVE_COUNT,
        visibility_timeout_seconds: int | None = None,
        queue_retention_days: int = 4,
        queue_props: Mapping[str, Any] | None = None,
        dead_letter_queue_props: Mapping[str, Any] | None = None,
        alarm_topic: sns.ITopic | None = None,
        alarm_email: str | None = None,
        oldest_message_age_alarm_seconds: int = 900,
        unmatched_alarm_threshold: int = 50,
        invalid_alarm_threshold: int = 1,
        errors_alarm_threshold: int = 1,
        throttles_alarm_threshold: int = 1,
        reconcile: bool = False,
        inventory_destination: s3.IBucket | None = None,
        s3_endpoint: bool = True,
    ) -> None:
        super().__init__(scope, id)
        # Spelled out, as jsii spells out every construct's props, so that type checkers and
        # help() see each keyword; a test holds this list to SizeRecorderProps' fields.
        props = SizeRecorderProps(
            bucket=bucket,
            bucket_props=bucket_props,
            noncurrent_version_expiration_days=noncurrent_version_expiration_days,
            event_source=event_source,
            notification_prefix=notification_prefix,
            notification_suffix=notification_suffix,
            allow_unfiltered_notification=allow_unfiltered_notification,
            table=table,
            key_column=key_column,
            size_column=size_column,
            sequencer_column=sequencer_column,
            key_prefix=key_prefix,
            targets=targets,
            sequencer_ledger=sequencer_ledger,
            database_secret=database_secret,
            database_user=database_user,
            database_instance=database_instance,
            database_cluster=database_cluster,
            database_proxy=database_proxy,
            database_host=database_host,
            database_port=database_port,
            database_name=database_name,
            statement_timeout_ms=statement_timeout_ms,
            connect_timeout_seconds=connect_timeout_seconds,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            vpc_endpoints=vpc_endpoints,
            endpoint_peers=endpoint_peers,
            architecture=architecture,
            memory_size_mb=memory_size_mb,
            function_timeout_seconds=function_timeout_seconds,
            log_retention_days=log_retention_days,
            log_level=log_level,
            snap_start=snap_start,
            unmatched_retry_base_seconds=unmatched_retry_base_seconds,
            unmatched_retry_max_seconds=unmatched_retry_max_seconds,
            function_props=function_props,
            batch_size=batch_size,
            max_batching_window_seconds=max_batching_window_seconds,
            max_concurrency=max_concurrency,
            max_receive_count=max_receive_count,
            visibility_timeout_seconds=visibility_timeout_seconds,
            queue_retention_days=queue_retention_days,
            queue_props=queue_props,
            dead_letter_queue_props=dead_letter_queue_props,
            alarm_topic=alarm_topic,
            alarm_email=alarm_email,
            oldest_message_age_alarm_seconds=oldest_message_age_alarm_seconds,
            unmatched_alarm_threshold=unmatched_alarm_threshold,
            invalid_alarm_threshold=invalid_alarm_threshold,
            errors_alarm_threshold=errors_alarm_threshold,
            throttles_alarm_threshold=throttles_alarm_threshold,
            reconcile=reconcile,
            inventory_destination=inventory_destination,
            s3_endpoint=s3_endpoint,
        )
        validate(props, region=Stack.of(self).region)
        self.props = props
        self.event_source = props.effective_event_source

        self.access_log_bucket: s3.Bucket | None = None
        self.bucket: s3.IBucket
        if props.bucket is None:
            storage = RecorderBucket(self, "Storage", props=props)
            self.bucket, self.access_log_bucket = storage.bucket, storage.access_log_bucket
        else:
            self.bucket = props.bucket
        queues = RecorderQueues(self, "Queues", props=props)
        recorder = RecorderFunction(self, "Recorder", props=props, queue=queues.queue)
        alarms = RecorderAlarms(
            self,
            "Alarms",
            props=props,
            queue=queues.queue,
            dead_letter_queue=queues.dead_letter_queue,
            function=recorder.function,
        )
        self.queue = queues.queue
        self.dead_letter_queue = queues.dead_letter_queue
        self.function = recorder.function
        self.role = recorder.role
        self.log_group = recorder.log_group
        self.alias = recorder.alias
        self.endpoints = recorder.endpoints
        self.alarm_topic = alarms.alarm_topic
        self.alarms = alarms.alarms
        self.dashboard = alarms.dashboard

        # One rule per bucket in EventBridge mode; `event_rule` is the first bucket's.
        self.event_rules: list[events.Rule] = []
        self.buckets: list[s3.IBucket] = []
        self._wire(self.bucket, filter_prefixes(props, self.bucket))
        if props.bucket is None and self.event_source is EventSource.EVENTBRIDGE:
            # event_bridge_enabled goes through CDK's notifications resource too.
            self._configure_notifications_handler()
        self.event_rule: events.Rule | None = self.event_rules[0] if self.event_rules else None
        self.reconciliation: Reconciliation | None = None
        if props.reconcile:
            # Imported here: reconcile.py builds on this module.
            from size_recorder_cdk.reconcile import add_reconciliation

            self.reconciliation = add_reconciliation(
                self,
                inventory_destination=props.inventory_destination,
                s3_endpoint=props.s3_endpoint,
            )

    def add_bucket(self, bucket: s3.IBucket, *, prefix: str | None = None) -> None:
        """Send `bucket`'s events under `prefix` (default: the prefixes of the targets that
        route its objects) to the same queue, the same way as the first bucket's.

        Nothing is granted to the function: it reads events, never the bucket. The queue's
        policy admits the new source (S3 from this bucket, or this bucket's EventBridge rule).
        """
        prefixes = (prefix,) if prefix is not None else filter_prefixes(self.props, bucket)
        checks = [
            (
                not any(same_bucket(bucket, wired) for wired in self.buckets),
                "this bucket's events already reach the queue (S3 would refuse the overlapping"
                " notification; a second rule would deliver every event twice)",
            ),
            (
                bool(prefixes),
                "no target routes this bucket's objects: add a RecorderTarget without a bucket"
                " or with this one, or pass prefix=",
            ),
            (
                self.event_source is not EventSource.NOTIFICATION
                or self.props.allow_unfiltered_notification
                or "" not in prefixes,
                unfiltered_notification_why("an added bucket"),
            ),
        ]
        refused = [Problem(("add_bucket",), why) for ok, why in checks if not ok]
        if refused:
            raise SizeRecorderConfigError(refused)
        self._wire(bucket, prefixes)

    def _wire(self, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
        self.buckets.append(bucket)
        if self.event_source is EventSource.NOTIFICATION:
            self._notify(bucket, prefixes)
        else:
            self._route(bucket, prefixes)

    def _notify(self, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
        """S3 event notifications, one per event type and prefix (S3 refuses overlapping ones,
        and `covering_prefixes` left none)."""
        suffix = self.props.notification_suffix or None
        types = [s3.EventType.OBJECT_CREATED]
        if self.props.follows_deletes:
            # A delete sets the row's size to NULL ("unknown"), ordered by its sequencer.
            types += [
                s3.EventType.OBJECT_REMOVED_DELETE,
                s3.EventType.OBJECT_REMOVED_DELETE_MARKER_CREATED,
            ]
        destination = _QueueDestination(self.queue, bucket)
        for event_type in types:
            for prefix in prefixes:
                filters = (
                    [s3.NotificationKeyFilter(prefix=prefix or None, suffix=suffix)]
                    if prefix or suffix
                    else []
                )
                bucket.add_event_notification(event_type, destination, *filters)
        self._configure_notifications_handler()

    def _route(self, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
        """An EventBridge rule for this bucket's events, to the queue. CDK scopes the queue
        policy to the rule (aws:SourceArn); events EventBridge cannot deliver go to the DLQ,
        where the DeadLetterQueueNotEmpty alarm sees them and replay can send them back."""
        detail_types = [OBJECT_CREATED, *([OBJECT_DELETED] if self.props.follows_deletes else [])]
        detail: dict[str, Any] = {"bucket": {"name": [bucket.bucket_name]}}
        matchers = key_matchers(prefixes, self.props.notification_suffix)
        if matchers:
            detail["object"] = {"key": matchers}
        number = len(self.event_rules) + 1
        rule = events.Rule(
            self,
            "EventRule" if number == 1 else f"EventRule{number}",
            description="size-recorder: S3 object events of one bucket, to the recorder's queue",
            event_pattern=events.EventPattern(
                source=["aws.s3"], detail_type=detail_types, detail=detail
            ),
        )
        rule.add_target(
            events_targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letter_queue)
        )
        self.event_rules.append(rule)
        if bucket is not self.bucket or self.props.bucket is not None:
            name = bucket.bucket_name if resolved(bucket.bucket_name) else bucket.node.path
            Annotations.of(rule).add_info(
                f"size-recorder: bucket {name} must send its events to EventBridge. Run"
                f" `size-recorder enable-eventbridge --bucket {name}` once (it keeps the bucket's"
                " other notifications), or set event_bridge_enabled=True where the bucket is"
                " defined."
            )

    def _configure_notifications_handler(self) -> None:
        """CDK's own bucket-notifications custom resource, shared by the stack: accept its
        managed policy, and give it a log group with the recorder's retention.

        CDK makes the handler as a raw `AWS::Lambda::Function` and exposes no logging setting,
        so its log group is Lambda's implicit one, kept forever. Its `LoggingConfig` (an L1
        property, set by override) points it at a log group of its own instead, made once per
        stack, beside the handler.
        """
        stack = Stack.of(self)
        handler = stack.node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            return
        acknowledge(
            handler,
            managed_policy_finding(BASIC_EXECUTION_POLICY),
            "CDK's built-in BucketNotificationsHandler (configures the bucket's notifications at"
            " deploy time) comes with this role; CDK exposes no way to replace its policy.",
        )
        if stack.node.try_find_child(HANDLER_LOG_GROUP_ID) is not None:
            return
        log_group = retained_log_group(
            stack, HANDLER_LOG_GROUP_ID, retention_days=self.props.log_retention_days
        )
        function = typing.cast(CfnResource, handler.node.find_child("Resource"))
        function.add_property_override("LoggingConfig.LogGroup", log_group.log_group_name)


@jsii.implements(s3.IBucketNotificationDestination)
class _QueueDestination:
    """One bucket's S3 notifications to the queue, as CDK's `s3n.SqsDestination` sends them, with
    `aws:SourceAccount` beside `aws:SourceArn` in the queue policy: a bucket ARN names no
    account, so `aws:SourceArn` alone admits a bucket of that name in any account."""

    def __init__(self, queue: sqs.IQueue, bucket: s3.IBucket) -> None:
        self._queue = queue
        self._bucket = bucket

    def bind(self, scope: Construct, bucket: Any) -> s3.BucketNotificationDestinationConfig:
        self._queue.grant_send_messages(
            iam.ServicePrincipal(
                "s3.amazonaws.com",
                conditions={
                    "ArnLike": {"aws:SourceArn": self._bucket.bucket_arn},
                    # The bucket owner's account: a bucket imported by name is taken to be in
                    # the stack's (import it with from_bucket_attributes(account=...) if not).
                    "StringEquals": {"aws:SourceAccount": self._bucket.env.account},
                },
            )
        )
        key = self._queue.encryption_master_key
        if key is not None:
            # As SqsDestination does: S3 encrypts the message with the queue's key.
            statement = iam.PolicyStatement(
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
            )
            if not key.add_to_resource_policy(statement, True).statement_added:
                Annotations.of(key).add_warning_v2(
                    "size-recorder:sqsKmsPermissionsNotAdded",
                    "Cannot change the policy of an imported KMS key: let s3.amazonaws.com use"
                    f" it (kms:GenerateDataKey*, kms:Decrypt): {statement.to_json()}",
                )
        return s3.BucketNotificationDestinationConfig(
            arn=self._queue.queue_arn,
            type=s3.BucketNotificationDestinationType.QUEUE,
            dependencies=[self._queue],
        )
