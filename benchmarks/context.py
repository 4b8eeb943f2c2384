"""How big each benchmark runs, and the shared resources of one run."""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.environment import Documents, documents_table, moto_server


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every size knob in one place: `FULL` for the figures we report, `QUICK` for the tests."""

    batches: tuple[int, ...]
    table_rows: int
    # Figure 2: batch sizes with the database 1 ms away (the naive handler pays ~3 ms a
    # record there, so 10,000 would take half a minute a call), and `SELECT 1`s timed for the RTT.
    rtt_batches: tuple[int, ...]
    rtt_samples: int
    # Figure 3: the batch written, the table sizes it is written to, and calls timed on each.
    growth_batch: int
    growth_rows: tuple[int, ...]
    growth_reps: int
    profile_batch: int
    import_runs: int
    uploads: int
    upload_rate_per_s: float
    backfill_rows: int
    head_sample: int  # rows the head method runs for; its time is extrapolated beyond them
    page: int
    # Repetitions: at least `min_reps`; more while under `budget_s`; none more after `hard_s`.
    min_reps: int
    budget_s: float
    hard_s: float


FULL = Sizes(
    batches=(10, 100, 1_000, 10_000),
    table_rows=100_000,
    rtt_batches=(10, 100, 1_000),
    rtt_samples=500,
    growth_batch=1_000,
    growth_rows=(100_000, 5_000_000),
    growth_reps=31,
    profile_batch=100,
    import_runs=9,
    uploads=1_000,
    upload_rate_per_s=50.0,
    backfill_rows=100_000,
    head_sample=5_000,
    page=100,
    min_reps=5,
    budget_s=5.0,
    hard_s=20.0,
)

QUICK = Sizes(
    batches=(10,),
    table_rows=200,
    rtt_batches=(10,),
    rtt_samples=5,
    growth_batch=10,
    growth_rows=(200, 400),
    growth_reps=1,
    profile_batch=10,
    import_runs=1,
    uploads=5,
    upload_rate_per_s=50.0,
    backfill_rows=20,
    head_sample=20,
    page=5,
    min_reps=1,
    budget_s=0.0,
    hard_s=0.0,
)


@dataclass
class Bench:
    """One run: its sizes, its Postgres, and moto's server once a figure asks for it."""

    sizes: Sizes
    database_url: str
    stack: contextlib.ExitStack
    moto_endpoint: str | None = None
    build_asset: bool = True

    def moto(self) -> str:
        if self.moto_endpoint is None:
            self.moto_endpoint = self.stack.enter_context(moto_server())
        return self.moto_endpoint

    @contextlib.contextmanager
    def documents(self, rows: int | None = None) -> Iterator[Documents]:
        with documents_table(self.database_url, rows or self.sizes.table_rows) as table:
            yield table


def repeat_alternating(
    sizes: Sizes, *subjects: Callable[[], Callable[[], Any]]
) -> list[list[float]]:
    """Seconds per call of each subject, calling them in turn so noise hits them alike.

    A subject prepares its input outside the clock and returns the call to time.
    """
    timings: list[list[float]] = [[] for _ in subjects]
    started = time.perf_counter()
    while True:
        for prepare, times in zip(subjects, timings, strict=True):
            call = prepare()
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        reps = len(timings[0])
        elapsed = time.perf_counter() - started
        if reps >= sizes.min_reps and elapsed >= sizes.budget_s:
            break
        if elapsed >= sizes.hard_s:
            break
    return timings


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 is the 990th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
