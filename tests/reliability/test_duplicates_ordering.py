"""Duplicates and ordering: SQS delivers at least once and S3 in no particular order, yet every
row ends with the size of its newest event, however the messages were batched or repeated.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from size_recorder import constants as c
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env

COUNT = 10_000


def rows(table: DocumentsTable) -> dict[str, tuple[int | None, str | None]]:
    """file → (size_bytes, size_sequencer): the whole observable state of the table."""
    with psycopg.connect(table.url) as conn:
        found = conn.execute(
            f"SELECT file, size_bytes, size_sequencer FROM {table.qualified}"
        ).fetchall()
    return {file: (size, seq) for file, size, seq in found}


def deliver(recorder: Recorder, messages: list[Message], rng: random.Random) -> Counter[Outcome]:
    """Every message once, shuffled, in batches of random size (1-250); all must be acked."""
    shuffled = list(messages)
    rng.shuffle(shuffled)
    counts: Counter[Outcome] = Counter()
    start = 0
    while start < len(shuffled):
        size = rng.randint(1, 250)
        batch = recorder.record(shuffled[start : start + size])
        assert batch.failed == ()
        counts.update(batch.counts())
        start += size
    return counts


def padded(sequencer: str, width: int = 64) -> str:
    """The S3 User Guide's order: right-pad with zeros, compare as strings."""
    return sequencer.upper().ljust(width, "0")


def test_record_delivered_twice_in_shuffled_order_leaves_identical_rows(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """10,000 messages, then the same 10,000 again in another order and other batches: the
    table after the second delivery is exactly the table after the first, and both are right."""
    rng = random.Random(10_000)  # noqa: S311 - reproducible shuffles, not secrets
    documents.insert(*(f"d/{i}" for i in range(COUNT)))
    recorder = make_recorder(recorder_env(documents))
    sizes = {f"d/{i}": rng.randrange(2**40) for i in range(COUNT)}
    messages = [
        Message(f"m{i}", s3_body(f"media/{key}", size))
        for i, (key, size) in enumerate(sizes.items())
    ]

    first_counts = deliver(recorder, messages, rng)
    first = rows(documents)
    second_counts = deliver(recorder, messages, rng)
    second = rows(documents)

    assert first == second
    assert {key: size for key, (size, _) in second.items()} == sizes
    assert first_counts == second_counts == {Outcome.RECORDED: COUNT}
    print(f"\nduplicates: {2 * COUNT} deliveries of {COUNT} messages, 0 rows differ, 0 wrong")


def test_record_keeps_the_newest_event_whatever_the_order_and_repetition(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """With a sequencer column: 10,000 messages over 2,000 keys (five events each, sequencers of
    different lengths), delivered twice in shuffled order: each row holds its newest event."""
    rng = random.Random(2_000)  # noqa: S311 - reproducible shuffles, not secrets
    keys = [f"s/{i}" for i in range(COUNT // 5)]
    documents.insert(*keys)
    recorder = make_recorder(recorder_env(documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"})
    messages, newest = [], {}
    for key in keys:
        base = rng.randrange(16**12)
        events = []
        for step in range(5):
            # Sequencers grow per key; some carry extra trailing digits (a longer string).
            sequencer = f"{base + step * 7:014X}" + ("" if rng.random() < 0.5 else "A1")
            events.append((sequencer, rng.randrange(2**40)))
        newest[key] = max(events, key=lambda e: padded(e[0]))
        messages += [
            Message(f"{key}#{n}", s3_body(f"media/{key}", size, sequencer))
            for n, (sequencer, size) in enumerate(events)
        ]

    first_counts = deliver(recorder, messages, rng)
    first = rows(documents)
    second_counts = deliver(recorder, messages, rng)
    second = rows(documents)

    assert first == second
    assert second == {key: (size, seq) for key, (seq, size) in newest.items()}
    assert second_counts == {Outcome.STALE: COUNT}  # the second time, nothing was newer
    print(
        f"\nordering: {2 * COUNT} deliveries over {len(keys)} keys; first pass"
        f" {first_counts[Outcome.RECORDED]} recorded / {first_counts[Outcome.STALE]} stale,"
        " every row holds its newest event"
    )


# Sequencers: hex of 1-20 digits. Two that are equal once right-padded are the same event.
sequencers = st.text(alphabet="0123456789ABCDEFabcdef", min_size=1, max_size=20)


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[list[tuple[int, str, int]], list[int]]:
    """(events as (key index, sequencer, size), batch sizes): a random delivery of the events
    for up to three keys, with duplicates, in a random order and random batches."""
    events: list[tuple[int, str, int]] = []
    for key in range(draw(st.integers(1, 3))):
        for sequencer in draw(st.lists(sequencers, min_size=1, max_size=6)):
            # An event's size is a function of its (padded) sequencer: equal means duplicate.
            size = int(padded(sequencer).rstrip("0") or "0", 16) % 1_000_003
            events.append((key, sequencer, size))
    events += draw(st.lists(st.sampled_from(events), max_size=4))  # redeliveries
    order = draw(st.permutations(events))
    cuts = draw(st.lists(st.integers(1, 5), min_size=len(order), max_size=len(order)))
    return order, cuts


@pytest.mark.slow
def test_record_final_size_is_the_newest_events_for_any_interleaving(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """Hypothesis over interleavings, duplicates, batch boundaries and sequencers of equal and
    different lengths: the final row always holds the newest event's size and sequencer."""
    recorder = make_recorder(recorder_env(documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"})
    tried = Counter[str]()

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(stream=event_streams())
    def check(stream: tuple[list[tuple[int, str, int]], list[int]]) -> None:
        order, cuts = stream
        prefix = uuid.uuid4().hex[:8]
        names = sorted({f"{prefix}/{key}" for key, _, _ in order})
        documents.insert(*names)
        messages = [
            Message(f"e{n}", s3_body(f"media/{prefix}/{key}", size, seq))
            for n, (key, seq, size) in enumerate(order)
        ]
        position = 0
        for cut in cuts:
            if position >= len(messages):
                break
            assert recorder.record(messages[position : position + cut]).failed == ()
            position += cut
            tried["batches"] += 1
        tried["events"] += len(order)
        tried["examples"] += 1
        for key in {key for key, _, _ in order}:
            events = [(seq, size) for k, seq, size in order if k == key]
            newest = max(events, key=lambda e: padded(e[0]))
            size, stored = documents.row(f"{prefix}/{key}")
            assert size == newest[1]
            assert stored is not None
            assert padded(stored) == padded(newest[0])

    check()
    print(
        f"\nordering property: {tried['examples']} interleavings, {tried['events']} events in"
        f" {tried['batches']} batches, final size always the newest event's"
    )


@st.composite
def mixed_streams(draw: st.DrawFn) -> tuple[list[tuple[str | None, int]], list[int]]:
    """Events for one key, some without a sequencer (moto, hand-made replays), in a random
    order and random batches; each event's size is unique."""
    sequenced = draw(st.lists(sequencers, max_size=4, unique_by=lambda s: padded(s)))
    unsequenced = draw(st.integers(0, 3))
    events: list[tuple[str | None, int]] = [(s, n) for n, s in enumerate(sequenced)]
    events += [(None, 100 + n) for n in range(unsequenced)]
    if not events:
        events = [(None, 100)]
    order = draw(st.permutations(events))
    cuts = draw(st.lists(st.integers(1, 4), min_size=len(order), max_size=len(order)))
    return order, cuts


def test_record_event_without_sequencer_never_overrides_a_sequenced_one_in_any_batching(
    documents: DocumentsTable, make_recorder: Callable[..., Recorder]
) -> None:
    """An event without a sequencer carries no order, so it never counts as newer than one that
    has it (`events.is_newer`). Inside one batch that always held; across batches the UPDATE let
    it overwrite the size, so the final row depended on how SQS happened to batch."""
    recorder = make_recorder(recorder_env(documents) | {c.ENV_SEQUENCER_COLUMN: "size_sequencer"})

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stream=mixed_streams())
    def check(stream: tuple[list[tuple[str | None, int]], list[int]]) -> None:
        order, cuts = stream
        name = uuid.uuid4().hex[:12]
        documents.insert(name)
        messages = [
            Message(f"e{n}", s3_body(f"media/{name}", size, seq))
            for n, (seq, size) in enumerate(order)
        ]
        position = 0
        for cut in cuts:
            if position < len(messages):
                assert recorder.record(messages[position : position + cut]).failed == ()
            position += cut
        sequenced = [(seq, size) for seq, size in order if seq is not None]
        # With no sequencer at all there is no order: the last one delivered wins.
        expected = max(sequenced, key=lambda e: padded(e[0]))[1] if sequenced else order[-1][1]
        assert documents.row(name)[0] == expected

    check()
