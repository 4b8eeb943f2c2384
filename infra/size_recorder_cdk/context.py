"""CDK context (`cdk.json` defaults, `-c key=value` overrides) → validated `SizeRecorderProps`.

Values from `cdk.json` arrive typed (numbers, booleans, lists); values from `-c` always arrive as
strings. Both are accepted; an empty string means "not set", so `cdk.json` can list every key.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Final, Union, get_args, get_origin

from constructs import Node

from size_recorder_cdk.props import (
    CONTEXT_PREFIX,
    SizeRecorderConfigError,
    SizeRecorderProps,
    context_key,
    validate,
)

STACK_NAME_KEY: Final = CONTEXT_PREFIX + "stackName"
DEFAULT_STACK_NAME: Final = "SizeRecorder"


def props_from_context(node: Node) -> SizeRecorderProps:
    """Read every `size-recorder:*` context key below `node` and validate the result."""
    return props_from_mapping(node.get_all_context())


def props_from_mapping(values: Mapping[str, Any]) -> SizeRecorderProps:
    """Build props from `{context key: raw value}`; unknown `size-recorder:` keys are errors."""
    hints = typing.get_type_hints(SizeRecorderProps)
    known = {context_key(f.name) for f in fields(SizeRecorderProps)} | {STACK_NAME_KEY}
    unknown = sorted(k for k in values if k.startswith(CONTEXT_PREFIX) and k not in known)
    if unknown:
        raise SizeRecorderConfigError(
            f"unknown context key(s) {', '.join(map(repr, unknown))};"
            f" known keys: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    for f in fields(SizeRecorderProps):
        key = context_key(f.name)
        if key not in values:
            continue
        raw = values[key]
        try:
            parsed = _parse(raw, hints[f.name], json_text=f.name == "targets")
        except ValueError as exc:
            raise SizeRecorderConfigError(f"context key {key!r}: {exc}") from None
        if parsed is not _UNSET:
            kwargs[f.name] = parsed
    props = SizeRecorderProps(**kwargs)
    validate(props)
    return props


def stack_name_from_context(node: Node) -> str:
    name = node.try_get_context(STACK_NAME_KEY)
    if name is None or name == "":
        return DEFAULT_STACK_NAME
    if not isinstance(name, str):
        raise SizeRecorderConfigError(f"context key {STACK_NAME_KEY!r} must be a string")
    return name


_UNSET: Final = object()


def _parse(raw: Any, hint: Any, *, json_text: bool) -> Any:
    """Coerce one raw context value to the field's type; `_UNSET` keeps the default."""
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    base = next(a for a in get_args(hint) if a is not type(None)) if optional else hint
    if raw is None or raw == "" or raw == []:
        if optional:
            return None
        return () if get_origin(base) is tuple else _UNSET
    if json_text:
        return raw if isinstance(raw, str) else json.dumps(raw)
    if base is bool:
        return _parse_bool(raw)
    if base is int:
        return _parse_int(raw)
    if get_origin(base) is tuple:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"expected a list of strings or a comma-separated string, got {raw!r}")
        return tuple(i.strip() for i in items if i.strip())
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {raw!r}")
    return raw


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    raise ValueError(f"expected a whole number, got {raw!r}")
