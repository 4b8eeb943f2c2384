"""Adapters to the outside world (Postgres, SQS, S3, Secrets Manager, logs and metrics).

Used by the Lambda and by the operator tools alike; the only code that imports psycopg, boto3
or Powertools' utilities.
"""
