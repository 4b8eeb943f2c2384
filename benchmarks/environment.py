"""What every benchmark runs against: one Postgres, one moto server, one Django-shaped table.

Everything is local: an embedded Postgres (pgserver in a temporary directory) unless
`DATABASE_URL` is set, and moto's server on 127.0.0.1. A figure and its baseline always use the
same database in the same run, so their ratio holds on a noisy machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

if TYPE_CHECKING:
    import psycopg

REPO = Path(__file__).resolve().parent.parent
EVENT_TEMPLATE = REPO / "tests" / "events" / "s3_put.json"
# django-storages' AWS_LOCATION plus "/": the recorder strips it, the row holds the rest.
KEY_PREFIX = "media/"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:size-recorder-bench"


def isolate_aws() -> None:
    """No benchmark may find real credentials: moto on 127.0.0.1 is the only AWS here."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's dummy credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        POWERTOOLS_SERVICE_NAME="size-recorder",
        POWERTOOLS_METRICS_NAMESPACE="SizeRecorderBench",
    )


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """`DATABASE_URL` when set, otherwise an embedded server in a temp dir for this run."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    # pgserver keeps a lock file under $XDG_RUNTIME_DIR: give it a private one, before import.
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="size-recorder-bench-xdg-")
    import pgserver

    datadir = tempfile.mkdtemp(prefix="size-recorder-bench-pg-")
    server = pgserver.get_server(datadir, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1; its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


# Digits in a benchmark object's number: the largest table (figure 3) has 5,000,000 rows.
NAME_DIGITS = 7


def object_name(index: int) -> str:
    """The name a Django FileField stores for benchmark object `index` (no KEY_PREFIX)."""
    return f"uploads/doc-{index:0{NAME_DIGITS}}.pdf"


@dataclass(frozen=True, slots=True)
class Documents:
    """A `documents_document` table in a schema of its own, filled with `rows` NULL sizes."""

    url: str
    schema: str
    rows: int
    name: str = "documents_document"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def recorder_env(self) -> dict[str, str]:
        """The variables the Lambda and the worker read, pointed at this table."""
        return {
            "DATABASE_URL": self.url,
            "SIZE_RECORDER_TABLE": self.qualified,
            "SIZE_RECORDER_KEY_PREFIX": KEY_PREFIX,
            "SIZE_RECORDER_SEQUENCER_COLUMN": "size_sequencer",
        }

    def recorded(self, names: list[str]) -> dict[str, int | None]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                f"SELECT file, size_bytes FROM {self.qualified} WHERE file = ANY(%s)", (names,)
            )
            return dict(rows.fetchall())

    def clear_sizes(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"UPDATE {self.qualified} SET size_bytes = NULL, size_sequencer = NULL")
            conn.execute(f"VACUUM {self.qualified}")


def create_unindexed_table(conn: psycopg.Connection[Any], table: Documents) -> None:
    """`table`'s schema and the demo's `documents_document` in it (size_recorder.demo.database),
    with room for any name (`file varchar(1024)`, `size_sequencer text`) and the app's other
    column, a title, which reading.py serializes; no index yet: callers fill the table first."""
    from size_recorder.demo.database import create_documents_table

    conn.execute(f"CREATE SCHEMA {table.schema}")
    create_documents_table(
        conn,
        table.schema,
        table.name,
        file_max_length=1024,
        sequencer_max_length=None,
        index=False,
    )
    conn.execute(f"ALTER TABLE {table.qualified} ADD COLUMN title varchar(200) NOT NULL DEFAULT ''")


@contextlib.contextmanager
def documents_table(url: str, rows: int) -> Iterator[Documents]:
    """A fresh Django-shaped table, dropped after.

    Filled in one statement (5,000,000 rows take seconds), then the key column's index, as
    `models.Index(fields=["file"])` creates it (docs/django.md), built over the filled table;
    VACUUM then leaves it as a table that has lived: hint bits set, visibility map and
    statistics current, so the first batches do not pay for the bulk load.
    """
    import psycopg

    from size_recorder.demo.database import create_file_index

    table = Documents(url=url, schema=f"bench_{uuid.uuid4().hex[:10]}", rows=rows)
    with psycopg.connect(url, autocommit=True) as conn:
        create_unindexed_table(conn, table)
        conn.execute(
            f"INSERT INTO {table.qualified} (file)"
            " SELECT 'uploads/doc-' || lpad(i::text, %s, '0') || '.pdf'"
            " FROM generate_series(0, %s) AS i",
            (NAME_DIGITS, rows - 1),
        )
        create_file_index(conn, table.schema, table.name)
        conn.execute(f"VACUUM ANALYZE {table.qualified}")
    try:
        yield table
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {table.schema} CASCADE")


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set variables for the duration, then restore what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def s3_body(name: str, size: int, sequencer: str) -> str:
    """An S3 ObjectCreated notification for one object, shaped like AWS's own example."""
    event = json.loads(EVENT_TEMPLATE.read_text(encoding="utf-8"))
    obj = event["Records"][0]["s3"]["object"]
    obj.update(key=quote_plus(KEY_PREFIX + name, safe="/"), size=size, sequencer=sequencer)
    return json.dumps(event)


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    """The event Lambda's SQS event source hands the function for these message bodies."""
    return {
        "Records": [
            {
                "messageId": f"00000000-0000-4000-8000-{i:012}",
                "receiptHandle": f"bench-receipt-{i}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764057600000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1764057600001",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


@dataclass
class LambdaContext:
    """What Lambda passes as `context`: plenty of time left, as in a healthy invocation."""

    function_name: str = "size-recorder"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:size-recorder"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    deadline: float = field(default_factory=lambda: time.monotonic() + 900)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


class Batches:
    """SQS events for `size` distinct rows, each call newer than the last (new size, sequencer).

    Every invocation must really change its rows: with the same size and sequencer again the
    recorder would find them unchanged and skip the write, which would flatter it.
    """

    def __init__(self, size: int, *, offset: int = 0) -> None:
        self._fixed = [object_name(offset + i) for i in range(size)]
        self._round = 0

    def next_event(self) -> dict[str, Any]:
        self._round += 1
        sequencer = f"{0x0055AED6DCD9000000 + self._round:018X}"
        return sqs_event([s3_body(name, 1000 + self._round, sequencer) for name in self._names()])

    def _names(self) -> list[str]:
        return self._fixed


class RandomBatches(Batches):
    """Each call names `size` other existing rows, drawn at random from the table's `rows`.

    Uploads land anywhere in a real table, so a batch's rows are rarely neighbours: each one is
    an index descent and a heap page of its own, which is where a larger table costs more.
    """

    def __init__(self, size: int, *, rows: int, seed: int = 12) -> None:
        super().__init__(0)
        self._size = size
        self._rows = rows
        self._random = random.Random(seed)

    def _names(self) -> list[str]:
        return [object_name(i) for i in self._random.sample(range(self._rows), self._size)]


@contextlib.contextmanager
def quiet_powertools(logger: Any) -> Iterator[None]:
    """Send a Powertools Logger's lines to /dev/null: the table is what this run prints.

    The handler still formats and writes every line, as it does to CloudWatch in Lambda.
    """
    previous = logger.registered_handler.setStream(_devnull())
    try:
        yield
    finally:
        logger.registered_handler.setStream(previous)


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Powertools Metrics prints its EMF blob with print(); written, then discarded."""
    with contextlib.redirect_stdout(_devnull()):
        yield


_DEVNULL: list[Any] = []


def _devnull() -> Any:
    if not _DEVNULL:
        _DEVNULL.append(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives for the process
    return _DEVNULL[0]


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
