"""The swap to RecordedSizeFileField needs no migration; the size column's migration is sound."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db import connection

from tests.django.documents.models import Document


def test_field_deconstructs_as_plain_filefield() -> None:
    _name, path, _args, kwargs = Document._meta.get_field("file").deconstruct()

    assert (path, kwargs) == (
        "django.db.models.FileField",
        {"upload_to": "uploads/", "max_length": 1024},
    )


def test_makemigrations_detects_no_changes_after_the_swap() -> None:
    out = io.StringIO()

    # --check exits non-zero when the models and the migrations disagree.
    call_command("makemigrations", "documents", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


def test_migration_adds_nullable_bigint_size_column() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type, is_nullable FROM information_schema.columns"
            " WHERE table_name = 'documents_document' AND column_name = 'size_bytes'"
        )
        assert cursor.fetchone() == ("bigint", "YES")


def test_migration_indexes_the_key_column() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'documents_document'"
            " AND indexname = 'documents_file_idx'"
        )
        (indexdef,) = cursor.fetchone()

    assert indexdef.endswith("(file)")
