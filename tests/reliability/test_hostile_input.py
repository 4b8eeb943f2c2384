"""Hostile keys, sizes and configuration against a real Postgres: stored literally or refused
with a reason, and never able to change anything but the size of the row they name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote_plus

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from size_recorder import constants as c
from size_recorder.core.config import ConfigError, Settings
from size_recorder.core.events import MAX_KEY_BYTES
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder
from tests.support.events import s3_body, s3_record
from tests.support.postgres import DocumentsTable, recorder_env

# What the recorder may ever put into SQL as a table or column name.
PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

# Names a row may really hold: S3 accepts each of these as (part of) a key.
LITERAL_NAMES = [
    "'; DROP TABLE documents_document; --",
    "x'); DELETE FROM documents_document WHERE ('1'='1",
    'double " quote and \\ backslash',
    "$$dollar quoted$$ $tag$",
    # Not ending in "/": a name that does is a folder marker, skipped by design (issue 13).
    "semi;colon; --comment /* block */ end",
    "%",
    "_",
    "%zz invalid escape kept literally",
    "%00 an escaped percent, not a NUL",
    "\\x00 looks like a NUL",
    "new\nline\ttab\rreturn",
    "ünïcødé/😀 ∑ ‮gnp.exe",
    "+plus+ and spaces ",
    "a" * (MAX_KEY_BYTES - len("media/")),  # exactly S3's limit with the prefix
    "é" * ((MAX_KEY_BYTES - len("media/")) // 2),  # multi-byte, still within the limit
]

# Raw event fields (key as the event carries it, size) that no real upload can produce.
REJECTED = {
    "nul-byte": ("media/a%00b", 1, "NUL byte"),
    "overlong-key": ("media/" + "a" * (MAX_KEY_BYTES - 5), 1, "1024-byte limit"),
    "overlong-multibyte-key": ("media/" + quote_plus("é" * 510), 1, "1024-byte limit"),
    "not-utf8": ("media/%ff%fe", 1, "does not decode to UTF-8"),
    "encoded-surrogate": ("media/%ED%A0%80", 1, "does not decode to UTF-8"),
    "lone-surrogate": ("media/\ud800", 1, "not valid Unicode"),
    "empty-key": ("", 1, "key is empty"),
    "negative-size": ("media/ok.txt", -1, "negative"),
    "fractional-size": ("media/ok.txt", 1.5, "whole number"),
    "string-size": ("media/ok.txt", "1024", "whole number"),
    "boolean-size": ("media/ok.txt", True, "not a number"),
    "missing-size": ("media/ok.txt", None, "missing"),
    "nan-size": ("media/ok.txt", float("nan"), "whole number"),
    "beyond-bigint": ("media/ok.txt", 2**63, "larger than any object"),
    "huge-float": ("media/ok.txt", 1e300, "larger than any object"),
}


@pytest.fixture
def recorder(documents: DocumentsTable, make_recorder: Callable[..., Recorder]) -> Recorder:
    return make_recorder(recorder_env(documents))


@pytest.fixture
def canary(documents: DocumentsTable) -> Callable[[], tuple[int, list[str]]]:
    """A second table beside the target; returns (canary rows, tables in the schema)."""
    with psycopg.connect(documents.url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{documents.schema}".canary (v text)')
        conn.execute(f"INSERT INTO \"{documents.schema}\".canary VALUES ('alive')")

    def check() -> tuple[int, list[str]]:
        with psycopg.connect(documents.url) as conn:
            count = conn.execute(f'SELECT count(*) FROM "{documents.schema}".canary').fetchone()
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1",
                (documents.schema,),
            ).fetchall()
        assert count is not None
        return count[0], [t[0] for t in tables]

    return check


def test_record_stores_hostile_keys_literally(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    """Keys carrying SQL, quotes, escapes and odd Unicode match their rows byte for byte."""
    documents.insert(*LITERAL_NAMES, "raw%zz%")
    messages = [
        Message(f"m{i}", s3_body(quote_plus("media/" + name), 1000 + i))
        for i, name in enumerate(LITERAL_NAMES)
    ]
    # Not encoded at all: an invalid escape S3 itself would never send is kept as it is.
    messages.append(Message("raw", s3_body("media/raw%zz%", 1)))
    batch = recorder.record(messages)
    assert batch.failed == ()
    expected = {name: 1000 + i for i, name in enumerate(LITERAL_NAMES)}
    assert documents.sizes() == {**expected, "raw%zz%": 1}
    print(f"\nhostile keys recorded literally: {len(messages)}")


def test_record_rejects_impossible_keys_and_sizes_with_a_reason(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    """Each impossible record fails its own message as invalid; a good neighbour is recorded.

    Before the fix, a size beyond bigint failed the whole batch's UPDATE (so every good message
    in the batch was retried with it, into the DLQ), and a lone surrogate crashed the batch.
    """
    documents.insert("ok.txt", "good.txt")
    messages = [Message(name, s3_body(key, size)) for name, (key, size, _) in REJECTED.items()]
    messages.append(Message("good", s3_body("media/good.txt", 7)))
    batch = recorder.record(messages)
    reasons = {m.message_id: m.reason() for m in batch.failed}
    assert sorted(reasons) == sorted(REJECTED)
    for name, (_, _, expected) in REJECTED.items():
        assert reasons[name].startswith("invalid: ")
        assert expected in reasons[name], (name, reasons[name])
    assert documents.sizes() == {"ok.txt": None, "good.txt": 7}
    print(f"\nimpossible keys/sizes rejected with a reason: {len(REJECTED)}")


def test_record_leaves_every_other_table_and_row_intact(
    recorder: Recorder,
    documents: DocumentsTable,
    canary: Callable[[], tuple[int, list[str]]],
) -> None:
    """After all the hostile traffic only the named rows' sizes changed; nothing was dropped."""
    bystanders = [f"bystander-{i}" for i in range(20)]
    documents.insert(*LITERAL_NAMES, *bystanders)
    records = [s3_record(quote_plus("media/" + n), 5) for n in LITERAL_NAMES]
    records += [s3_record(key, size) for key, size, _ in REJECTED.values()]
    recorder.record([Message("all-in-one", json.dumps({"Records": records}))])
    recorder.record([Message(f"m{i}", json.dumps({"Records": [r]})) for i, r in enumerate(records)])
    assert canary() == (1, ["canary", "documents_document"])
    sizes = documents.sizes()
    assert len(sizes) == len(LITERAL_NAMES) + len(bystanders)
    assert all(sizes[b] is None for b in bystanders)
    assert all(sizes[n] == 5 for n in LITERAL_NAMES)


INJECTIONS = [
    (c.ENV_TABLE, "documents_document; DROP TABLE documents_document"),
    (c.ENV_TABLE, 'public."documents_document"'),
    (c.ENV_TABLE, "public.documents_document --"),
    (c.ENV_TABLE, "a.b.c"),
    (c.ENV_TABLE, "documents document"),
    (c.ENV_TABLE, "pg_catalog.pg_authid)--"),
    (c.ENV_TABLE, "dócuments"),
    (c.ENV_TABLE, "t" * 64),
    (c.ENV_KEY_COLUMN, "file OR 1=1"),
    (c.ENV_KEY_COLUMN, 'file"'),
    (c.ENV_SIZE_COLUMN, "size_bytes = 0, file"),
    (c.ENV_SIZE_COLUMN, "size_bytes\x00"),
    (c.ENV_SEQUENCER_COLUMN, "seq'); DROP TABLE x; --"),
    (c.ENV_SEQUENCER_COLUMN, "1seq"),
]

TARGETS_INJECTIONS = [
    [{"table": "x; DROP TABLE y"}],
    [{"table": "documents_document", "key_column": "file; --"}],
    [{"table": "documents_document", "size_column": "size_bytes=(SELECT 1)"}],
    [{"table": "documents_document", "sequencer_column": "s) --"}],
    [{"table": ["documents_document"]}],
    [{"table": "documents_document", "where": "1=1"}],
]


@pytest.mark.parametrize(("variable", "value"), INJECTIONS)
def test_settings_reject_identifiers_carrying_sql(variable: str, value: str) -> None:
    """An identifier that is not plain letters/digits/_ stops start-up, naming the variable."""
    env = {c.ENV_DATABASE_URL: "postgresql:///x", c.ENV_TABLE: "documents_document"}
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({**env, variable: value})


@pytest.mark.parametrize("targets", TARGETS_INJECTIONS)
def test_settings_reject_targets_carrying_sql(targets: list[dict[str, object]]) -> None:
    """The same holds for every field of SIZE_RECORDER_TARGETS."""
    env = {c.ENV_DATABASE_URL: "postgresql:///x", c.ENV_TARGETS: json.dumps(targets)}
    with pytest.raises(ConfigError, match=r"SIZE_RECORDER_TARGETS\[0\]"):
        Settings.from_env(env)


@settings(max_examples=500, deadline=None)
@given(
    table=st.text(max_size=70),
    key=st.text(max_size=70),
    size=st.text(max_size=70),
    sequencer=st.text(max_size=70),
)
def test_settings_accept_only_plain_identifiers(
    table: str, key: str, size: str, sequencer: str
) -> None:
    """Whatever the environment holds, accepted settings contain only plain SQL identifiers."""
    env = {
        c.ENV_DATABASE_URL: "postgresql:///x",
        c.ENV_TABLE: table,
        c.ENV_KEY_COLUMN: key,
        c.ENV_SIZE_COLUMN: size,
        c.ENV_SEQUENCER_COLUMN: sequencer,
    }
    try:
        parsed = Settings.from_env(env)
    except ConfigError:
        return
    (target,) = parsed.targets
    names = [*target.table, target.key_column, target.size_column]
    if target.sequencer_column is not None:
        names.append(target.sequencer_column)
    assert all(PLAIN_IDENTIFIER.fullmatch(name) for name in names)


def test_record_outcomes_for_hostile_input_are_only_recorded_or_invalid(
    recorder: Recorder, documents: DocumentsTable
) -> None:
    """No hostile record is skipped silently or reported as a database failure."""
    documents.insert(*LITERAL_NAMES)
    messages = [
        Message(f"l{i}", s3_body(quote_plus("media/" + n), 1)) for i, n in enumerate(LITERAL_NAMES)
    ]
    messages += [Message(n, s3_body(k, s)) for n, (k, s, _) in REJECTED.items()]
    counts = recorder.record(messages).counts()
    assert counts == {Outcome.RECORDED: len(LITERAL_NAMES), Outcome.INVALID: len(REJECTED)}
