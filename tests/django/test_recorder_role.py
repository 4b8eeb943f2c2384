"""The recorder's database role: it may do the recorder's UPDATE and nothing else.

The role is created with exactly `recorder_grant_sql(Document, role)`, the SQL docs/django.md
prints, and runs the recorder's own statement (not a copy of it).
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, models
from django.test.utils import isolate_apps
from psycopg import errors

from size_recorder import constants as c
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.core.config import Settings
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message
from size_recorder.django import recorder_environment, recorder_grant_sql
from tests.django.documents.models import Document
from tests.django.project import RecorderRole, s3_event


def test_recorder_grant_sql_names_only_the_recorder_columns() -> None:
    database = connection.settings_dict["NAME"]
    assert recorder_grant_sql(Document, "size_recorder").splitlines() == [
        f'GRANT CONNECT ON DATABASE "{database}" TO "size_recorder";',
        'GRANT USAGE ON SCHEMA "public" TO "size_recorder";',
        'GRANT SELECT ("file", "size_sequencer"),'
        ' UPDATE ("size_bytes", "size_sequencer")'
        ' ON "public"."documents_document" TO "size_recorder";',
    ]


def test_operator_grant_adds_the_size_column_and_temporary_tables() -> None:
    database = connection.settings_dict["NAME"]
    assert recorder_grant_sql(Document, "size_recorder_ops", operator=True).splitlines() == [
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "size_recorder_ops";',
        'GRANT USAGE ON SCHEMA "public" TO "size_recorder_ops";',
        'GRANT SELECT ("file", "size_bytes", "size_sequencer"),'
        ' UPDATE ("size_bytes", "size_sequencer")'
        ' ON "public"."documents_document" TO "size_recorder_ops";',
    ]


def test_recorder_role_runs_the_recorder_update(recorder_role: RecorderRole) -> None:
    Document.objects.create(file="granted/a.pdf")

    env = {**recorder_environment(Document), "DATABASE_URL": recorder_role.database_url}
    settings = Settings.from_env(env)
    store = postgres_store(settings)
    recorder = build_recorder(settings, store)
    store.verify()
    key = env[c.ENV_KEY_PREFIX] + "granted/a.pdf"
    batch = recorder.record([Message("m", s3_event(key, 512, "0A1B"))])
    store.close()

    assert [r.outcome for r in batch.messages[0].records] == [Outcome.RECORDED]
    assert Document.objects.get(file="granted/a.pdf").size_bytes == 512


def test_recorder_role_cannot_update_other_columns(recorder_role: RecorderRole) -> None:
    Document.objects.create(file="granted/b.pdf", title="kept")

    with (
        psycopg.connect(recorder_role.database_url) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("UPDATE documents_document SET title = 'changed'")


def test_recorder_role_cannot_read_other_columns(recorder_role: RecorderRole) -> None:
    with (
        psycopg.connect(recorder_role.database_url) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT title FROM documents_document")


def test_recorder_role_cannot_insert_rows(recorder_role: RecorderRole) -> None:
    with (
        psycopg.connect(recorder_role.database_url) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("INSERT INTO documents_document (file) VALUES ('forged.pdf')")


def test_recorder_environment_describes_the_model_and_storage_prefix() -> None:
    assert recorder_environment(Document) == {
        c.ENV_TABLE: "public.documents_document",
        c.ENV_KEY_COLUMN: "file",
        c.ENV_SIZE_COLUMN: "size_bytes",
        c.ENV_SEQUENCER_COLUMN: "size_sequencer",
        c.ENV_KEY_PREFIX: "media/",
    }


def test_recorder_environment_rejects_model_without_recorded_size_field() -> None:
    with isolate_apps("tests.django.documents"):

        class Plain(models.Model):
            file = models.FileField()

            class Meta:
                app_label = "documents"

        with pytest.raises(ValueError, match=r"documents\.Plain has no RecordedSizeFileField"):
            recorder_environment(Plain)
