"""One row per figure, printed as one table and written as the same figures in JSON."""

from __future__ import annotations

import json
import os
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


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    else:
        text = f"{value:,.2f}"
    return f"{text} {unit}".strip()


COLUMNS = (
    "figure",
    "measure",
    "result",
    "baseline (same run)",
    "x better",
    "target",
    "met",
    "note",
)


def cells(row: Row, *, met: dict[bool | None, str], pending_text: str) -> list[str]:
    """A row's cells, in COLUMNS order; `met` and `pending_text` are how each output marks them."""
    comparator = "≥" if row.higher_is_better else "≤"
    return [
        row.figure,
        row.measure,
        number(row.value, row.unit) if row.value is not None else pending_text,
        f"{number(row.baseline, row.unit)} ({row.baseline_label})" if row.baseline else "",
        f"{row.ratio:,.1f}" if row.ratio is not None else "",
        f"{comparator} {number(row.target, row.unit)}" if row.target is not None else "",
        met[row.met],
        row.note,
    ]


def print_table(rows: Sequence[Row], *, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        right = column in ("result", "baseline (same run)", "x better", "target")
        table.add_column(column, justify="right" if right else "left")
    for row in rows:
        marks = {None: "", True: "[green]yes[/]", False: "[red]no[/]"}
        table.add_row(*cells(row, met=marks, pending_text="[yellow]pending[/]"))
    Console(width=200).print(table)


def markdown(rows: Sequence[Row]) -> str:
    """The same table in Markdown, for docs/benchmarks.md."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|--:|--:|--:|--:|:-:|---|"]
    marks = {None: "", True: "yes", False: "**no**"}
    lines += [
        "| " + " | ".join(cells(row, met=marks, pending_text="pending")) + " |" for row in rows
    ]
    return "\n".join(lines) + "\n"


def write_json(rows: Sequence[Row], path: Path, *, settings: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            # A shared machine: how busy it was when the run ended (1, 5, 15 minutes).
            "load_average": os.getloadavg(),
        },
        "settings": settings,
        "rows": [row.as_dict() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
