"""docs/deploy.md's props table is the one `size_recorder_cdk.reference` generates from the code:
every keyword of SizeRecorder, with its type and default."""

from __future__ import annotations

import re
from dataclasses import fields

from size_recorder_cdk import SizeRecorderProps
from size_recorder_cdk.reference import props_table
from tests.infra.apps import ROOT

GUIDE = ROOT / "docs" / "deploy.md"
_TABLE = re.compile(r"<!-- props table: generated -->\n(.*?)\n<!-- props table: end -->", re.S)


def documented_table() -> str:
    found = _TABLE.search(GUIDE.read_text(encoding="utf-8"))
    assert found, "docs/deploy.md lacks the generated props table's markers"
    return found[1]


def test_props_table_in_the_guide_is_the_generated_one() -> None:
    """Regenerate with `python -m size_recorder_cdk.reference` after changing a prop."""
    assert documented_table() == props_table()


def test_props_table_lists_every_keyword_with_a_default_and_a_meaning() -> None:
    rows = {
        line.split("|")[1].strip(" `"): [cell.strip() for cell in line.split(" | ")[2:]]
        for line in documented_table().splitlines()[2:]
    }
    assert list(rows) == [f.name for f in fields(SizeRecorderProps)]
    assert all(default and meaning for default, meaning in rows.values())
