"""`SizeRecorderStack`: the `SizeRecorder` construct configured from CDK context, with outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from size_recorder import constants as c
from size_recorder_cdk.construct import SizeRecorder
from size_recorder_cdk.context import ContextSettings, recorder_props, settings_from_context


class SizeRecorderStack(Stack):
    """One recorder; settings from `settings`, or from the `size-recorder:*` context keys."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: ContextSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        props = recorder_props(self, settings or settings_from_context(self.node))
        self.recorder = SizeRecorder(self, "SizeRecorder", **props)
        # Exactly what operators, `size-recorder replay --dlq-url ...` and `status` need.
        for name, value, description in (
            (
                c.OUTPUT_BUCKET_NAME,
                self.recorder.bucket.bucket_name,
                "Bucket whose uploads are recorded",
            ),
            (c.OUTPUT_QUEUE_URL, self.recorder.queue.queue_url, "Source queue (S3 events)"),
            (
                c.OUTPUT_DLQ_URL,
                self.recorder.dead_letter_queue.queue_url,
                "Dead-letter queue: size-recorder replay --dlq-url",
            ),
            (c.OUTPUT_FUNCTION_NAME, self.recorder.function.function_name, "Recorder function"),
            (
                c.OUTPUT_ALARM_TOPIC_ARN,
                self.recorder.alarm_topic.topic_arn,
                "SNS topic the alarms publish to",
            ),
        ):
            CfnOutput(self, name, value=value, description=description)
        reconciliation = self.recorder.reconciliation
        if reconciliation is None:
            return
        destination = reconciliation.inventory_destination.bucket_name
        summary = f"s3://{destination}/{reconciliation.results_prefix}/{c.RECONCILE_LATEST_NAME}"
        for name, value, description in (
            (
                c.OUTPUT_RECONCILE_STATE_MACHINE_ARN,
                reconciliation.state_machine.state_machine_arn,
                "Nightly reconciliation: aws stepfunctions list-executions --state-machine-arn",
            ),
            (
                c.OUTPUT_INVENTORY_DESTINATION,
                destination,
                "Bucket S3 Inventory writes the reports and the reconciliation its results to",
            ),
            (
                c.OUTPUT_RECONCILE_SUMMARY_URL,
                summary,
                "The last reconciliation's summary: size-recorder status reads it",
            ),
        ):
            CfnOutput(self, name, value=value, description=description)
