"""`Reconciliation`: every night, S3 Inventory's report of the recorder's bucket checked against
the rows by a Step Functions Distributed Map, with the CLI's per-batch code, and drift repaired.

S3 Inventory writes a daily CSV report of the bucket (a `manifest.json` naming gzipped data
files). Its manifest landing in the destination bucket starts the state machine (an EventBridge
rule on "Object Created", keys ending in /manifest.json under the bucket's own reports):

1. `Reconcile`, a Distributed Map, reads the report itself (ItemReader, InputType MANIFEST) and
   sends its rows in batches (ItemBatcher, `batch_rows` a batch, with the manifest's address and
   `fix` as BatchInput) to the reconcile function, at most `max_concurrency` at a time: each
   running batch holds one Postgres connection. A batch is retried when Lambda throttles or
   fails, and when Postgres is unreachable; the run fails when more than
   `tolerated_failure_percentage` of the batches still fail. The ResultWriter puts every batch's
   return value (JSON Lines) under `results_prefix` in the destination bucket.
2. `Summarise` adds those results up, writes the run's summary beside them and as
   `RESULTS_PREFIX/latest-summary.json`, and publishes the run's figures as metrics; the summary
   is the execution's output.

Alarms, on the recorder's topic: drift at or above `drift_alarm_threshold` in a run, failed
batches, and a run that failed outright.

For a bucket the recorder made, this construct also makes the destination bucket (hardened,
EventBridge on, reports and results expiring after `retention_days`) and the bucket's inventory
configuration. For an existing bucket the team's inventory configuration stays theirs: name its
destination bucket, prefix and ID; it must be CSV (the only format a Distributed Map reads).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aws_cdk import Annotations, Duration, Resource, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct, IConstruct

from size_recorder import constants as c
from size_recorder_cdk.alarms import topic_alarms
from size_recorder_cdk.bundling import RUNTIME, function_code
from size_recorder_cdk.construct import (
    OBJECT_CREATED,
    SizeRecorder,
    acknowledge,
    key_matchers,
    managed_policy_finding,
)
from size_recorder_cdk.database_access import database_environment, grant_database
from size_recorder_cdk.errors import Checks, Problem, SizeRecorderConfigError
from size_recorder_cdk.function_parts import (
    VPC_ACCESS_POLICY,
    VPC_ACCESS_WHY,
    allow_vpc_networking,
    function_role,
    retained_log_group,
)
from size_recorder_cdk.hardening import hardened_bucket
from size_recorder_cdk.props import (
    PLAIN_PREFIX,
    SizeRecorderProps,
    doc,
    filter_prefixes,
    function_environment,
    resolved,
)

# The package parts the reconcile function runs besides the recorder's: the operator code.
OPS_PARTS: Final = ("ops",)
INVENTORY_ID: Final = "size-recorder"
MANIFEST_SUFFIX: Final = "/manifest.json"
# ResultWriterV2 renders WriterConfig (JSON Lines of the batches' own outputs); CDK switches to
# it on this feature flag, which the construct sets for itself whatever the app's cdk.json says.
RESULT_WRITER_V2: Final = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"
# S3 Inventory writes a report a day: a run must end before the next one starts, or two runs
# would each hold `max_concurrency` connections.
RUN_TIMEOUT: Final = Duration.hours(20)
# What the drift and failure alarms look at: one data point per run.
ALARM_PERIOD: Final = Duration.hours(1)
# The summary reads a whole run's results once a night: the most Lambda allows, and memory enough
# to stream them (a line at a time).
SUMMARY_TIMEOUT: Final = Duration.minutes(15)
SUMMARY_MEMORY_MB: Final = 512
# Distributed Map's own limit on concurrent child executions.
MAX_MAP_CONCURRENCY: Final = 10_000
# A batch's items travel in the child execution's input, which Step Functions caps at 256 KiB:
# batches are cut at this many bytes too (long keys make long rows), leaving room for BatchInput.
MAX_BATCH_ROWS: Final = 10_000
BATCH_BYTES: Final = 200_000
# Throttled batches wait and retry: a run has a whole night.
THROTTLE_RETRY = sfn.RetryProps(
    errors=["Lambda.TooManyRequestsException"],
    interval=Duration.seconds(5),
    max_attempts=8,
    backoff_rate=2,
    jitter_strategy=sfn.JitterType.FULL,
)
# The connection error the reconcile function raises (adapters.postgres.connection): a failover
# or a restart is over in a minute or two.
POSTGRES_RETRY = sfn.RetryProps(
    errors=["PostgresError"],
    interval=Duration.seconds(15),
    max_attempts=4,
    backoff_rate=2,
    jitter_strategy=sfn.JitterType.FULL,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconciliationProps:
    """Every keyword of `Reconciliation` but the recorder, in the order of its props table."""

    inventory_destination: s3.IBucket | None = field(
        default=None,
        metadata=doc(
            "the bucket S3 Inventory writes the recorder bucket's reports to; **required** for"
            " an existing bucket (your inventory configuration names it)",
            default="a new bucket, for a bucket the recorder made",
        ),
    )
    inventory_prefix: str = field(
        default="inventory",
        metadata=doc(
            "the inventory configuration's destination prefix: reports land under"
            " PREFIX/SOURCE-BUCKET/CONFIG-ID/"
        ),
    )
    inventory_id: str | None = field(
        default=None,
        metadata=doc(
            "the inventory configuration's ID: only its reports start a run (another"
            " configuration of the bucket, ORC or Parquet for Athena, would fail the run)",
            default=f"`{INVENTORY_ID}` for a bucket the recorder made; none: any",
        ),
    )
    fix: bool = field(
        default=True,
        metadata=doc("set the size S3 has on rows that differ (a compare-and-set); false: report"),
    )
    max_concurrency: int | None = field(
        default=None,
        metadata=doc(
            "batches at a time, each holding one Postgres connection (1 to 10,000)",
            default="the recorder's `max_concurrency`",
        ),
    )
    batch_rows: int = field(
        default=1_000,
        metadata=doc("inventory rows per batch (ItemBatcher MaxItemsPerBatch), 1 to 10,000"),
    )
    tolerated_failure_percentage: int = field(
        default=5,
        metadata=doc(
            "the percentage of batches that may still fail after their retries before the run fails"
        ),
    )
    function_timeout_seconds: int = field(
        default=300, metadata=doc("the reconcile function's timeout for one batch, 1 to 900")
    )
    memory_size_mb: int = field(
        default=256, metadata=doc("the reconcile function's memory, 128 to 10,240")
    )
    retention_days: int = field(
        default=14,
        metadata=doc("new destination bucket only: reports and results expire after these days"),
    )
    results_prefix: str = field(
        default="reconciliation",
        metadata=doc(
            "where in the destination bucket the runs' results and summaries go; outside the"
            " reports"
        ),
    )
    drift_alarm_threshold: int = field(
        default=1, metadata=doc("`ReconcileDrift` threshold: rows drifting in one run")
    )
    s3_endpoint: bool = field(
        default=True,
        metadata=doc(
            "when the recorder makes its VPC endpoints (`vpc_endpoints`): an S3 gateway endpoint"
            " (free) on the route tables of the recorder's subnets, so the batches read the"
            " reports and HEAD objects without NAT; `False` when those route tables already"
            " route S3 (a second gateway endpoint for them fails to deploy)"
        ),
    )


def add_reconciliation(recorder: SizeRecorder, **keywords: Any) -> Reconciliation:
    """`recorder`'s nightly reconciliation, made inside it with the id `Reconciliation`; the
    keywords are `Reconciliation`'s (`inventory_destination` is required for an existing
    bucket). `SizeRecorder(reconcile=True)` calls it with the defaults."""
    return Reconciliation(recorder, "Reconciliation", recorder=recorder, **keywords)


class Reconciliation(Construct):
    """The nightly reconciliation of `recorder`'s bucket (see the module's documentation).

    Exposes `state_machine`, `function` (a batch) and `summary_function`, `rule`,
    `inventory_destination`, `results_prefix`, `log_group` (the state machine's), `alarms` and
    `s3_endpoint` (None unless it made one).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        recorder: SizeRecorder,
        inventory_destination: s3.IBucket | None = None,
        inventory_prefix: str = "inventory",
        inventory_id: str | None = None,
        fix: bool = True,
        max_concurrency: int | None = None,
        batch_rows: int = 1_000,
        tolerated_failure_percentage: int = 5,
        function_timeout_seconds: int = 300,
        memory_size_mb: int = 256,
        retention_days: int = 14,
        results_prefix: str = "reconciliation",
        drift_alarm_threshold: int = 1,
        s3_endpoint: bool = True,
    ) -> None:
        super().__init__(scope, id)
        # Before any child exists: CDK reads feature flags from the construct tree.
        self.node.set_context(RESULT_WRITER_V2, True)
        props = ReconciliationProps(
            inventory_destination=inventory_destination,
            inventory_prefix=inventory_prefix,
            inventory_id=inventory_id,
            fix=fix,
            max_concurrency=max_concurrency,
            batch_rows=batch_rows,
            tolerated_failure_percentage=tolerated_failure_percentage,
            function_timeout_seconds=function_timeout_seconds,
            memory_size_mb=memory_size_mb,
            retention_days=retention_days,
            results_prefix=results_prefix,
            drift_alarm_threshold=drift_alarm_threshold,
            s3_endpoint=s3_endpoint,
        )
        validate(props, recorder)
        self.props = props
        recorded = recorder.props
        source = recorder.bucket
        made_source = recorded.bucket is None

        self.inventory_destination: s3.IBucket
        if props.inventory_destination is not None:
            self.inventory_destination = props.inventory_destination
        else:
            self.inventory_destination = self._destination_bucket(recorder)
        destination = self.inventory_destination
        config_id = props.inventory_id or (INVENTORY_ID if made_source else None)
        if made_source:
            self._configure_inventory(recorder, typing.cast(s3.Bucket, source))
        if props.inventory_destination is not None and not Resource.is_owned_resource(destination):
            name = destination.bucket_name if resolved(destination.bucket_name) else "it"
            admit = (
                " Its bucket policy must let s3.amazonaws.com put the reports (CDK adds that"
                " only to a bucket made in this app)."
                if made_source
                else ""
            )
            Annotations.of(self).add_info(
                f"size-recorder: the inventory's destination bucket must send its events to"
                f" EventBridge: run `size-recorder enable-eventbridge --bucket {name}` once.{admit}"
            )

        # Where this bucket's reports are, and where the results go.
        reports = f"{_directory(props.inventory_prefix)}{source.bucket_name}/"
        if config_id:
            reports += f"{config_id}/"
        self.results_prefix = props.results_prefix.strip("/")
        reports_objects = destination.arn_for_objects(f"{reports}*")
        results_objects = destination.arn_for_objects(f"{self.results_prefix}/*")

        code = function_code(recorded.architecture.name, scope=self, extra_parts=OPS_PARTS)
        self.function = self._function(
            "Batch",
            recorder,
            code=code,
            handler=c.RECONCILE_HANDLER,
            description="size-recorder reconciliation: check one batch of inventory rows",
            memory_size_mb=props.memory_size_mb,
            timeout=Duration.seconds(props.function_timeout_seconds),
            database=True,
        )
        self._allow(self.function, ["s3:GetObject"], reports_objects)
        heads = self._allow_head(self.function, recorder)
        self.s3_endpoint: ec2.GatewayVpcEndpoint | None = None
        # A recorder that makes its endpoints reaches AWS from its subnets without NAT: S3 too.
        if props.s3_endpoint and recorded.vpc is not None and recorded.vpc_endpoints:
            self.s3_endpoint = self._s3_endpoint(recorded)
        self.summary_function = self._function(
            "Summary",
            recorder,
            code=code,
            handler=c.SUMMARY_HANDLER,
            description="size-recorder reconciliation: add up a run's batches",
            memory_size_mb=SUMMARY_MEMORY_MB,
            timeout=SUMMARY_TIMEOUT,
            database=False,
        )
        self._allow(self.summary_function, ["s3:GetObject"], reports_objects)
        self._allow(self.summary_function, ["s3:GetObject", "s3:PutObject"], results_objects)
        reports_why = (
            "S3 Inventory writes a new manifest and new data files every day under this bucket's"
            " own reports prefix; their names are not known in advance."
        )
        results_why = (
            "Step Functions names each Map Run's result files by the run's ID under the results"
            " prefix; the summary goes beside them."
        )
        _acknowledge_wildcards(
            self.function.role,
            {
                reports_objects: reports_why,
                **{
                    objects: "HEAD on the objects the targets route: the report names any of"
                    " them, and only a HEAD tells a changed object from drift."
                    for objects in heads
                },
            },
        )
        _acknowledge_wildcards(
            self.summary_function.role,
            {reports_objects: reports_why, results_objects: results_why},
        )

        self.log_group = retained_log_group(
            self, "StateMachineLogs", retention_days=recorded.log_retention_days
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                self._definition(props, recorded, reports_objects, results_objects)
            ),
            timeout=RUN_TIMEOUT,
            tracing_enabled=True,
            # Every state's events, without the execution data: rows name the app's objects.
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )
        _acknowledge_wildcards(
            self.state_machine.role,
            {
                reports_objects: f"The ItemReader reads the day's report. {reports_why}",
                results_objects: f"The ResultWriter writes each run's results. {results_why}",
                "*": "Logging to CloudWatch Logs (log delivery) and X-Ray tracing: these actions"
                " support no resource-level permissions.",
                **{
                    f"{function.function_arn}:*": "CDK's LambdaInvoke task grants the function's"
                    " versions and aliases too (ARN:*); the state machine invokes the function."
                    for function in (self.function, self.summary_function)
                },
            },
        )
        self._acknowledge_map_policy()
        self.rule = events.Rule(
            self,
            "ManifestRule",
            description="size-recorder: a new S3 Inventory report of the recorder's bucket",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=[OBJECT_CREATED],
                detail={
                    "bucket": {"name": [destination.bucket_name]},
                    "object": {"key": key_matchers([reports], MANIFEST_SUFFIX)},
                },
            ),
        )
        self.rule.add_target(events_targets.SfnStateMachine(self.state_machine))
        self.alarms = self._alarms(props, recorder)

    # --- the destination bucket and the inventory ---------------------------------------------

    def _destination_bucket(self, recorder: SizeRecorder) -> s3.Bucket:
        """Hardened like the recorder's own, EventBridge on (the manifest's event), its access
        logs beside the recorder bucket's."""
        chosen = recorder.props.bucket_props or {}
        logs_bucket = recorder.access_log_bucket or chosen.get("server_access_logs_bucket")
        return hardened_bucket(
            self,
            "Inventory",
            event_bridge_enabled=True,
            server_access_logs_bucket=logs_bucket,
            server_access_logs_prefix="inventory-access-logs/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(self.props.retention_days))],
        )

    def _configure_inventory(self, recorder: SizeRecorder, source: s3.Bucket) -> None:
        """A daily CSV report of the current versions, with their size and date, limited to the
        targets' prefix when they share one. Current versions only: IsLatest and IsDeleteMarker
        come with every version's row, a report as large as the version history, while a row
        only ever holds its object's current size (a current-only report leaves out objects
        whose current version is a delete marker)."""
        prefixes = filter_prefixes(recorder.props, source)
        source.add_inventory(
            inventory_id=INVENTORY_ID,
            destination=s3.InventoryDestination(
                bucket=self.inventory_destination,
                prefix=self.props.inventory_prefix.strip("/") or None,
            ),
            format=s3.InventoryFormat.CSV,
            frequency=s3.InventoryFrequency.DAILY,
            include_object_versions=s3.InventoryObjectVersion.CURRENT,
            optional_fields=["Size", "LastModifiedDate"],
            objects_prefix=prefixes[0] if len(prefixes) == 1 and prefixes[0] else None,
        )

    # --- the functions ------------------------------------------------------------------------

    def _function(
        self,
        id: str,
        recorder: SizeRecorder,
        *,
        code: lambda_.Code,
        handler: str,
        description: str,
        memory_size_mb: int,
        timeout: Duration,
        database: bool,
    ) -> lambda_.Function:
        """A function on the reconciliation's bundle, with its own role and log group. The batch
        function (`database`) reaches Postgres as the recorder does: the same settings, VPC,
        subnets and security groups, and the same credentials."""
        recorded = recorder.props
        scope = Construct(self, id)
        log_group = retained_log_group(
            scope, "LogGroup", retention_days=recorded.log_retention_days
        )
        role = function_role(scope, description=description, log_group=log_group)
        environment = function_environment(recorded, to_json=Stack.of(self).to_json_string)
        network: dict[str, Any] = {}
        if database:
            environment |= database_environment(recorded)
            if recorded.vpc is not None:
                network = {
                    "vpc": recorded.vpc,
                    "vpc_subnets": recorded.vpc_subnets,
                    # The recorder's groups: whatever lets it reach the database lets this too.
                    "security_groups": recorder.function.connections.security_groups,
                }
                allow_vpc_networking(role)
                acknowledge(role, managed_policy_finding(VPC_ACCESS_POLICY), VPC_ACCESS_WHY)
        function = lambda_.Function(
            scope,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=recorded.architecture,
            handler=handler,
            code=code,
            memory_size=memory_size_mb,
            timeout=timeout,
            role=role,
            log_group=log_group,
            environment=environment,
            **network,
        )
        acknowledge(
            function,
            "AwsSolutions::AwsSolutions-L1",
            f"Pinned to {RUNTIME.name} on purpose, as the recorder's function: the bundle's"
            " compiled wheels (psycopg-binary) are fetched for exactly this Python version.",
        )
        if database:
            grant_database(recorded, function)
        return function

    def _s3_endpoint(self, recorded: SizeRecorderProps) -> ec2.GatewayVpcEndpoint:
        """The batch function reads S3 from the recorder's subnets, whose interface endpoints
        the recorder makes for SQS and Secrets Manager: without NAT, S3 needs its own. A gateway
        endpoint costs nothing and adds a route to each subnet's route table."""
        assert recorded.vpc is not None
        try:
            return ec2.GatewayVpcEndpoint(
                self,
                "S3Endpoint",
                vpc=recorded.vpc,
                service=ec2.GatewayVpcEndpointAwsService.S3,
                # The function's subnets: its selection, or the VPC's default (private) ones.
                subnets=[recorded.vpc_subnets or ec2.SubnetSelection()],
            )
        except RuntimeError as exc:
            # CDK knows an imported subnet's route table only when told it.
            if "route table" not in str(exc):
                raise
            why = (
                "the S3 gateway endpoint adds a route to the route tables of the recorder's"
                " subnets: import the VPC with them (private_subnet_route_table_ids) or each"
                " subnet with its own (Subnet.from_subnet_attributes(route_table_id=...)), or"
                " pass s3_endpoint=False when those route tables already route S3"
            )
            raise SizeRecorderConfigError([Problem(("s3_endpoint", "vpc"), why)]) from exc

    def _allow(self, function: lambda_.Function, actions: list[str], resource: str) -> None:
        assert function.role is not None
        function.role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[resource])
        )

    def _allow_head(self, function: lambda_.Function, recorder: SizeRecorder) -> list[str]:
        """HEAD on the objects the targets route (it needs s3:GetObject), and ListBucket, without
        which S3 answers HEAD on a missing object with 403 instead of 404: the batch would fail
        where it should count the object gone. The objects' ARNs."""
        bucket = recorder.bucket
        objects = [
            bucket.arn_for_objects(f"{prefix}*")
            for prefix in filter_prefixes(recorder.props, bucket)
        ]
        for resource in objects:
            self._allow(function, ["s3:GetObject"], resource)
        self._allow(function, ["s3:ListBucket"], bucket.bucket_arn)
        return objects

    def _acknowledge_map_policy(self) -> None:
        """CDK's own policy for the Distributed Map's child executions, whose ARNs only exist
        once a run starts them."""
        policy = self.state_machine.node.try_find_child("DistributedMapPolicy")
        assert policy is not None, "CDK no longer makes the Distributed Map's policy"
        document = Stack.of(self).resolve(typing.cast(iam.Policy, policy).document)
        _acknowledge_wildcards(
            policy,
            {
                _flatten(resource): "CDK's Distributed Map policy: describe, stop and redrive the"
                " map's child executions, whose ARNs are made when each run starts them."
                for statement in document["Statement"]
                for resource in _as_list(statement["Resource"])
                if "*" in _flatten(resource)
            },
            flattened=True,
        )

    # --- the state machine --------------------------------------------------------------------

    def _definition(
        self,
        props: ReconciliationProps,
        recorded: SizeRecorderProps,
        reports_objects: str,
        results_objects: str,
    ) -> sfn.IChainable:
        given = {
            c.BATCH_MANIFEST_BUCKET: self.inventory_destination.bucket_name,
            f"{c.BATCH_MANIFEST_KEY}.$": "$.detail.object.key",
            c.BATCH_FIX: props.fix,
        }
        batch = tasks.LambdaInvoke(
            self,
            "ReconcileBatch",
            lambda_function=self.function,
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        batch.add_retry(**_retry_keywords(THROTTLE_RETRY))
        batch.add_retry(**_retry_keywords(POSTGRES_RETRY))
        reconcile = sfn.DistributedMap(
            self,
            "Reconcile",
            item_reader=_ScopedManifestReader(
                bucket=self.inventory_destination,
                key=sfn.JsonPath.string_at("$.detail.object.key"),
                objects=reports_objects,
            ),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=props.batch_rows,
                max_input_bytes_per_batch=BATCH_BYTES,
                batch_input=given,
            ),
            max_concurrency=props.max_concurrency or recorded.max_concurrency,
            tolerated_failure_percentage=props.tolerated_failure_percentage,
            result_writer_v2=_ScopedResultWriter(
                bucket=self.inventory_destination,
                prefix=self.results_prefix,
                objects=results_objects,
            ),
            result_path="$.map",
            label="Reconcile",
        )
        reconcile.item_processor(batch)
        summary = tasks.LambdaInvoke(
            self,
            "Summarise",
            lambda_function=self.summary_function,
            payload=sfn.TaskInput.from_object(
                {
                    c.BATCH_MANIFEST_BUCKET: self.inventory_destination.bucket_name,
                    c.BATCH_MANIFEST_KEY: sfn.JsonPath.string_at("$.detail.object.key"),
                    c.BATCH_FIX: props.fix,
                    c.SUMMARY_MAP_RUN: sfn.JsonPath.object_at("$.map"),
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        return reconcile.next(summary)

    # --- alarms -------------------------------------------------------------------------------

    def _alarms(
        self, props: ReconciliationProps, recorder: SizeRecorder
    ) -> dict[str, cloudwatch.Alarm]:
        """One data point per run (the summary's), so each alarm keeps the last run's verdict
        until the next run (missing data is ignored)."""

        def run_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=c.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": c.SERVICE_NAME},  # Powertools' default dimension
                statistic=cloudwatch.Stats.MAXIMUM,
                period=ALARM_PERIOD,
            )

        specs = (
            (
                "ReconcileDrift",
                run_metric(c.METRIC_RECONCILE_DRIFT),
                props.drift_alarm_threshold,
                "Rows disagreed with last night's S3 Inventory report (a lost event or a write"
                " outside the recorder): read the run's summary (docs/operations.md).",
            ),
            (
                "ReconcileBatchesFailed",
                run_metric(c.METRIC_RECONCILE_BATCHES_FAILED),
                1,
                "Batches of last night's reconciliation failed after their retries: their rows"
                " were not checked; the summary quotes the errors.",
            ),
            (
                "ReconciliationFailed",
                self.state_machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
                1,
                "The nightly reconciliation failed outright (too many failed batches, a report"
                " that could not be read, or the run timed out): see its execution.",
            ),
        )
        return topic_alarms(
            self,
            specs,
            topic=recorder.alarm_topic,
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        )


# --- CDK's dataset grants, scoped to the prefixes ---------------------------------------------


class _ScopedManifestReader(sfn.S3ManifestItemReader):
    """The ItemReader, granted s3:GetObject on this bucket's reports only (CDK grants the whole
    destination bucket, which may gather other buckets' reports)."""

    def __init__(self, *, bucket: s3.IBucket, key: str, objects: str) -> None:
        super().__init__(bucket=bucket, key=key)
        self._objects = objects

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._objects])]


class _ScopedResultWriter(sfn.ResultWriterV2):
    """The batches' results as JSON Lines of their outputs, granted the ResultWriter's actions
    under the results prefix only (CDK grants the whole bucket)."""

    def __init__(self, *, bucket: s3.IBucket, prefix: str, objects: str) -> None:
        super().__init__(
            bucket=bucket,
            prefix=prefix,
            writer_config=sfn.WriterConfig(
                output_type=sfn.OutputType.JSONL, transformation=sfn.Transformation.COMPACT
            ),
        )
        self._objects = objects

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload",
                ],
                resources=[self._objects],
            )
        ]


def _retry_keywords(retry: sfn.RetryProps) -> dict[str, Any]:
    return {
        "errors": retry.errors,
        "interval": retry.interval,
        "max_attempts": retry.max_attempts,
        "backoff_rate": retry.backoff_rate,
        "jitter_strategy": retry.jitter_strategy,
    }


def _directory(prefix: str) -> str:
    """`inventory` → `inventory/`; empty stays empty (S3 puts the report at the top)."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


# --- cdk-nag ----------------------------------------------------------------------------------


def _acknowledge_wildcards(
    scope: IConstruct | None, reasons: Mapping[str, str], *, flattened: bool = False
) -> None:
    """Acknowledge AwsSolutions-IAM5 for each wildcard resource in `reasons` (ARNs, tokens
    allowed; `flattened`: already as cdk-nag names them), each with its reason."""
    assert scope is not None
    stack = Stack.of(scope)
    for resource, reason in reasons.items():
        name = resource if flattened else _flatten(stack.resolve(resource))
        acknowledge(scope, f"AwsSolutions::AwsSolutions-IAM5[Resource::{name}]", reason)


def _flatten(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in a finding's ID (its
    flattenCfnReference): `<Logical.Arn>` for GetAtt, `<Logical>` for Ref, joins joined."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in value:
            return _flatten(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in value:
            return _flatten(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{_flatten(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- checks ---------------------------------------------------------------------------------


def validate(props: ReconciliationProps, recorder: SizeRecorder) -> None:
    """Raise `SizeRecorderConfigError` listing every problem."""
    found = problems(props, recorder)
    if found:
        raise SizeRecorderConfigError(found)


def problems(props: ReconciliationProps, recorder: SizeRecorder) -> list[Problem]:
    checks = Checks()
    checks.need(
        recorder.props.bucket is None or props.inventory_destination is not None,
        "inventory_destination",
        why="required for an existing bucket: the bucket its S3 Inventory configuration writes"
        " reports to (with inventory_prefix and inventory_id)",
    )
    for name in ("inventory_prefix", "results_prefix"):
        value = getattr(props, name)
        checks.need(
            not resolved(value) or bool(PLAIN_PREFIX.fullmatch(value)),
            name,
            why=f"{value!r}: only letters, digits and / . _ - (EventBridge matches keys as S3"
            " encodes them in events)",
        )
    results = props.results_prefix.strip("/")
    reports = f"{_directory(props.inventory_prefix)}{recorder.bucket.bucket_name}"
    checks.need(
        not resolved(results, reports)
        or (bool(results) and results != reports and not results.startswith(f"{reports}/")),
        "results_prefix",
        "inventory_prefix",
        why=f"the results need a prefix of their own, outside the bucket's reports ({reports}/):"
        " the results' own manifest.json would start another run",
    )
    ranges: Mapping[str, tuple[int, int]] = {
        "max_concurrency": (1, MAX_MAP_CONCURRENCY),
        "batch_rows": (1, MAX_BATCH_ROWS),
        "tolerated_failure_percentage": (0, 100),
        "function_timeout_seconds": (1, 900),
        "memory_size_mb": (128, 10_240),
        "retention_days": (1, 36_500),
        "drift_alarm_threshold": (1, 2**31 - 1),
    }
    for name, (low, high) in ranges.items():
        value = getattr(props, name)
        checks.need(
            value is None or not resolved(value) or low <= value <= high,
            name,
            why=f"must be {low}..{high}",
        )
    return checks.found


if __name__ == "__main__":
    from size_recorder_cdk.reference import props_table

    print(props_table(ReconciliationProps))
