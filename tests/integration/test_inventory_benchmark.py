"""The inventory benchmark (issue 15's figure) runs at a tiny size and gives its rows; no
timing is asserted. It is opt-in in `make bench`: `python -m benchmarks --only inventory`."""

from __future__ import annotations

import contextlib

import pytest
from benchmarks.context import QUICK, Bench

from benchmarks import inventory


@pytest.mark.slow
def test_inventory_benchmark_runs_at_a_tiny_size(database_url: str, moto_endpoint: str) -> None:
    with contextlib.ExitStack() as stack:
        bench = Bench(
            sizes=QUICK, database_url=database_url, stack=stack, moto_endpoint=moto_endpoint
        )
        rows = inventory.run(bench)

    assert {row.figure for row in rows} == {inventory.FIGURE}
    assert all(row.value is not None and row.value > 0 for row in rows)
    walls = [row for row in rows if row.measure.endswith("wall time")]
    assert len(walls) == 4  # check with 1 and 4 workers, the Parquet check, the backfill
