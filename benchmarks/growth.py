"""Figure 3: what a batch of 1,000 costs as the table grows, 100,000 rows against 5,000,000.

Each table is built once per run as `Bench.documents` builds every table (one
`INSERT ... SELECT generate_series`, the key column's index as Django creates it, VACUUM
ANALYZE), and the build is timed and shown. The real handler then writes batches of 1,000
existing keys drawn at random, each call with new sizes and a newer sequencer, on the local
socket; the figure is the median handler call (event in, transaction committed), with the
store's write, the Postgres side, in the note. The tables are measured one after the other,
the larger one's baseline being the smaller one, so the ratio says how the cost grows.
"""

from __future__ import annotations

import time

import psycopg

from benchmarks.context import Bench, median
from benchmarks.environment import Documents, RandomBatches
from benchmarks.report import Row
from benchmarks.subjects import check_all_recorded, real_handler

FIGURE = "3 cost vs table size"
WARM_UP_CALLS = 2  # the first connects and checks the table; neither is timed


def run(bench: Bench) -> list[Row]:
    batch = bench.sizes.growth_batch
    builds: list[Row] = []
    writes: list[Row] = []
    for rows in bench.sizes.growth_rows:
        started = time.perf_counter()
        with bench.documents(rows=rows) as documents:
            built_s = time.perf_counter() - started
            builds.append(
                Row(
                    figure=FIGURE,
                    measure=f"build a {rows:,}-row table",
                    value=built_s,
                    unit="s",
                    higher_is_better=False,
                    note=f"{_on_disk(documents)}; INSERT … generate_series, index, VACUUM ANALYZE",
                )
            )
            call_s, write_s = _batch_seconds(bench, documents, batch)
        smallest = writes[0].value if writes else None
        writes.append(
            Row(
                figure=FIGURE,
                measure=f"batch {batch:,}, {rows:,}-row table",
                value=median(call_s) * 1000,
                unit="ms",
                higher_is_better=False,
                baseline=smallest,
                baseline_label=f"{bench.sizes.growth_rows[0]:,} rows",
                note=(
                    f"median of {len(call_s)} calls; Postgres write {median(write_s) * 1000:.1f} ms"
                ),
            )
        )
    return [*writes, *builds]


def _batch_seconds(
    bench: Bench, documents: Documents, batch: int
) -> tuple[list[float], list[float]]:
    """Seconds of each timed handler call, and of the store's write within each."""
    events = RandomBatches(batch, rows=documents.rows)
    calls: list[float] = []
    with real_handler(documents, time_writes=True) as real:
        for _ in range(WARM_UP_CALLS):
            check_all_recorded(real(events.next_event()), "the real handler")
        real.write_seconds.clear()
        for _ in range(bench.sizes.growth_reps):
            event = events.next_event()
            started = time.perf_counter()
            response = real(event)
            calls.append(time.perf_counter() - started)
            check_all_recorded(response, "the real handler")
        return calls, list(real.write_seconds)


def _on_disk(documents: Documents) -> str:
    with psycopg.connect(documents.url) as conn:
        row = conn.execute(
            "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)",
            (documents.qualified, documents.qualified),
        ).fetchone()
    assert row is not None
    table, indexes = row
    return f"table {table / 1e6:,.0f} MB, indexes {indexes / 1e6:,.0f} MB"
