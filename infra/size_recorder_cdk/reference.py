"""The props tables of docs/deploy.md, generated from the props dataclasses' fields.

`python -m size_recorder_cdk.reference` prints SizeRecorder's (`python -m
size_recorder_cdk.reconcile`, Reconciliation's); tests fail when the page's table differs, so the
table, the defaults and the code cannot drift apart.
"""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

from aws_cdk import aws_lambda as lambda_

from size_recorder_cdk.props import SizeRecorderProps

HEADER = "| prop | type | default | meaning |\n|---|---|---|---|"


def props_table(props: type[Any] = SizeRecorderProps) -> str:
    """One row per field of the `props` dataclass, in declaration order: name, type, default,
    meaning (its `doc` metadata)."""
    hints = typing.get_type_hints(props)
    rows = [HEADER]
    for f in fields(props):
        default = f.metadata.get("default") or _default(f.default)
        rows.append(f"| `{f.name}` | `{_type(hints[f.name])}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows)


def _default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, lambda_.Architecture):
        return f"`{value.name}`"
    if isinstance(value, str) and not value:
        return "empty"
    return f"`{value}`"


def _type(hint: Any) -> str:
    """`aws_cdk.aws_s3.IBucket | None` → `s3.IBucket \\| None`: the names the docs import, the
    bar escaped for the Markdown table."""
    if typing.get_origin(hint) is None:
        text = f"{hint.__module__}.{hint.__qualname__}"
    else:
        text = str(hint)
    for long, short in (
        ("aws_cdk.aws_lambda.", "lambda."),
        ("aws_cdk.aws_", ""),
        ("collections.abc.", ""),
        ("typing.", ""),
        ("builtins.", ""),
        ("size_recorder_cdk.props.", ""),
        ("NoneType", "None"),
    ):
        text = text.replace(long, short)
    return text.replace("|", "\\|")


if __name__ == "__main__":
    print(props_table())
