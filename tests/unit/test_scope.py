"""Which rows a bucket and prefix cover: the inverse of the recorder's routing."""

from __future__ import annotations

import json

import pytest

from size_recorder import constants as c
from size_recorder.core.config import Settings
from size_recorder.core.scope import ScopeError, group_by_target, owns, scopes

NESTED = Settings.from_env(
    {
        c.ENV_DATABASE_URL: "postgresql://localhost/app",
        c.ENV_TARGETS: json.dumps(
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


# Django's `file` (upload_to="uploads/") and `image` (upload_to="photos/") under one storage
# location: each routes by its own directory, and both names keep it.
SHARED_LOCATION = Settings.from_env(
    {
        c.ENV_DATABASE_URL: "postgresql://localhost/app",
        c.ENV_TARGETS: json.dumps(
            [
                {"prefix": "media/uploads/", "location": "media/", "table": "documents_document"},
                {
                    "prefix": "media/photos/",
                    "location": "media/",
                    "table": "documents_photo",
                    "key_column": "image",
                },
            ]
        ),
    }
)


def test_scopes_of_fields_sharing_a_location_cover_names_in_their_own_directory() -> None:
    found = {s.target.table_name: s.name_prefix for s in scopes(SHARED_LOCATION, bucket="b")}

    assert found == {"documents_document": "uploads/", "documents_photo": "photos/"}


def test_scopes_under_one_fields_directory_keep_the_directory_in_the_name_prefix() -> None:
    (scope,) = scopes(SHARED_LOCATION, bucket="b", prefix="media/uploads/2026")

    assert (scope.target.table_name, scope.name_prefix) == ("documents_document", "uploads/2026")


def test_scope_key_puts_the_location_back_before_the_name() -> None:
    scope = scopes(SHARED_LOCATION, bucket="b", prefix="media/photos/")[0]

    assert scope.key("photos/a.jpg") == "media/photos/a.jpg"
    assert owns(SHARED_LOCATION, scope, "photos/a.jpg")


def test_group_by_target_names_objects_after_the_location() -> None:
    grouped, outside = group_by_target(
        SHARED_LOCATION,
        "b",
        [("media/uploads/a.pdf", 1), ("media/photos/b.jpg", 2), ("media/uploads/", 0)],
    )

    assert {t.table_name: names for t, names in grouped.items()} == {
        "documents_document": [("uploads/a.pdf", 1)],
        "documents_photo": [("photos/b.jpg", 2)],
    }
    assert outside == 1  # the folder marker names no file
