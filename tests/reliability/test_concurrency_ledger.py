"""Concurrent recorders with the sequencer ledger: each batch upserts the ledger's rows (new
keys inserted, known ones locked) before it locks the table's rows, both in key order, so
overlapping batches wait for each other instead of deadlocking, and every row and every ledger
entry ends with its key's newest event.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable

import psycopg

from size_recorder import constants as c
from size_recorder.core.recorder import Message, Recorder
from tests.reliability.delivery import Delivery, deliver_concurrently
from tests.reliability.postgres import with_index_driven_plan
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env

WORKERS = 4
KEYS = 40  # with rows; as many again without: their removals are acknowledged, row or no row
EVENTS_PER_KEY = 30


def removal_body(key: str, sequencer: str) -> str:
    body = json.loads(s3_body(key, 0, sequencer))
    record = body["Records"][0]
    record["eventName"] = "ObjectRemoved:Delete"
    del record["s3"]["object"]["size"]
    return json.dumps(body)


def test_record_from_concurrent_recorders_with_a_ledger_keeps_the_newest_event_per_key(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """Four recorders each deliver the same 2,400 events (uploads and deletions, 30 per key, 80
    keys of which 40 have no row) in their own shuffled order, in batches of 100: no deadlock,
    every row holds its key's newest event, and the ledger holds every key's newest sequencer."""
    rng = random.Random(13)  # noqa: S311 - reproducible shuffles, not secrets
    rowed = [f"c/{i}" for i in range(KEYS)]
    rowless = [f"gone/{i}" for i in range(KEYS)]
    documents.insert(*rowed)
    ledger = f"{documents.schema}.size_recorder_sequencers"
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {ledger} (bucket text NOT NULL, key text NOT NULL,"
            " sequencer text NOT NULL, seen_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (bucket, key))"
        )
    env = recorder_env(
        documents,
        **{c.ENV_SEQUENCER_COLUMN: "size_sequencer", c.ENV_SEQUENCER_LEDGER: ledger},
    )
    env[c.ENV_DATABASE_URL] = with_index_driven_plan(env[c.ENV_DATABASE_URL])
    messages: list[Message] = []
    newest: dict[str, tuple[str, int | None]] = {}
    for key in rowed + rowless:
        events: list[tuple[str, int | None]] = [
            # Every key's events include removals; a key without a row gets nothing else, so
            # each of its messages is acknowledged and only the ledger records it.
            (f"{rng.randrange(16**16):016X}", None if key in rowless or n % 4 == 0 else n)
            for n in range(EVENTS_PER_KEY)
        ]
        newest[key] = max(events, key=lambda event: event[0])
        messages += [
            Message(
                f"{key}#{n}",
                removal_body(f"media/{key}", seq)
                if size is None
                else s3_body(f"media/{key}", size, seq),
            )
            for n, (seq, size) in enumerate(events)
        ]
    deliveries = [
        Delivery(make_recorder(env), batch_size=100, rng=random.Random(n))  # noqa: S311
        for n in range(WORKERS)
    ]
    deliver_concurrently(deliveries, messages)

    failures = sum(d.failures for d in deliveries)
    reasons = sum((d.reasons for d in deliveries), Counter[str]())
    assert not [reason for reason in reasons if "deadlock" in reason]
    assert {key: documents.row(key) for key in rowed} == {
        key: (size, seq) for key, (seq, size) in newest.items() if key in rowed
    }
    with psycopg.connect(documents.url) as conn:
        ledger_rows = conn.execute(f"SELECT bucket, key, sequencer FROM {ledger}").fetchall()
    assert sorted(ledger_rows) == sorted(
        ("", f"media/{key}", seq) for key, (seq, _) in newest.items()
    )
    print(
        f"\nconcurrency with the ledger: {WORKERS} recorders x {len(messages)} events over"
        f" {2 * KEYS} keys ({KEYS} without a row); {failures} batch-message failures retried"
        f" ({dict(reasons) or 'none'}); every row and ledger entry holds its key's newest event"
    )
