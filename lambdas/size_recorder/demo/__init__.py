"""`size-recorder demo`: the whole event path on this machine, no AWS account, no Docker.

moto's server stands in for S3 and SQS, pgserver for Postgres (or the server in DATABASE_URL),
and the worker consumes the queue with the same core the Lambda runs. `runner` plays the
scenario, `display` shows it; the CLI (`size_recorder.cli.demo`) only wires them together.
Importing this package is cheap: moto, pgserver and boto3 load when the demo starts.
"""
