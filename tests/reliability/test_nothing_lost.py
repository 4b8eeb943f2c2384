"""The whole promise in one run: an outage long enough to exhaust every retry sends good
messages to the DLQ instead of losing them, and a replay once Postgres is back records every
one of them, while poison messages stay in the DLQ with their reasons.
"""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest
from aws_lambda_powertools import Logger

from size_recorder.adapters.sqs import send
from size_recorder.core.recorder import Recorder
from size_recorder.ops.replay import ReplayMode, replay_dlq
from size_recorder.ops.worker import run_worker
from tests.reliability.poison import bad_bodies
from tests.reliability.postgres import PrivatePostgres
from tests.support.aws import queue_with_dlq, unique
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env


@pytest.mark.slow
def test_worker_outage_sends_messages_to_the_dlq_and_replay_records_them_all(
    moto_endpoint: str,
    private_postgres: PrivatePostgres,
    private_documents: DocumentsTable,
    make_recorder: Callable[..., Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postgres down for the whole retry window: all 60 good messages and 20 bad ones reach the
    DLQ (none acknowledged). Postgres back: a direct replay with the same recorder records all
    60, and exactly the 20 bad ones remain, each with a reason."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    sqs = boto3.client("sqs")
    queues = queue_with_dlq(sqs, unique("outage"), max_receive_count=2, visibility_timeout_s=1)
    url, dlq_url = queues.url, queues.dlq_url
    good = {f"o/{i}": 500 + i for i in range(60)}
    private_documents.insert(*good)
    bad = bad_bodies(20, for_sqs=True)
    bodies = [s3_body(f"media/{key}", size) for key, size in good.items()] + bad
    assert send(sqs, url, bodies) == []
    recorder = make_recorder(recorder_env(private_documents))
    logger = Logger(service="size-recorder-tests", level="ERROR")

    private_postgres.stop()
    try:
        during = run_worker(
            recorder=recorder,
            client=sqs,
            queue_url=url,
            logger=logger,
            batch_size=10,
            wait_seconds=2,
            exit_when_empty=True,
        )
    finally:
        private_postgres.start()
    assert during.deleted == 0
    assert set(private_documents.sizes().values()) == {None}

    replayed = replay_dlq(
        client=sqs, dlq_url=dlq_url, mode=ReplayMode.DIRECT, recorder=recorder, wait_seconds=1
    )

    assert replayed.recorded == len(good)
    assert len(replayed.still_failing) == len(bad)
    assert all(f.reason.startswith("invalid: ") for f in replayed.still_failing)
    assert private_documents.sizes() == good
    print(
        f"\noutage to DLQ to replay: {len(bodies)} messages, {during.messages} deliveries during"
        f" the outage, 0 acknowledged; replay recorded {replayed.recorded}, left"
        f" {len(replayed.still_failing)} bad ones in the DLQ with reasons; 0 rows wrong or lost"
    )
