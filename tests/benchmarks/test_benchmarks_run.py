"""Each benchmark runs once at a tiny size and produces its rows; no timing is asserted.

The figures themselves come from `make bench` (docs/benchmarks.md); this only proves that the
code behind them still works against the suite's Postgres and moto server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.__main__ import main
from benchmarks.context import QUICK
from benchmarks.report import Row

from benchmarks import FIGURES, run_benchmarks


@pytest.mark.parametrize("figure", list(FIGURES))
def test_benchmark_runs_at_a_tiny_size(figure: str, database_url: str, moto_endpoint: str) -> None:
    rows = run_benchmarks(
        QUICK,
        only=[figure],
        database_url=database_url,
        moto_endpoint=moto_endpoint,
        build_asset=False,
    )
    assert rows
    assert all(isinstance(row, Row) and row.value is not None for row in rows)


@pytest.mark.slow
def test_benchmark_builds_and_weighs_the_lambda_asset(
    database_url: str, moto_endpoint: str
) -> None:
    rows = run_benchmarks(
        QUICK, only=["coldstart"], database_url=database_url, moto_endpoint=moto_endpoint
    )
    asset = next(row for row in rows if row.measure.startswith("Lambda asset"))
    assert asset.value is not None
    assert asset.value > 0


def test_benchmarks_main_prints_one_table_and_writes_the_same_figures_as_json(
    database_url: str,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "latest.json"

    assert main(["--quick", "--only", "calls", "--json", str(out), "--no-asset"]) == 0

    figures = json.loads(out.read_text(encoding="utf-8"))
    assert [row["figure"] for row in figures["rows"]] == ["4 calls/record"]
    assert "calls/record" in capsys.readouterr().out
