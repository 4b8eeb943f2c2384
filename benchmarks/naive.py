"""BASELINE ONLY, not part of size-recorder: the handler most tutorials show.

For each SQS record: parse the body, and for each S3 record run one UPDATE and commit. It is
correct enough for a demo (it even reports failed messages), and it is what the real handler
(`size_recorder.handler.lambda_handler`) is measured against. It has no sequencer guard, no
routing, no metrics, no unmatched handling: it is cheaper per line of code, dearer per record.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote_plus

import psycopg


class NaiveHandler:
    """`handler(event, context)` writing one row per statement, one transaction per record."""

    def __init__(self, table: str, prefix: str) -> None:
        self._update = f"UPDATE {table} SET size_bytes = %s WHERE file = %s"
        self._prefix = prefix
        self._conn: psycopg.Connection[Any] | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self._conn is None:  # the tutorial's "connect outside the handler", done lazily
            self._conn = psycopg.connect(os.environ["DATABASE_URL"])
        failures = []
        for record in event["Records"]:
            try:
                body = json.loads(record["body"])
                for s3_record in body.get("Records", []):
                    obj = s3_record["s3"]["object"]
                    key = unquote_plus(obj["key"]).removeprefix(self._prefix)
                    with self._conn.cursor() as cursor:
                        cursor.execute(self._update, (obj["size"], key))
                    self._conn.commit()
            except Exception:
                self._conn.rollback()
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
