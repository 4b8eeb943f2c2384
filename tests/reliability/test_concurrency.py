"""Concurrent recorders (several Lambda instances, or workers) writing the same rows: every row
still ends with its newest event, and whatever a collision costs is a retried message.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from urllib.parse import quote

from size_recorder import constants as c
from size_recorder.core.recorder import Message, Recorder
from tests.reliability.delivery import Delivery
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
    # The plan a large table gets: the batch's rows drive the UPDATE through the key index, so
    # rows are met (and, without the store's ordered locks, locked) in each batch's own order.
    env[c.ENV_DATABASE_URL] += "&options=" + quote(
        "-c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off"
    )
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
    errors: list[BaseException] = []

    def work(delivery: Delivery) -> None:
        order = list(messages)
        delivery.rng.shuffle(order)
        try:
            delivery.until_settled(order, max_rounds=20)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    failures = sum(d.failures for d in deliveries)
    reasons = sum((d.reasons for d in deliveries), Counter[str]())
    assert errors == []
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
