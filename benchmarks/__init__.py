"""Benchmarks for size-recorder: each figure next to a baseline measured in the same run.

Not tests: `tests/benchmarks` only proves each one runs at a tiny size. Run them with
`make bench` (`python -m benchmarks`); methods and results are in docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks.context import Bench, Sizes
from benchmarks.environment import postgres
from benchmarks.report import Row

# Figure name → module with `run(bench) -> list[Row]`, in the order the table shows them.
FIGURES = {
    "throughput": "benchmarks.throughput",
    "network": "benchmarks.network",
    "growth": "benchmarks.growth",
    "calls": "benchmarks.calls",
    "coldstart": "benchmarks.coldstart",
    "latency": "benchmarks.latency",
    "backfill": "benchmarks.backfill",
    "reading": "benchmarks.reading",
    "inventory": "benchmarks.inventory",
}
# Run only when named (`--only inventory`): at its full size it builds a 10,000,000-row table and
# report, longer than every other figure together.
OPT_IN = frozenset({"inventory"})
DEFAULT_FIGURES = tuple(name for name in FIGURES if name not in OPT_IN)


def run_benchmarks(
    sizes: Sizes,
    *,
    only: Sequence[str] = DEFAULT_FIGURES,
    database_url: str | None = None,
    moto_endpoint: str | None = None,
    build_asset: bool = True,
    progress: bool = False,
) -> list[Row]:
    """Run the chosen figures against one Postgres (and one moto server); their rows in order.

    The caller keeps AWS pointed at moto only (`isolate_aws`, or the test suite's sandbox).
    """
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        url = database_url or stack.enter_context(postgres())
        bench = Bench(
            sizes=sizes,
            database_url=url,
            stack=stack,
            moto_endpoint=moto_endpoint,
            build_asset=build_asset,
        )
        for name in (n for n in FIGURES if n in only):
            run: Callable[[Bench], list[Row]] = importlib.import_module(FIGURES[name]).run
            started = time.perf_counter()
            rows.extend(run(bench))
            if progress:
                print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows
