"""Names shared by the recorder, the CDK stack, the CLI and the tests.

One module so that a renamed variable or metric cannot drift between the code that reads it and
the infrastructure that sets it.
"""

from __future__ import annotations

from typing import Final

# Environment variables (the configuration table in the README).
ENV_DATABASE_URL: Final = "DATABASE_URL"
ENV_DB_SECRET_ARN: Final = "SIZE_RECORDER_DB_SECRET_ARN"
ENV_TABLE: Final = "SIZE_RECORDER_TABLE"
ENV_KEY_COLUMN: Final = "SIZE_RECORDER_KEY_COLUMN"
ENV_SIZE_COLUMN: Final = "SIZE_RECORDER_SIZE_COLUMN"
ENV_KEY_PREFIX: Final = "SIZE_RECORDER_KEY_PREFIX"
ENV_SEQUENCER_COLUMN: Final = "SIZE_RECORDER_SEQUENCER_COLUMN"
ENV_TARGETS: Final = "SIZE_RECORDER_TARGETS"
# A table of the newest sequencer seen per key, so that a row that takes its name late (inserted,
# replaced or renamed after its key's newest event was consumed) still refuses older events.
ENV_SEQUENCER_LEDGER: Final = "SIZE_RECORDER_SEQUENCER_LEDGER"
ENV_STATEMENT_TIMEOUT_MS: Final = "SIZE_RECORDER_STATEMENT_TIMEOUT_MS"
ENV_CONNECT_TIMEOUT_S: Final = "SIZE_RECORDER_CONNECT_TIMEOUT_S"
ENV_UNMATCHED_RETRY_BASE_S: Final = "SIZE_RECORDER_UNMATCHED_RETRY_BASE_S"
ENV_UNMATCHED_RETRY_MAX_S: Final = "SIZE_RECORDER_UNMATCHED_RETRY_MAX_S"
# IAM database authentication, and the database's address when the credentials do not carry it
# (IAM auth; RDS-managed secrets, which hold only a username and password).
ENV_DB_IAM_USER: Final = "SIZE_RECORDER_DB_IAM_USER"
ENV_DB_HOST: Final = "SIZE_RECORDER_DB_HOST"
ENV_DB_PORT: Final = "SIZE_RECORDER_DB_PORT"
ENV_DB_NAME: Final = "SIZE_RECORDER_DB_NAME"
ENV_DB_SSL_ROOT_CERT: Final = "SIZE_RECORDER_DB_SSL_ROOT_CERT"
# Read, not set: libpq's CA bundle variable and the region Lambda (or the shell) provides.
ENV_PGSSLROOTCERT: Final = "PGSSLROOTCERT"
ENV_AWS_REGION: Final = "AWS_REGION"
ENV_AWS_DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"

DEFAULT_KEY_COLUMN: Final = "file"
DEFAULT_SIZE_COLUMN: Final = "size_bytes"
DEFAULT_STATEMENT_TIMEOUT_MS: Final = 5_000
DEFAULT_CONNECT_TIMEOUT_S: Final = 5
DEFAULT_UNMATCHED_RETRY_BASE_S: Final = 2
DEFAULT_UNMATCHED_RETRY_MAX_S: Final = 300
DEFAULT_DB_PORT: Final = 5432
# What a secret without `dbname` has always connected to: every RDS Postgres has it.
DEFAULT_DB_NAME: Final = "postgres"

# Powertools reads these; the stack sets them and the tests assert them.
SERVICE_NAME: Final = "size-recorder"
METRICS_NAMESPACE: Final = "SizeRecorder"

# One metric per record outcome, plus the messages that were reported failed.
METRIC_RECORDED: Final = "RecordsRecorded"
METRIC_STALE: Final = "RecordsStale"
METRIC_SKIPPED: Final = "RecordsSkipped"
METRIC_UNMATCHED: Final = "RecordsUnmatched"
METRIC_INVALID: Final = "RecordsInvalid"
METRIC_FAILED: Final = "RecordsFailed"
METRIC_MESSAGES_FAILED: Final = "MessagesFailed"
# Of RecordsStale, those the sequencer ledger refused: the row itself would have taken them.
METRIC_STALE_BY_LEDGER: Final = "RecordsStaleByLedger"

# CloudFormation outputs of the stack, read by operators and by `size-recorder replay`.
OUTPUT_BUCKET_NAME: Final = "BucketName"
OUTPUT_QUEUE_URL: Final = "QueueUrl"
OUTPUT_DLQ_URL: Final = "DeadLetterQueueUrl"
OUTPUT_FUNCTION_NAME: Final = "FunctionName"
OUTPUT_ALARM_TOPIC_ARN: Final = "AlarmTopicArn"
# With the nightly reconciliation only: its state machine, the bucket S3 Inventory writes the
# reports to, and the last run's summary there (`size-recorder status` reads it).
OUTPUT_RECONCILE_STATE_MACHINE_ARN: Final = "ReconciliationStateMachineArn"
OUTPUT_INVENTORY_DESTINATION: Final = "InventoryDestinationBucketName"
OUTPUT_RECONCILE_SUMMARY_URL: Final = "ReconciliationSummaryUrl"

HANDLER: Final = "size_recorder.handler.lambda_handler"

# The nightly reconciliation (the stack's Step Functions state machine, ops/reconcile_lambda.py).
RECONCILE_HANDLER: Final = "size_recorder.ops.reconcile_lambda.reconcile_handler"
SUMMARY_HANDLER: Final = "size_recorder.ops.reconcile_lambda.summary_handler"
# What the Distributed Map's ItemBatcher adds to every batch (its BatchInput).
BATCH_MANIFEST_BUCKET: Final = "manifest_bucket"
BATCH_MANIFEST_KEY: Final = "manifest_key"
BATCH_FIX: Final = "fix"
# The summary step's input: the same three, and the Distributed Map's output under this name.
SUMMARY_MAP_RUN: Final = "map_run"
# One data point per run, from the summary step.
METRIC_RECONCILE_ROWS_CHECKED: Final = "ReconcileRowsChecked"
METRIC_RECONCILE_DRIFT: Final = "ReconcileDrift"
METRIC_RECONCILE_FIXED: Final = "ReconcileFixed"
METRIC_RECONCILE_OBJECT_MISSING: Final = "ReconcileObjectMissing"
METRIC_RECONCILE_NEWER: Final = "ReconcileNewerThanReport"
METRIC_RECONCILE_BATCHES_FAILED: Final = "ReconcileBatchesFailed"
# Where a run's summary goes: beside the Map Run's results, and the last one at a fixed key
# under the results prefix (what `size-recorder status` reads).
RECONCILE_SUMMARY_NAME: Final = "summary.json"
RECONCILE_LATEST_NAME: Final = "latest-summary.json"

# Queue settings shared by the CDK stack and the local demo, so both build the same pipeline.
DEFAULT_MAX_RECEIVE_COUNT: Final = 8  # with 2 s doubling retries: ~4 min for a late row
DEFAULT_FUNCTION_TIMEOUT_S: Final = 30
DEFAULT_BATCH_SIZE: Final = 100
DEFAULT_BATCH_WINDOW_S: Final = 5
DEFAULT_MAX_CONCURRENCY: Final = 5  # each concurrent function holds one Postgres connection
# SQS's rule for Lambda sources: visibility >= 6 * function timeout + batching window.
DEFAULT_VISIBILITY_TIMEOUT_S: Final = 6 * DEFAULT_FUNCTION_TIMEOUT_S + DEFAULT_BATCH_WINDOW_S
DLQ_RETENTION_DAYS: Final = 14
