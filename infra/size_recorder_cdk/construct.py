"""`SizeRecorder`: S3 ObjectCreated → SQS (+ DLQ) → Lambda → Postgres, with alarms.

Secure defaults with explicit overrides, in the spirit of AWS Solutions Constructs' `aws-s3-sqs`
and `aws-sqs-lambda`. Each part is a small construct exposing what it made, so a team can reach
in (`recorder.queue`, `recorder.function`, ...) without subclassing.
"""

from __future__ import annotations

import typing
from typing import Any

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from size_recorder import constants as c
from size_recorder_cdk.bundling import RUNTIME, function_code
from size_recorder_cdk.props import SizeRecorderProps, function_environment, validate

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
BASIC_EXECUTION_POLICY = "service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


def managed_policy_finding(policy: str) -> str:
    """cdk-nag's id for one AWS managed policy on a role (AwsSolutions-IAM4)."""
    return f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Record why a cdk-nag finding is accepted, on the construct that produces it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


class RecorderBucket(Construct):
    """The bucket whose uploads are recorded: a new, hardened one or an existing one by name."""

    def __init__(self, scope: Construct, id: str, *, props: SizeRecorderProps) -> None:
        super().__init__(scope, id)
        self.access_log_bucket: s3.Bucket | None = None
        self.bucket: s3.IBucket
        if props.existing_bucket_name is not None:
            self.bucket = s3.Bucket.from_bucket_name(self, "Bucket", props.existing_bucket_name)
            return
        self.access_log_bucket = _hardened_bucket(
            self, "AccessLogs", object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED
        )
        lifecycle = []
        if props.noncurrent_version_expiration_days:
            lifecycle.append(
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(
                        props.noncurrent_version_expiration_days
                    )
                )
            )
        self.bucket = _hardened_bucket(
            self,
            "Bucket",
            # Every write of a key is its own version and its own event, so concurrent
            # overwrites each reach the recorder, which keeps the newest by sequencer.
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="access-logs/",
            lifecycle_rules=lifecycle or None,
        )


def _hardened_bucket(scope: Construct, id: str, **overrides: Any) -> s3.Bucket:
    """Encrypted, private, TLS only. SSE-S3 because server access logs cannot be delivered to
    a KMS-encrypted bucket, and the data bucket's objects are the app's own uploads."""
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        **overrides,
    )


class RecorderQueues(Construct):
    """The source queue and its dead-letter queue, encrypted so S3 can still deliver to them."""

    def __init__(self, scope: Construct, id: str, *, props: SizeRecorderProps) -> None:
        super().__init__(scope, id)
        # SQS-managed SSE: S3 cannot send to a queue under the AWS-managed `alias/aws/sqs` key.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(c.DLQ_RETENTION_DAYS),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(props.queue_retention_days),
            visibility_timeout=Duration.seconds(props.effective_visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=props.max_receive_count
            ),
        )


class RecorderFunction(Construct):
    """The Lambda function, its role and log group, its SQS event source, and VPC plumbing."""

    def __init__(
        self, scope: Construct, id: str, *, props: SizeRecorderProps, queue: sqs.IQueue
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(self, "LogGroup")
        # RetentionDays names periods ("ONE_MONTH"); the setting is a number of days.
        cfn_log_group = typing.cast(logs.CfnLogGroup, self.log_group.node.default_child)
        cfn_log_group.retention_in_days = props.log_retention_days
        # Our own role instead of the AWSLambdaBasicExecutionRole managed policy: write access
        # to this one log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="size-recorder function: consume its queue, read the database secret",
        )
        self.log_group.grant_write(self.role)

        self.secret = self._secret(props)
        self.vpc: ec2.IVpc | None = None
        self.endpoints: list[ec2.InterfaceVpcEndpoint] = []
        placement = self._vpc(props)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURES[props.architecture],
            handler=c.HANDLER,
            code=function_code(props.architecture),
            memory_size=props.memory_size_mb,
            timeout=Duration.seconds(props.function_timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            environment=function_environment(props, secret_arn=self.secret.secret_arn),
            description="size-recorder: writes each S3 upload's size into its Postgres row",
            vpc=self.vpc,
            vpc_subnets=placement[0] if placement else None,
            security_groups=placement[1] if placement else None,
        )
        acknowledge(
            self.function,
            "AwsSolutions::AwsSolutions-L1",
            f"Pinned to {RUNTIME.name} on purpose: the bundle's compiled wheels (psycopg-binary)"
            " are fetched for exactly this Python version, so the runtime and the bundling must"
            " move together, deliberately, in one change (see bundling.py).",
        )
        self.secret.grant_read(self.function)
        self.function.add_event_source(
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

    def _secret(self, props: SizeRecorderProps) -> secretsmanager.ISecret:
        assert props.db_secret_arn is not None  # validate() guarantees it
        if props.db_secret_kms_key_arn:
            # CDK drops the decrypt grant for an imported key, so state it here: decrypt only
            # on behalf of Secrets Manager, never directly.
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[props.db_secret_kms_key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{Aws.REGION}.{Aws.URL_SUFFIX}"
                        }
                    },
                )
            )
        return secretsmanager.Secret.from_secret_complete_arn(
            self, "DatabaseSecret", props.db_secret_arn
        )

    def _vpc(
        self, props: SizeRecorderProps
    ) -> tuple[ec2.SubnetSelection, list[ec2.ISecurityGroup]] | None:
        if props.vpc_id is None:
            return None
        # Given as ids so synth needs no lookup; the AZ list is unused once subnets are explicit.
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=props.vpc_id, availability_zones=["unused"]
        )
        subnets = [
            ec2.Subnet.from_subnet_id(self, f"Subnet{i}", subnet_id)
            for i, subnet_id in enumerate(props.subnet_ids)
        ]
        for subnet in subnets:
            acknowledge(
                subnet,
                "Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId",
                "Subnets are given by id only; nothing in this stack reads their route table.",
            )
        # Imported immutable: the team owns these groups (and their rule to the database).
        groups = [
            ec2.SecurityGroup.from_security_group_id(self, f"SecurityGroup{i}", sg, mutable=False)
            for i, sg in enumerate(props.security_group_ids)
        ]
        self.vpc = vpc
        # Creating and deleting ENIs needs EC2 actions that cannot be scoped to a resource.
        self.role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name(VPC_ACCESS_POLICY)
        )
        acknowledge(
            self.role,
            managed_policy_finding(VPC_ACCESS_POLICY),
            "Lambda needs ec2:CreateNetworkInterface/DescribeNetworkInterfaces/"
            "DeleteNetworkInterface on * to place the function in the VPC; these actions do not"
            " support resource-level scoping, and AWS maintains this policy for exactly that.",
        )
        if props.vpc_endpoints:
            self._endpoints(vpc, subnets, groups)
        return ec2.SubnetSelection(subnets=subnets), groups

    def _endpoints(
        self, vpc: ec2.IVpc, subnets: list[ec2.ISubnet], groups: list[ec2.ISecurityGroup]
    ) -> None:
        """Private subnets without NAT still reach Secrets Manager (credentials) and SQS
        (ChangeMessageVisibility) through interface endpoints reachable only from the function."""
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="size-recorder VPC endpoints: HTTPS from the function only",
        )
        for group in groups:
            endpoint_group.add_ingress_rule(
                group, ec2.Port.tcp(443), "HTTPS from the size-recorder function"
            )
        for name, service in (
            ("SecretsManagerEndpoint", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("SqsEndpoint", ec2.InterfaceVpcEndpointAwsService.SQS),
        ):
            self.endpoints.append(
                ec2.InterfaceVpcEndpoint(
                    self,
                    name,
                    vpc=vpc,
                    service=service,
                    subnets=ec2.SubnetSelection(subnets=subnets),
                    security_groups=[endpoint_group],
                    private_dns_enabled=True,
                    open=False,
                )
            )


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
        if props.alarm_topic_arn is not None:
            self.alarm_topic = sns.Topic.from_topic_arn(self, "Topic", props.alarm_topic_arn)
        else:
            topic = sns.Topic(self, "Topic", display_name="size-recorder alarms", enforce_ssl=True)
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
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        action = cw_actions.SnsAction(self.alarm_topic)
        for name, metric, threshold, description in specs:
            alarm = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[name] = alarm

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="size-recorder alarms", alarms=list(self.alarms.values()), width=24
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Record outcomes",
                left=[
                    recorder_metric(name, five_minutes)
                    for name in (
                        c.METRIC_RECORDED,
                        c.METRIC_STALE,
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


class SizeRecorder(Construct):
    """Records the size of every upload to a bucket in the Postgres row that names it."""

    def __init__(self, scope: Construct, id: str, *, props: SizeRecorderProps) -> None:
        super().__init__(scope, id)
        validate(props)
        self.props = props
        storage = RecorderBucket(self, "Storage", props=props)
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
        self.bucket = storage.bucket
        self.access_log_bucket = storage.access_log_bucket
        self.queue = queues.queue
        self.dead_letter_queue = queues.dead_letter_queue
        self.function = recorder.function
        self.log_group = recorder.log_group
        self.endpoints = recorder.endpoints
        self.alarm_topic = alarms.alarm_topic
        self.alarms = alarms.alarms
        self.dashboard = alarms.dashboard

        prefix = props.effective_notification_prefix or None
        suffix = props.notification_suffix or None
        filters = (
            [s3.NotificationKeyFilter(prefix=prefix, suffix=suffix)] if prefix or suffix else []
        )
        events = [s3.EventType.OBJECT_CREATED]
        if props.follows_deletes:
            # A delete sets the row's size to NULL ("unknown"), ordered by its sequencer.
            events += [
                s3.EventType.OBJECT_REMOVED_DELETE,
                s3.EventType.OBJECT_REMOVED_DELETE_MARKER_CREATED,
            ]
        for event in events:
            self.bucket.add_event_notification(event, s3n.SqsDestination(self.queue), *filters)
        self._acknowledge_notifications_handler()

    def _acknowledge_notifications_handler(self) -> None:
        """CDK's own bucket-notifications custom resource, shared by the stack."""
        handler = Stack.of(self).node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            return
        acknowledge(
            handler,
            managed_policy_finding(BASIC_EXECUTION_POLICY),
            "CDK's built-in BucketNotificationsHandler (configures the bucket's notifications at"
            " deploy time) comes with this role; CDK exposes no way to replace its policy.",
        )
