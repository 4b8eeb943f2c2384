"""An in-memory `SizeStore` with the semantics of the Postgres UPDATE, for testing the core.

It mirrors `adapters/postgres/store.py` (`_update_statement`), not the recorder: a write to a key
with no row is MISSING; without a sequencer column every existing row takes the size (UPDATED);
with one, a row takes the write only when it holds no sequencer yet, or when the write carries a
sequencer greater than the row's after right-padding both with zeros (UPDATED, the row keeping
its own sequencer when the write has none); otherwise the row is left alone (UNCHANGED). All
writes of one call apply together or, when the store is set to fail, not at all.
`tests/integration/test_size_store_contract.py` checks it against the real store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from size_recorder.core.config import Target
from size_recorder.core.recorder import SizeWrite, StoreError, WriteStatus


@dataclass(frozen=True, slots=True)
class Row:
    size: int | None = None
    sequencer: str | None = None


@dataclass
class InMemorySizeStore:
    """Rows per target, keyed by name; `error` makes every write raise it instead."""

    rows: dict[Target, dict[str, Row]] = field(default_factory=dict)
    error: StoreError | None = None
    # The `timeout_ms` of every write call, in order: how many round trips, and their budget.
    timeouts_ms: list[int] = field(default_factory=list)
    # The most characters a target's sequencer column holds, as the real store reads it.
    widths: dict[Target, int | None] = field(default_factory=dict)

    def insert(
        self, target: Target, *names: str, size: int | None = None, sequencer: str | None = None
    ) -> None:
        for name in names:
            self.rows.setdefault(target, {})[name] = Row(size, sequencer)

    def sizes(self, target: Target) -> dict[str, int | None]:
        return {name: row.size for name, row in self.rows.get(target, {}).items()}

    def sequencer_widths(self) -> dict[Target, int | None]:
        return self.widths

    def write(
        self, writes: Mapping[Target, Sequence[SizeWrite]], *, timeout_ms: int
    ) -> dict[Target, dict[str, WriteStatus]]:
        self.timeouts_ms.append(timeout_ms)
        if self.error is not None:
            raise self.error
        updated = {target: dict(self.rows.get(target, {})) for target in writes}
        statuses: dict[Target, dict[str, WriteStatus]] = {}
        for target, target_writes in writes.items():
            names = [w.name for w in target_writes]
            # Postgres would join a row to each duplicate and keep an arbitrary one.
            assert len(names) == len(set(names)), f"duplicate names in one write: {names}"
            table = updated[target]
            statuses[target] = {}
            for w in target_writes:
                row = table.get(w.name)
                if row is None:
                    statuses[target][w.name] = WriteStatus.MISSING
                elif target.sequencer_column is None:
                    table[w.name] = Row(w.size, row.sequencer)
                    statuses[target][w.name] = WriteStatus.UPDATED
                elif _guard(row.sequencer, w.sequencer):
                    # SET seq = COALESCE(v.seq, t.seq)
                    sequencer = w.sequencer if w.sequencer is not None else row.sequencer
                    table[w.name] = Row(w.size, sequencer)
                    statuses[target][w.name] = WriteStatus.UPDATED
                else:
                    statuses[target][w.name] = WriteStatus.UNCHANGED
        self.rows.update(updated)
        return statuses


def _guard(current: str | None, candidate: str | None) -> bool:
    """The UPDATE's WHERE on the sequencer column: may `candidate` replace the row's value?"""
    if current is None:
        return True
    if candidate is None:  # an event without a sequencer never beats one with a sequencer
        return False
    width = max(len(current), len(candidate))
    return current.ljust(width, "0") < candidate.ljust(width, "0")
