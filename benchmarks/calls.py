"""Figure 4: Python function calls per record, counted by cProfile (deterministic, not timed).

Information only, with no target: wall time is what users feel (figures 1-3), and code bent to
lower this count without a wall-time gain in the same run is a defect (issue 12). It still
shows where Python work goes, and moves when a change adds a per-record cost.

One warm invocation of each handler at the profile batch size (100), the whole handler
included: Powertools' decorators, parsing, routing, the write, the response. Calls counted are
cProfile's total (primitive and recursive), divided by the records in the batch.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from typing import Any

from benchmarks.context import Bench
from benchmarks.environment import Batches
from benchmarks.report import Row
from benchmarks.subjects import check_all_recorded, naive_handler, real_handler

FIGURE = "4 calls/record"


def profile(call: Callable[[], Any]) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        call()
    finally:
        profiler.disable()
    return pstats.Stats(profiler)


def calls_per_record(invoke: Callable[[dict[str, Any]], dict[str, Any]], size: int) -> float:
    """Warm the handler up on one batch, then profile the next one."""
    events = Batches(size)
    check_all_recorded(invoke(events.next_event()), "handler")
    event = events.next_event()
    stats = profile(lambda: check_all_recorded(invoke(event), "handler"))
    return float(stats.total_calls) / size  # type: ignore[attr-defined]


def run(bench: Bench) -> list[Row]:
    size = bench.sizes.profile_batch
    with bench.documents() as documents:
        with real_handler(documents) as real:
            real_calls = calls_per_record(real, size)
        with naive_handler(documents) as naive:
            naive_calls = calls_per_record(naive, size)
    return [
        Row(
            figure=FIGURE,
            measure=f"batch {size:,}, whole handler",
            value=real_calls,
            unit="calls",
            higher_is_better=False,
            baseline=naive_calls,
            baseline_label="naive",
            note="information only: cProfile's count, not a time",
        )
    ]
