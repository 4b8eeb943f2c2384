"""Concurrent recorders (several Lambda instances, or workers) writing the same rows: every row
still ends with its newest event, and whatever a collision costs is a retried message.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from size_recorder import constants as c
from size_recorder.core.recorder import Message, Recorder
from tests.reliability.delivery import Delivery, deliver_concurrently
from tests.reliability.postgres import with_index_driven_plan
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env

WORKERS = 4
KEYS = 50
EVENTS_PER_KEY = 40


def test_record_from_concurrent_recorders_keeps_the_newest_event_per_row(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """Four recorders on four connections each deliver the same 2,000 events (40 per key, with
    sequencers) in their own shuffled order and batches of 100, redelivering what fails: no
    batch deadlocks, and every row holds its newest event."""
    rng = random.Random(4)  # noqa: S311 - reproducible shuffles, not secrets
    keys = [f"c/{i}" for i in range(KEYS)]
    documents.insert(*keys)
    env = recorder_env(documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"}
    env[c.ENV_DATABASE_URL] = with_index_driven_plan(env[c.ENV_DATABASE_URL])
    messages, newest = [], {}
    for key in keys:
        events = [
            (f"{rng.randrange(16**16):016X}", rng.randrange(2**40)) for _ in range(EVENTS_PER_KEY)
        ]
        newest[key] = max(events)
        messages += [
            Message(f"{key}#{n}", s3_body(f"media/{key}", size, seq))
            for n, (seq, size) in enumerate(events)
        ]
    deliveries = [
        Delivery(make_recorder(env), batch_size=100, rng=random.Random(n))  # noqa: S311
        for n in range(WORKERS)
    ]
    deliver_concurrently(deliveries, messages)

    failures = sum(d.failures for d in deliveries)
    reasons = sum((d.reasons for d in deliveries), Counter[str]())
    # Before the store took its row locks in key order, batches deadlocked (40P01) here.
    assert not [reason for reason in reasons if "deadlock" in reason]
    assert {key: row for key, row in ((k, documents.row(k)) for k in keys)} == {
        key: (size, seq) for key, (seq, size) in newest.items()
    }
    print(
        f"\nconcurrency: {WORKERS} recorders x {len(messages)} events over {KEYS} keys;"
        f" {failures} batch-message failures retried ({dict(reasons) or 'none'});"
        " every row holds its newest event"
    )
