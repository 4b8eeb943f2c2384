"""Settings: defaults, routing by prefix, and errors that name the variable to fix."""

from __future__ import annotations

import json

import pytest

from size_recorder import constants as c
from size_recorder.core.config import ConfigError, Settings, Target

BASE = {c.ENV_DATABASE_URL: "postgresql://localhost/app", c.ENV_TABLE: "documents_document"}


def settings(env: dict[str, str] | None = None) -> Settings:
    return Settings.from_env({**BASE, **(env or {})})


def test_settings_default_to_djangos_column_names() -> None:
    (target,) = settings().targets
    assert target == Target(
        table=("documents_document",), key_column="file", size_column="size_bytes"
    )


def test_settings_accept_a_schema_qualified_table() -> None:
    (target,) = settings({c.ENV_TABLE: "public.documents_document"}).targets
    assert target.table == ("public", "documents_document")


def test_settings_require_a_database() -> None:
    with pytest.raises(ConfigError, match=r"DATABASE_URL.*SIZE_RECORDER_DB_SECRET_ARN"):
        Settings.from_env({c.ENV_TABLE: "t"})


def test_settings_accept_a_secret_instead_of_a_url() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    loaded = Settings.from_env({c.ENV_DB_SECRET_ARN: arn, c.ENV_TABLE: "t"})
    assert loaded.db_secret_arn == arn


def test_settings_require_a_table() -> None:
    with pytest.raises(ConfigError, match=c.ENV_TABLE):
        Settings.from_env({c.ENV_DATABASE_URL: "postgresql://localhost/app"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (c.ENV_TABLE, 'documents"; DROP TABLE x; --'),
        (c.ENV_TABLE, "a.b.c"),
        (c.ENV_KEY_COLUMN, "file name"),
        (c.ENV_SIZE_COLUMN, "1size"),
        (c.ENV_SEQUENCER_COLUMN, "seq)--"),
    ],
)
def test_settings_reject_identifiers_that_are_not_plain(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings({variable: value})


@pytest.mark.parametrize(
    "variable",
    [c.ENV_STATEMENT_TIMEOUT_MS, c.ENV_UNMATCHED_RETRY_BASE_S],
)
@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_settings_reject_timeouts_that_are_not_positive(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings({variable: value})


def test_route_strips_the_key_prefix() -> None:
    route = settings({c.ENV_KEY_PREFIX: "media/"}).route("bucket", "media/a/b.pdf")
    assert route is not None
    assert route.name == "a/b.pdf"


def test_route_skips_keys_outside_the_prefix() -> None:
    assert settings({c.ENV_KEY_PREFIX: "media/"}).route("bucket", "static/app.css") is None


def targets_env(*targets: dict[str, object]) -> dict[str, str]:
    return {
        c.ENV_DATABASE_URL: "postgresql://localhost/app",
        c.ENV_TARGETS: json.dumps(targets),
    }


def test_route_picks_the_longest_matching_prefix() -> None:
    loaded = Settings.from_env(
        targets_env(
            {"prefix": "media/", "table": "documents_document"},
            {"prefix": "media/avatars/", "table": "accounts_avatar", "key_column": "image"},
        )
    )
    route = loaded.route("bucket", "media/avatars/me.png")
    assert route is not None
    assert (route.target.table_name, route.name) == ("accounts_avatar", "me.png")


def test_route_prefers_a_target_naming_the_bucket() -> None:
    loaded = Settings.from_env(
        targets_env(
            {"prefix": "", "table": "any_bucket"},
            {"prefix": "", "table": "this_bucket", "bucket": "uploads"},
        )
    )
    assert [loaded.route(b, "k").target.table_name for b in ("uploads", "other")] == [  # type: ignore[union-attr]
        "this_bucket",
        "any_bucket",
    ]


def test_route_ignores_targets_for_other_buckets() -> None:
    loaded = Settings.from_env(targets_env({"table": "t", "bucket": "uploads"}))
    assert loaded.route("elsewhere", "k") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{oops", "not valid JSON"),
        ("{}", "non-empty JSON list"),
        ("[]", "non-empty JSON list"),
        ('["t"]', r"TARGETS\[0\] is not a JSON object"),
        ('[{"prefix": "a/"}]', r"TARGETS\[0\] has no 'table'"),
        ('[{"table": "t", "colour": "red"}]', "unknown field"),
        ('[{"table": "t", "prefix": 3}]', r"TARGETS\[0\].prefix must be a string"),
        ('[{"table": "t;drop"}]', r"TARGETS\[0\].table"),
        ('[{"table": "a"}, {"table": "b"}]', r"TARGETS\[1\] repeats"),
    ],
)
def test_settings_reject_malformed_targets(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({c.ENV_DATABASE_URL: "postgresql://x", c.ENV_TARGETS: raw})


def test_settings_refuse_targets_together_with_single_target_variables() -> None:
    with pytest.raises(ConfigError, match="one or the other"):
        settings({c.ENV_TARGETS: '[{"table": "t"}]'})


@pytest.mark.parametrize(("receives", "delay"), [(1, 2), (2, 4), (3, 8), (9, 300), (500, 300)])
def test_unmatched_retry_delay_doubles_per_receive_up_to_a_cap(receives: int, delay: int) -> None:
    assert settings().unmatched_retry_delay(receives) == delay


def shared_location() -> Settings:
    """Django's `file` (upload_to="uploads/") and `image` (upload_to="photos/") under one
    storage location, `media`: both names keep their directory."""
    return Settings.from_env(
        targets_env(
            {"prefix": "media/uploads/", "location": "media/", "table": "documents_document"},
            {
                "prefix": "media/photos/",
                "location": "media/",
                "table": "documents_photo",
                "key_column": "image",
            },
        )
    )


def test_route_names_a_row_after_the_location_not_the_prefix() -> None:
    routes = [
        shared_location().route("b", k) for k in ("media/uploads/a.pdf", "media/photos/b.jpg")
    ]

    assert [(r.target.table_name, r.name) for r in routes if r] == [
        ("documents_document", "uploads/a.pdf"),
        ("documents_photo", "photos/b.jpg"),
    ]


def test_route_skips_a_key_under_the_location_but_outside_every_prefix() -> None:
    assert shared_location().route("b", "media/other/c.txt") is None


def test_target_key_of_puts_back_what_name_of_strips() -> None:
    target = shared_location().targets[0]

    assert target.key_of(target.name_of("media/uploads/a.pdf")) == "media/uploads/a.pdf"


def test_location_defaults_to_the_prefix() -> None:
    loaded = Settings.from_env(targets_env({"prefix": "media/", "table": "t"}))

    route = loaded.route("b", "media/uploads/a.pdf")
    assert route is not None
    assert (route.target.location, route.name) == (None, "uploads/a.pdf")


def test_null_location_is_the_prefix_too() -> None:
    loaded = Settings.from_env(targets_env({"prefix": "media/", "location": None, "table": "t"}))

    assert loaded.targets[0].name_of("media/a.pdf") == "a.pdf"


def test_folder_marker_of_an_upload_to_directory_names_no_file() -> None:
    """The console's "Create folder" on media/uploads/: its name after the location is
    "uploads/", which no file has (issue 13's rule, after the location)."""
    route = shared_location().route("b", "media/uploads/")

    assert route is not None
    assert not route.names_a_file


def test_settings_reject_a_location_that_does_not_lead_the_prefix() -> None:
    with pytest.raises(ConfigError, match=r"TARGETS\[1\]\.location='static/' is not a leading"):
        Settings.from_env(
            targets_env(
                {"prefix": "media/", "table": "a"},
                {"prefix": "media/photos/", "location": "static/", "table": "b"},
            )
        )


def test_settings_reject_a_location_that_is_not_a_string() -> None:
    with pytest.raises(ConfigError, match=r"TARGETS\[0\]\.location must be a string"):
        Settings.from_env(targets_env({"prefix": "media/", "location": 3, "table": "t"}))
