"""An inventory chunk's keys are decoded and routed once per directory: the answers must be the
ones `unquote_plus` and `Settings.route` give key by key, whatever the prefixes and keys."""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import quote, quote_plus, unquote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from size_recorder import constants as c
from size_recorder.core.config import Settings
from size_recorder.ops.reconcile import Layout, Reported, read_row, route

# Slashes, spaces, pluses and a multi-byte character: what the shortcuts could get wrong.
KEYS = st.text(alphabet="ab/ +é%", max_size=12)
PREFIXES = st.lists(st.text(alphabet="ab/", max_size=5), min_size=1, max_size=4, unique=True)
ENCODINGS = st.sampled_from(
    [
        quote_plus,  # S3 Inventory's: slashes as %2F, spaces as +
        lambda key: quote_plus(key, safe="/"),
        lambda key: quote(key, safe="/"),  # spaces as %20
        lambda key: re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote_plus(key)),
    ]
)
LAYOUT = Layout.of(["Bucket", "Key", "Size"], encoded_keys=True)


def configured(prefixes: list[str], bucket_specific: bool, cuts: list[int]) -> Settings:
    """A target per prefix; each location a leading part of its prefix (`cuts` characters
    short of it), as Django's fields sharing one storage location have."""
    targets: list[dict[str, str]] = [
        {"table": f"t{index}", "prefix": prefix, **({"bucket": "b"} if bucket_specific else {})}
        for index, prefix in enumerate(prefixes)
    ]
    for target, cut in zip(targets, cuts, strict=False):
        target["location"] = target["prefix"][: max(len(target["prefix"]) - cut, 0)]
    if bucket_specific:
        targets.append({"table": "anywhere", "prefix": prefixes[0] + "a"})
    return Settings.from_env(
        {c.ENV_DATABASE_URL: "postgresql://localhost/x", c.ENV_TARGETS: json.dumps(targets)}
    )


def one_by_one(config: Settings, keys: list[str], encode: object) -> dict[object, dict[str, int]]:
    expected: dict[object, dict[str, int]] = {}
    for size, key in enumerate(keys):
        decoded = unquote_plus(encode(key))  # type: ignore[operator]
        if decoded.endswith("/"):
            continue
        found = config.route("b", decoded)
        if found is not None and found.name:
            expected.setdefault(found.target, {})[found.name] = size
    return expected


@settings(max_examples=300, deadline=None)
@given(
    prefixes=PREFIXES,
    bucket_specific=st.booleans(),
    keys=st.lists(KEYS, max_size=30),
    encode=ENCODINGS,
    cuts=st.lists(st.integers(0, 5), max_size=4),
)
def test_a_chunk_routes_each_key_as_the_recorder_would(
    prefixes: list[str], bucket_specific: bool, keys: list[str], encode: object, cuts: list[int]
) -> None:
    config = configured(prefixes, bucket_specific, cuts)
    rows = [("b", encode(key), str(size)) for size, key in enumerate(keys)]  # type: ignore[operator]

    grouped = route(config, LAYOUT, rows, prefix="", counts=Counter())

    found = {
        target: {name: r.size for name, r in names.items()} for target, names in grouped.items()
    }
    assert found == one_by_one(config, keys, encode)


def test_a_versioned_row_that_is_not_the_latest_or_a_delete_marker_names_no_object() -> None:
    layout = Layout.of(["Bucket", "Key", "IsLatest", "IsDeleteMarker", "Size"], encoded_keys=True)

    assert read_row(layout, ["b", "a%2Fb.pdf", "false", "false", "3"]) == "not latest"
    assert read_row(layout, ["b", "a%2Fb.pdf", "true", "true", ""]) == "delete marker"
    assert read_row(layout, ["b", "a%2F", "true", "false", "0"]) == "folder marker"
    assert read_row(layout, ["b", "a%2Fb+c.pdf", "true", "false", "3"]) == Reported(
        "b", "a/b c.pdf", 3
    )
