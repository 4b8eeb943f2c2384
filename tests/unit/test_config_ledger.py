"""SIZE_RECORDER_SEQUENCER_LEDGER: a plain (optionally schema-qualified) table name, and only
beside a sequencer column, since the ledger orders events by sequencer."""

from __future__ import annotations

import json

import pytest

from size_recorder import constants as c
from size_recorder.core.config import ConfigError, Settings

BASE = {c.ENV_DATABASE_URL: "postgresql://localhost/app", c.ENV_TABLE: "documents_document"}
SEQUENCED = {**BASE, c.ENV_SEQUENCER_COLUMN: "size_sequencer"}


def test_settings_have_no_ledger_unless_it_is_set() -> None:
    assert Settings.from_env(SEQUENCED).sequencer_ledger is None


def test_settings_read_a_schema_qualified_ledger() -> None:
    env = {**SEQUENCED, c.ENV_SEQUENCER_LEDGER: "public.size_recorder_sequencers"}
    assert Settings.from_env(env).sequencer_ledger == ("public", "size_recorder_sequencers")


def test_settings_refuse_a_ledger_without_a_sequencer_column_naming_both_variables() -> None:
    env = {**BASE, c.ENV_SEQUENCER_LEDGER: "size_recorder_sequencers"}
    with pytest.raises(
        ConfigError,
        match=r"SIZE_RECORDER_SEQUENCER_LEDGER needs a sequencer column: set"
        r" SIZE_RECORDER_SEQUENCER_COLUMN \(or sequencer_column in SIZE_RECORDER_TARGETS\)",
    ):
        Settings.from_env(env)


def test_settings_refuse_a_ledger_when_no_target_has_a_sequencer_column() -> None:
    env = {
        c.ENV_DATABASE_URL: "postgresql://localhost/app",
        c.ENV_TARGETS: json.dumps([{"table": "a"}, {"table": "b", "prefix": "b/"}]),
        c.ENV_SEQUENCER_LEDGER: "size_recorder_sequencers",
    }
    with pytest.raises(ConfigError, match="SIZE_RECORDER_SEQUENCER_LEDGER needs a sequencer"):
        Settings.from_env(env)


def test_settings_accept_a_ledger_when_one_target_of_several_has_a_sequencer_column() -> None:
    targets = [{"table": "a", "sequencer_column": "seq"}, {"table": "b", "prefix": "b/"}]
    env = {
        c.ENV_DATABASE_URL: "postgresql://localhost/app",
        c.ENV_TARGETS: json.dumps(targets),
        c.ENV_SEQUENCER_LEDGER: "size_recorder_sequencers",
    }
    assert Settings.from_env(env).sequencer_ledger == ("size_recorder_sequencers",)


@pytest.mark.parametrize(
    "raw", ['sequencers"; DROP TABLE x; --', "a.b.c", "1ledger", "public.", "my ledger"]
)
def test_settings_refuse_a_ledger_that_is_not_a_plain_identifier(raw: str) -> None:
    env = {**SEQUENCED, c.ENV_SEQUENCER_LEDGER: raw}
    with pytest.raises(ConfigError, match="SIZE_RECORDER_SEQUENCER_LEDGER="):
        Settings.from_env(env)
