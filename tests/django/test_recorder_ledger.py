"""The sequencer ledger through the Django helpers: `recorder_environment` and
`recorder_grant_sql` with `sequencer_ledger=`.

The ledger is created by docs/configuration.md's statement (the `sequencer_ledger` fixture); the
grant's privileges are held to security.md's statement by running both, and a role made with
exactly the printed SQL runs the real recorder with the ledger.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from size_recorder import constants as c
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.core.config import Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message
from size_recorder.django import recorder_environment, recorder_grant_sql
from tests.django.documents.models import Document, Photo
from tests.django.project import DjangoProject, create_login_role, drop_role, s3_event
from tests.test_docs import RECORDER_ROLE, marked_sql

# Every privilege a table can carry: the documented grant and the helper's must agree on each.
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

MakeRole = Callable[[], tuple[str, str]]


@pytest.fixture
def make_role(django_project: DjangoProject) -> Iterator[MakeRole]:
    """Login roles with no privileges yet, each (name, database URL); dropped after."""
    made: list[str] = []

    def make() -> tuple[str, str]:
        role = create_login_role(django_project.database_url)
        made.append(role.name)
        return role.name, role.database_url

    yield make
    for name in made:
        drop_role(django_project.database_url, name)


def as_owner(project: DjangoProject, statement: str) -> None:
    with psycopg.connect(project.database_url, autocommit=True) as conn:
        conn.execute(statement)


def privileges(project: DjangoProject, role: str, table: str) -> set[str]:
    with psycopg.connect(project.database_url) as conn:
        return {
            privilege
            for privilege in TABLE_PRIVILEGES
            if conn.execute(
                "SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege)
            ).fetchone()
            == (True,)
        }


def test_recorder_environment_names_the_ledger_as_the_database_resolves_it(
    sequencer_ledger: str,
) -> None:
    env = recorder_environment(Document, sequencer_ledger="size_recorder_sequencers")

    assert env == {
        **recorder_environment(Document),
        c.ENV_SEQUENCER_LEDGER: "public.size_recorder_sequencers",
    }


def test_recorder_environment_refuses_a_ledger_without_a_sequencer_column(
    sequencer_ledger: str,
) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        recorder_environment(Photo, sequencer_ledger=sequencer_ledger)

    message = str(refused.value)
    assert "needs a sequencer column" in message
    assert "documents.Photo.image" in message
    assert "give the field a sequencer_field" in message


def test_recorder_grant_sql_refuses_a_ledger_without_a_sequencer_column(
    sequencer_ledger: str,
) -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a sequencer column"):
        recorder_grant_sql(Photo, "size_recorder", sequencer_ledger=sequencer_ledger)


def test_recorder_environment_refuses_a_ledger_that_does_not_exist() -> None:
    with pytest.raises(
        ImproperlyConfigured,
        match=r"sequencer_ledger='public.no_ledger': the table does not exist in database"
        r" 'default'; create it as docs/configuration.md#the-sequencer-ledger shows",
    ):
        recorder_environment(Document, sequencer_ledger="public.no_ledger")


def test_recorder_environment_refuses_a_ledger_name_that_is_not_plain_identifiers() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"sequencer_ledger='a\.b\.c': expected"):
        recorder_environment(Document, sequencer_ledger="a.b.c")


def test_recorder_grant_sql_adds_the_ledger_grant_last(sequencer_ledger: str) -> None:
    database = connection.settings_dict["NAME"]

    assert recorder_grant_sql(
        Document, "size_recorder", sequencer_ledger=sequencer_ledger
    ).splitlines() == [
        f'GRANT CONNECT ON DATABASE "{database}" TO "size_recorder";',
        'GRANT USAGE ON SCHEMA "public" TO "size_recorder";',
        'GRANT SELECT ("file", "size_sequencer"),'
        ' UPDATE ("size_bytes", "size_sequencer")'
        ' ON "public"."documents_document" TO "size_recorder";',
        'GRANT SELECT, INSERT, UPDATE ON "public"."size_recorder_sequencers" TO "size_recorder";',
    ]


def test_operator_grant_includes_the_ledger_grant(sequencer_ledger: str) -> None:
    operator = recorder_grant_sql(Document, "size_recorder_ops", operator=True)

    assert recorder_grant_sql(
        Document, "size_recorder_ops", operator=True, sequencer_ledger=sequencer_ledger
    ).splitlines() == [
        *operator.splitlines(),
        'GRANT SELECT, INSERT, UPDATE ON "public"."size_recorder_sequencers"'
        ' TO "size_recorder_ops";',
    ]


def test_ledger_grant_gives_the_privileges_security_md_documents(
    sequencer_ledger: str, django_project: DjangoProject, make_role: MakeRole
) -> None:
    documented, _ = make_role()
    printed, _ = make_role()
    statement = marked_sql("recorder-grant-ledger")
    assert sequencer_ledger in statement, f"security.md's grant no longer names {sequencer_ledger}"
    assert re.search(rf"\b{RECORDER_ROLE}\b", statement), f"it no longer names {RECORDER_ROLE}"
    as_owner(django_project, re.sub(rf"\b{RECORDER_ROLE}\b", f'"{documented}"', statement))

    as_owner(
        django_project, recorder_grant_sql(Document, printed, sequencer_ledger=sequencer_ledger)
    )

    granted = privileges(django_project, printed, sequencer_ledger)
    assert granted == privileges(django_project, documented, sequencer_ledger)
    assert granted  # the comparison is not between two roles that got nothing


def test_grant_with_a_ledger_in_another_schema_grants_usage_on_that_schema(
    django_project: DjangoProject,
) -> None:
    as_owner(django_project, "CREATE SCHEMA recorder")
    try:
        as_owner(
            django_project,
            marked_sql("sequencer-ledger").replace(
                "public.size_recorder_sequencers", "recorder.size_recorder_sequencers"
            ),
        )

        lines = recorder_grant_sql(
            Document, "size_recorder", sequencer_ledger="recorder.size_recorder_sequencers"
        ).splitlines()
    finally:
        as_owner(django_project, "DROP SCHEMA recorder CASCADE")

    assert lines[1:3] == [
        'GRANT USAGE ON SCHEMA "public" TO "size_recorder";',
        'GRANT USAGE ON SCHEMA "recorder" TO "size_recorder";',
    ]


def test_role_with_the_printed_grant_refuses_an_older_event_for_a_replaced_row(
    sequencer_ledger: str, django_project: DjangoProject, make_role: MakeRole
) -> None:
    role, database_url = make_role()
    as_owner(django_project, recorder_grant_sql(Document, role, sequencer_ledger=sequencer_ledger))
    env = {
        **recorder_environment(Document, sequencer_ledger=sequencer_ledger),
        c.ENV_DATABASE_URL: database_url,
    }
    settings = Settings.from_env(env)
    store = postgres_store(settings)
    recorder = build_recorder(settings, store)
    key = env[c.ENV_KEY_PREFIX] + "ledger/a.pdf"

    def record(size: int, sequencer: str) -> Outcome:
        batch = recorder.record([Message(uuid.uuid4().hex, s3_event(key, size, sequencer))])
        (result,) = batch.messages[0].records
        return result.outcome

    try:
        Document.objects.create(file="ledger/a.pdf")
        assert record(200, "0B") is Outcome.RECORDED  # the ledger's INSERT
        # The app replaces the row: the new one holds no sequencer.
        Document.objects.filter(file="ledger/a.pdf").delete()
        Document.objects.create(file="ledger/a.pdf")

        assert record(100, "0A") is Outcome.STALE  # the ledger's SELECT
        assert Document.objects.get(file="ledger/a.pdf").size_bytes is None
        assert record(300, "0C") is Outcome.RECORDED  # the ledger's UPDATE
        assert Document.objects.get(file="ledger/a.pdf").size_bytes == 300
    finally:
        store.close()
