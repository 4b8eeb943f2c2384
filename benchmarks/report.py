"""One row per figure, printed as one table and written as the same figures in JSON."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True, slots=True)
class Row:
    """A figure, its baseline from the same run, and its target when it has one."""

    figure: str
    measure: str
    value: float | None
    unit: str
    higher_is_better: bool = True
    baseline: float | None = None
    baseline_label: str = ""
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline (>1 means better)."""
        if self.value is None or not self.baseline:
            return None
        if self.higher_is_better:
            return self.value / self.baseline
        return self.baseline / self.value if self.value else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        if self.higher_is_better:
            return self.value >= self.target
        return self.value <= self.target

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def pending(figure: str, measure: str, note: str) -> Row:
    """A figure that could not be measured in this run, and why."""
    return Row(figure=figure, measure=measure, value=None, unit="", note=note)


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    else:
        text = f"{value:,.2f}"
    return f"{text} {unit}".strip()


def print_table(rows: Sequence[Row], *, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("measure")
    table.add_column("result", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("x", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met", justify="center")
    table.add_column("note")
    for row in rows:
        comparator = "≥" if row.higher_is_better else "≤"
        baseline = ""
        if row.baseline is not None:
            baseline = f"{number(row.baseline, row.unit)} ({row.baseline_label})"
        met = {None: "", True: "[green]yes[/]", False: "[red]no[/]"}[row.met]
        table.add_row(
            row.figure,
            row.measure,
            number(row.value, row.unit) if row.value is not None else "[yellow]pending[/]",
            baseline,
            f"{row.ratio:,.1f}x" if row.ratio is not None else "",
            f"{comparator} {number(row.target, row.unit)}" if row.target is not None else "",
            met,
            row.note,
        )
    Console(width=200).print(table)


def write_json(rows: Sequence[Row], path: Path, *, settings: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.machine(),
        },
        "settings": settings,
        "rows": [row.as_dict() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
