"""Property: however events are grouped into bodies and batches, the rows end as if each key's
events had been applied one by one in sequencer order."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from size_recorder.core.config import Settings, Target
from size_recorder.core.recorder import Message, Recorder
from tests.support.events import s3_record
from tests.unit.fake_store import InMemorySizeStore

TARGET = Target(table=("documents_document",), sequencer_column="size_sequencer", prefix="media/")
NAMES = ("a.pdf", "b c.pdf", "d+e.pdf")  # few keys, so events collide; two need decoding
T = TypeVar("T")
# Wider than any drawn sequencer: padding both sides to it compares them as S3 says to.
WIDTH = 8


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    size: int
    sequencer: str | None


@st.composite
def events(draw: st.DrawFn) -> list[Event]:
    drawn = draw(
        st.lists(
            st.tuples(
                st.sampled_from(NAMES),
                st.integers(min_value=0, max_value=2**40),
                # Few hex digits, short: equal, padded-equal and prefix sequencers come up often.
                st.none() | st.text(alphabet="019AF", min_size=1, max_size=6),
            ),
            min_size=1,
            max_size=20,
        )
    )
    # One sequencer is one S3 event: a repeat (equal once right-padded) is a duplicate delivery
    # and carries the same size.
    first_size: dict[tuple[str, str], int] = {}
    found = []
    for name, size, sequencer in drawn:
        if sequencer is not None:
            size = first_size.setdefault((name, sequencer.rstrip("0")), size)
        found.append(Event(name, size, sequencer))
    return found


def bodies_and_batches(
    found: list[Event], body_cuts: list[int], batch_cuts: list[int]
) -> list[list[str]]:
    """The events as S3 bodies (several records each, cut where told), then as batches."""
    bodies = [
        json.dumps(
            {
                "Records": [
                    s3_record(quote_plus(f"media/{e.name}", safe="/"), e.size, e.sequencer)
                    for e in chunk
                ]
            }
        )
        for chunk in _cut(found, body_cuts)
    ]
    return _cut(bodies, batch_cuts)


def _cut(items: list[T], cuts: list[int]) -> list[list[T]]:
    edges = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
    return [items[a:b] for a, b in itertools.pairwise(edges)]


def one_by_one(found: list[Event]) -> dict[str, int | None]:
    """The reference: per key, the size of the newest sequenced event; a key with none has the
    size of its last event (an event without a sequencer never beats one with a sequencer)."""
    final: dict[str, int | None] = dict.fromkeys(NAMES)
    for name in NAMES:
        own = [e for e in found if e.name == name]
        sequenced = [e for e in own if e.sequencer is not None]
        if sequenced:
            final[name] = max(sequenced, key=lambda e: (e.sequencer or "").ljust(WIDTH, "0")).size
        elif own:
            final[name] = own[-1].size
    return final


@settings(max_examples=100, deadline=None)
@given(
    found=events(),
    body_cuts=st.lists(st.integers(min_value=0, max_value=20), max_size=8),
    batch_cuts=st.lists(st.integers(min_value=0, max_value=20), max_size=4),
)
def test_batches_leave_each_row_with_its_newest_event(
    found: list[Event], body_cuts: list[int], batch_cuts: list[int]
) -> None:
    store = InMemorySizeStore()
    store.insert(TARGET, *NAMES)
    recorder = Recorder(Settings(targets=(TARGET,), database_url="postgresql://unused"), store)
    for batch_bodies in bodies_and_batches(found, body_cuts, batch_cuts):
        batch = recorder.record([Message(f"m{i}", b) for i, b in enumerate(batch_bodies)])
        assert batch.failed == (), [m.reason() for m in batch.failed]
    assert store.sizes(TARGET) == one_by_one(found)
