"""Figure 1: records per second through the real Lambda handler vs the naive one.

Both handlers get the same SQS events (one S3 ObjectCreated record per message, as S3 sends
them) for rows that exist, on the same table, called in turn. Every call carries new sizes and a
newer sequencer, so every row is really written each time. Time is wall time of the handler
call, event in, `batchItemFailures` out, transaction committed; the figure is the median.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.context import Bench, median, repeat_alternating
from benchmarks.environment import Batches
from benchmarks.report import Row
from benchmarks.subjects import check_all_recorded, naive_handler, real_handler

FIGURE = "1 throughput"
TARGET_BATCH = 1_000
TARGET_RECORDS_PER_S = 20_000
TARGET_SPEEDUP = 20


def run(bench: Bench) -> list[Row]:
    rows: list[Row] = []
    with (
        bench.documents() as documents,
        real_handler(documents, time_writes=True) as real,
        naive_handler(documents) as naive,
    ):
        offset = 0
        for size in bench.sizes.batches:
            events = Batches(size, offset=offset)
            offset += size
            if size == bench.sizes.batches[0]:  # connect and check the table outside the clock
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
            per_record_us = 1e6 / rate
            write_us = median(real.write_seconds) * 1e6 / size
            rows.append(
                Row(
                    figure=FIGURE,
                    measure=f"batch {size:,}",
                    value=rate,
                    unit="records/s",
                    baseline=naive_rate,
                    baseline_label="naive",
                    target=TARGET_RECORDS_PER_S if size == TARGET_BATCH else None,
                    note=(
                        f"median of {len(real_s)} / {len(naive_s)} calls;"
                        f" {per_record_us:.1f} µs/record, Postgres write {write_us:.1f}"
                    ),
                )
            )
            if size == TARGET_BATCH:
                rows.append(
                    Row(
                        figure=FIGURE,
                        measure=f"speed-up over naive, batch {size:,}",
                        value=rate / naive_rate,
                        unit="x",
                        target=TARGET_SPEEDUP,
                    )
                )
    return rows
