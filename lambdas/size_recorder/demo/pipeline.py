"""The demo's bucket → queue → DLQ, configured the way the CDK stack configures them.

The queue settings come from the constants the stack uses (`size_recorder.constants`), so the
demo shows the deployed pipeline's behaviour, not a look-alike. Only the timings that would make
a demo wait for minutes are overridden, all in `DEMO_TIMINGS`, and the demo prints each
override next to the deployed value.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from size_recorder import constants as c
from size_recorder.adapters import sqs as sqs_helpers

# The stack's default `queue_retention_days`; the DLQ keeps messages longer (DLQ_RETENTION_DAYS).
QUEUE_RETENTION_DAYS = 4
_DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Timings:
    """How long failed and unmatched messages wait, and how often they are tried."""

    max_receive_count: int
    visibility_timeout_s: int
    unmatched_retry_base_s: int
    unmatched_retry_max_s: int

    def overrides(self, deployed: Timings) -> list[tuple[str, str, str]]:
        """(setting, deployed value, this value) for every setting that differs."""
        described = [
            ("maxReceiveCount", str(deployed.max_receive_count), str(self.max_receive_count)),
            (
                "queue visibility timeout",
                f"{deployed.visibility_timeout_s} s",
                f"{self.visibility_timeout_s} s",
            ),
            (
                "unmatched retry delay",
                _retry_delays(deployed),
                _retry_delays(self),
            ),
        ]
        return [row for row in described if row[1] != row[2]]


def _retry_delays(timings: Timings) -> str:
    if timings.unmatched_retry_base_s >= timings.unmatched_retry_max_s:
        return f"{timings.unmatched_retry_max_s} s each time"
    return f"{timings.unmatched_retry_base_s} s doubling to {timings.unmatched_retry_max_s} s"


DEPLOYED_TIMINGS = Timings(
    max_receive_count=c.DEFAULT_MAX_RECEIVE_COUNT,
    visibility_timeout_s=c.DEFAULT_VISIBILITY_TIMEOUT_S,
    unmatched_retry_base_s=c.DEFAULT_UNMATCHED_RETRY_BASE_S,
    unmatched_retry_max_s=c.DEFAULT_UNMATCHED_RETRY_MAX_S,
)
# The demo keeps the deployed maxReceiveCount, so a message reaches the DLQ after exactly as
# many deliveries as in production, but retries an unmatched message every second instead of
# after 2, 4, 8 ... s: the DLQ is reached in ~9 s instead of ~4 min. The visibility timeout only
# delays messages that fail for other reasons (none in the demo): 10 s instead of 185 s bounds
# how long a surprise could stall it.
DEMO_TIMINGS = replace(
    DEPLOYED_TIMINGS, visibility_timeout_s=10, unmatched_retry_base_s=1, unmatched_retry_max_s=1
)


@dataclass(frozen=True, slots=True)
class Pipeline:
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def create_pipeline(s3: Any, sqs: Any, *, timings: Timings) -> Pipeline:
    """A hardened bucket, the queue and its DLQ; notifications stay off until `notify`.

    Objects written before `notify` produce no event, exactly like files a bucket already held
    when the recorder was deployed: those are the rows `size-recorder backfill` fills.
    """
    name = f"size-recorder-demo-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq",
        Attributes={
            "MessageRetentionPeriod": str(c.DLQ_RETENTION_DAYS * _DAY_S),
            "SqsManagedSseEnabled": "true",
        },
    )["QueueUrl"]
    dlq_arn = sqs_helpers.queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=f"{name}-events",
        Attributes={
            "MessageRetentionPeriod": str(QUEUE_RETENTION_DAYS * _DAY_S),
            "VisibilityTimeout": str(timings.visibility_timeout_s),
            # SQS-managed SSE: S3 cannot deliver to a queue under the AWS-managed KMS key.
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": timings.max_receive_count}
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs_helpers.queue_arn(sqs, queue_url)
    bucket = name
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    # What s3n.SqsDestination grants: this bucket, and only it, may send to the queue. (The
    # stack's SSL-only statement is left out: the local endpoint speaks plain HTTP.)
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": [
                                "sqs:SendMessage",
                                "sqs:GetQueueAttributes",
                                "sqs:GetQueueUrl",
                            ],
                            "Resource": queue_arn,
                            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
                        }
                    ],
                }
            )
        },
    )
    return Pipeline(bucket, queue_url, queue_arn, dlq_url, dlq_arn)


def notify(s3: Any, pipeline: Pipeline, *, prefix: str) -> None:
    """Send the bucket's ObjectCreated events under `prefix` to the queue (S3 adds a test event)."""
    s3.put_bucket_notification_configuration(
        Bucket=pipeline.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": pipeline.queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
