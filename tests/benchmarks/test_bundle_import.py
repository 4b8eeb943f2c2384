"""`python -m benchmarks.bundle_import` runs once per variant and reports both; no timing is
asserted (the figures come from running it, docs in the report)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.bundle_import import main

from size_recorder_cdk.bundling import bundle_python

pytestmark = pytest.mark.slow


def test_bundle_import_benchmark_reports_both_variants(tmp_path: Path) -> None:
    if bundle_python() is None:
        pytest.skip("needs CPython 3.13")
    out = tmp_path / "bundle-import.json"
    assert main(["--runs", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    variants = figures["variants"]
    assert set(variants) == {"sources-only", "compiled"}
    assert variants["compiled"]["zipped_bytes"] > variants["sources-only"]["zipped_bytes"]
    assert all(v["import_wall_ms_median"] > 0 for v in variants.values())
