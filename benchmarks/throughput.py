"""Figure 1: records per second through the real Lambda handler vs the naive one, local socket.

Both handlers get the same SQS events (one S3 ObjectCreated record per message, as S3 sends
them) for rows that exist, on the same table, called in turn. Every call carries new sizes and a
newer sequencer, so every row is really written each time. Time is wall time of the handler
call, event in, `batchItemFailures` out, transaction committed; the figure is the median.
Figure 2 (benchmarks/network.py) runs the same comparison with the database 1 ms away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from benchmarks.context import Bench, median, repeat_alternating
from benchmarks.environment import Batches, Documents
from benchmarks.report import Row
from benchmarks.subjects import check_all_recorded, naive_handler, real_handler

FIGURE = "1 throughput, local socket"
# Issue 7's targets for this machine, on the local socket.
TARGET_BATCH = 1_000
TARGET_RECORDS_PER_S = 20_000
TARGET_SPEEDUP = 20


def compare(
    bench: Bench,
    documents: Documents,
    batches: Sequence[int],
    *,
    figure: str,
    targets: Mapping[int, float] | None = None,
) -> dict[int, Row]:
    """Batch size → its row: the real handler's records/s against the naive one's."""
    rows: dict[int, Row] = {}
    with real_handler(documents, time_writes=True) as real, naive_handler(documents) as naive:
        offset = 0
        for size in batches:
            events = Batches(size, offset=offset)
            offset += size
            if size == batches[0]:  # connect and check the table outside the clock
                check_all_recorded(real(events.next_event()), "the real handler")
                check_all_recorded(naive(events.next_event()), "the naive handler")

            def prepare_real(events: Batches = events) -> Callable[[], None]:
                event = events.next_event()
                return lambda: check_all_recorded(real(event), "the real handler")

            def prepare_naive(events: Batches = events) -> Callable[[], None]:
                event = events.next_event()
                return lambda: check_all_recorded(naive(event), "the naive handler")

            real.write_seconds.clear()
            real_s, naive_s = repeat_alternating(bench.sizes, prepare_real, prepare_naive)
            rate, naive_rate = size / median(real_s), size / median(naive_s)
            write_us = median(real.write_seconds) * 1e6 / size
            rows[size] = Row(
                figure=figure,
                measure=f"batch {size:,}",
                value=rate,
                unit="records/s",
                baseline=naive_rate,
                baseline_label="naive",
                target=(targets or {}).get(size),
                note=(
                    f"median of {len(real_s)} / {len(naive_s)} calls;"
                    f" {1e6 / rate:.1f} µs/record, Postgres write {write_us:.1f}"
                ),
            )
    return rows


def run(bench: Bench) -> list[Row]:
    with bench.documents() as documents:
        by_batch = compare(
            bench,
            documents,
            bench.sizes.batches,
            figure=FIGURE,
            targets={TARGET_BATCH: TARGET_RECORDS_PER_S},
        )
    rows = list(by_batch.values())
    at_target = by_batch.get(TARGET_BATCH)
    if at_target is not None and at_target.ratio is not None:
        rows.insert(
            rows.index(at_target) + 1,
            Row(
                figure=FIGURE,
                measure=f"speed-up over naive, batch {TARGET_BATCH:,}",
                value=at_target.ratio,
                unit="x",
                target=TARGET_SPEEDUP,
            ),
        )
    return rows
