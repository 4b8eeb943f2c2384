"""Which rows a bucket and prefix cover: the inverse of the recorder's routing."""

from __future__ import annotations

import json

import pytest

from size_recorder.core.config import Settings
from size_recorder.core.scope import ScopeError, group_by_target, owns, scopes

NESTED = Settings.from_env(
    {
        "DATABASE_URL": "postgresql://localhost/app",
        "SIZE_RECORDER_TARGETS": json.dumps(
            [
                {"prefix": "media/", "table": "documents_document"},
                {"prefix": "media/avatars/", "table": "accounts_profile", "key_column": "avatar"},
                {"bucket": "other", "prefix": "", "table": "other_file"},
            ]
        ),
    }
)


def test_scopes_strip_each_targets_prefix_from_the_listing_prefix() -> None:
    found = {
        s.target.table_name: s.name_prefix
        for s in scopes(NESTED, bucket="b", prefix="media/avatars/x")
    }
    assert found == {"documents_document": "avatars/x", "accounts_profile": "x"}


def test_scopes_cover_whole_targets_under_a_shorter_prefix() -> None:
    found = {s.target.table_name: s.name_prefix for s in scopes(NESTED, bucket="b", prefix="")}
    assert found == {"documents_document": "", "accounts_profile": ""}


def test_scopes_honour_a_targets_bucket() -> None:
    tables = {s.target.table_name for s in scopes(NESTED, bucket="other", prefix="")}
    assert "other_file" in tables


def test_scope_owns_only_names_the_recorder_routes_to_it() -> None:
    media = next(
        s for s in scopes(NESTED, bucket="b") if s.target.table_name == "documents_document"
    )
    assert owns(NESTED, media, "uploads/a.pdf")
    assert not owns(NESTED, media, "avatars/me.png")  # accounts_profile's row, not this one


def test_group_by_target_strips_prefixes_and_counts_the_rest() -> None:
    grouped, outside = group_by_target(
        NESTED, "b", [("media/a.pdf", 1), ("media/avatars/me.png", 2), ("static/x.css", 3)]
    )
    assert {t.table_name: names for t, names in grouped.items()} == {
        "documents_document": [("a.pdf", 1)],
        "accounts_profile": [("me.png", 2)],
    }
    assert outside == 1


def test_scopes_refuse_a_prefix_no_target_covers() -> None:
    with pytest.raises(ScopeError, match="no configured target covers s3://b/static/"):
        scopes(NESTED, bucket="b", prefix="static/")
