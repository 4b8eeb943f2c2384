"""The recorder's database role: it may do the recorder's UPDATE and nothing else.

The role is created with exactly `recorder_grant_sql(Document, role)`, the SQL docs/django.md
prints. The statement below has the shape of the recorder's write: rows from unnest(...) arrays,
a guard that reads the stored size and sequencer, RETURNING the key.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import models
from django.test.utils import isolate_apps
from psycopg import errors

from size_recorder.django import recorder_environment, recorder_grant_sql
from tests.django.conftest import RecorderRole
from tests.django.documents.models import Document

RECORDER_UPDATE = (
    "UPDATE documents_document AS t"
    " SET size_bytes = v.size, size_sequencer = COALESCE(v.seq, t.size_sequencer)"
    " FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS v(name, size, seq)"
    " WHERE t.file = v.name"
    " AND (t.size_sequencer IS NULL OR t.size_sequencer < v.seq)"
    " AND t.size_bytes IS DISTINCT FROM v.size"
    " RETURNING t.file"
)


def test_recorder_grant_sql_names_only_the_recorder_columns() -> None:
    assert recorder_grant_sql(Document, "size_recorder") == (
        'GRANT SELECT ("file", "size_bytes", "size_sequencer"),'
        ' UPDATE ("size_bytes", "size_sequencer")'
        ' ON "documents_document" TO "size_recorder";'
    )


def test_recorder_role_runs_the_recorder_update(recorder_role: RecorderRole) -> None:
    Document.objects.create(file="granted/a.pdf")

    with psycopg.connect(recorder_role.database_url) as conn:
        returned = conn.execute(RECORDER_UPDATE, (["granted/a.pdf"], [512], ["0A1B"])).fetchall()

    assert returned == [("granted/a.pdf",)]
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
        "SIZE_RECORDER_TABLE": "documents_document",
        "SIZE_RECORDER_KEY_COLUMN": "file",
        "SIZE_RECORDER_SIZE_COLUMN": "size_bytes",
        "SIZE_RECORDER_SEQUENCER_COLUMN": "size_sequencer",
        "SIZE_RECORDER_KEY_PREFIX": "media/",
    }


def test_recorder_environment_rejects_model_without_recorded_size_field() -> None:
    with isolate_apps("tests.django.documents"):

        class Plain(models.Model):
            file = models.FileField()

            class Meta:
                app_label = "documents"

        with pytest.raises(ValueError, match="0 RecordedSizeFileFields"):
            recorder_environment(Plain)
