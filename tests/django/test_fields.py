"""RecordedSizeFileField: `.size` from the row, the storage only as a fallback, the column kept
in step with every file Django writes."""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.db import models
from django.test.utils import isolate_apps

from size_recorder.django import RecordedSizeFileField
from tests.django.documents.models import Document
from tests.django.project import DjangoProject


def _upload_outside_django(project: DjangoProject, body: bytes) -> str:
    """Put an object the way another service would; return its FileField name."""
    name = f"outside/{uuid.uuid4().hex}.bin"
    project.s3_client().put_object(Bucket=project.bucket, Key=project.key_prefix + name, Body=body)
    return name


def test_size_returns_recorded_column_without_s3_request(s3_requests: list[str]) -> None:
    doc = Document.objects.create(file="never/uploaded.pdf", size_bytes=1234)
    s3_requests.clear()

    assert Document.objects.get(pk=doc.pk).file.size == 1234
    assert s3_requests == []


def test_size_falls_back_to_one_head_when_column_is_null(
    django_project: DjangoProject, s3_requests: list[str]
) -> None:
    name = _upload_outside_django(django_project, b"x" * 42)
    doc = Document.objects.create(file=name)
    s3_requests.clear()

    assert Document.objects.get(pk=doc.pk).file.size == 42
    assert s3_requests == ["HeadObject"]


def test_size_of_unsaved_file_is_its_content_length(s3_requests: list[str]) -> None:
    doc = Document(file=ContentFile(b"hello", name="unsaved.txt"), size_bytes=999)

    assert doc.file.size == 5
    assert s3_requests == []


def test_save_fills_column_from_content_length() -> None:
    doc = Document.objects.create(file=ContentFile(b"abcdefg", name="saved.txt"))

    assert Document.objects.values_list("size_bytes", flat=True).get(pk=doc.pk) == 7


def test_fieldfile_save_fills_column_from_content_length() -> None:
    doc = Document.objects.create(file="placeholder.txt")

    doc.file.save("through-fieldfile.txt", ContentFile(b"0123456789"))

    assert Document.objects.values_list("size_bytes", flat=True).get(pk=doc.pk) == 10


def test_bulk_create_fills_column_from_content_length() -> None:
    Document.objects.bulk_create([Document(file=ContentFile(b"abc", name="bulk.txt"))])

    assert list(Document.objects.values_list("size_bytes", flat=True)) == [3]


def test_saved_file_size_is_served_without_s3_request(s3_requests: list[str]) -> None:
    doc = Document.objects.create(file=ContentFile(b"abcdefg", name="served.txt"))
    s3_requests.clear()

    assert Document.objects.get(pk=doc.pk).file.size == 7
    assert s3_requests == []


def test_delete_clears_recorded_size() -> None:
    doc = Document.objects.create(file=ContentFile(b"abc", name="deleted.txt"))

    doc.file.delete()

    assert Document.objects.values_list("size_bytes", flat=True).get(pk=doc.pk) is None


def test_assigning_another_name_clears_recorded_size() -> None:
    doc = Document.objects.create(file="first.pdf", size_bytes=100)

    doc.file = "second.pdf"
    doc.save()

    assert Document.objects.values_list("size_bytes", flat=True).get(pk=doc.pk) is None


def test_assigning_another_name_clears_recorded_sequencer() -> None:
    doc = Document.objects.create(file="first.pdf", size_bytes=100, size_sequencer="0A1B")

    doc.file = "second.pdf"
    doc.save()

    assert Document.objects.values_list("size_sequencer", flat=True).get(pk=doc.pk) is None


def test_fieldfile_save_under_new_name_clears_recorded_sequencer() -> None:
    doc = Document.objects.create(file="old.txt", size_bytes=1, size_sequencer="0A1B")

    doc.file.save("new.txt", ContentFile(b"abc"))

    assert Document.objects.values_list("size_sequencer", flat=True).get(pk=doc.pk) is None


def test_loading_from_database_keeps_recorded_size() -> None:
    Document.objects.create(file="kept.pdf", size_bytes=100)

    assert Document.objects.get(file="kept.pdf").file.recorded_size == 100


def test_recorded_size_is_none_while_not_recorded(s3_requests: list[str]) -> None:
    doc = Document.objects.create(file="unknown.pdf")

    assert Document.objects.get(pk=doc.pk).file.recorded_size is None
    assert s3_requests == []


def _check_ids(**fields: models.Field) -> list[str]:
    """The check ids a model with these fields (in this order) gets for its `file` field."""
    with isolate_apps("tests.django.documents"):
        meta = type("Meta", (), {"app_label": "documents"})
        model = type("Checked", (models.Model,), {"__module__": __name__, "Meta": meta, **fields})
        return [error.id for error in model._meta.get_field("file").check()]


def test_check_reports_missing_size_field() -> None:
    assert "size_recorder.E001" in _check_ids(file=RecordedSizeFileField())


def test_check_reports_size_field_that_is_not_nullable_integer() -> None:
    ids = _check_ids(file=RecordedSizeFileField(), size_bytes=models.BigIntegerField())

    assert "size_recorder.E002" in ids


def test_check_reports_size_field_declared_before_file_field() -> None:
    size_bytes = models.BigIntegerField(null=True)  # created first, so declared first

    ids = _check_ids(size_bytes=size_bytes, file=RecordedSizeFileField())

    assert "size_recorder.E003" in ids


def test_check_reports_missing_sequencer_field() -> None:
    ids = _check_ids(
        file=RecordedSizeFileField(sequencer_field="size_sequencer"),
        size_bytes=models.BigIntegerField(null=True),
    )

    assert "size_recorder.E004" in ids


def test_check_reports_32_bit_size_column() -> None:
    # A 3 GiB upload would reach S3 and then fail the save; the recorder refuses it at start-up.
    ids = _check_ids(file=RecordedSizeFileField(), size_bytes=models.IntegerField(null=True))

    assert "size_recorder.E002" in ids


def test_check_accepts_positive_big_integer_size_column() -> None:
    ids = _check_ids(
        file=RecordedSizeFileField(), size_bytes=models.PositiveBigIntegerField(null=True)
    )

    assert ids == []


def test_check_reports_sequencer_field_that_is_not_nullable_text() -> None:
    # Every rename stores NULL there: a NOT NULL column would make it raise IntegrityError.
    ids = _check_ids(
        file=RecordedSizeFileField(sequencer_field="size_sequencer"),
        size_bytes=models.BigIntegerField(null=True),
        size_sequencer=models.CharField(max_length=64, blank=True, default=""),
    )

    assert "size_recorder.E005" in ids


def test_check_reports_sequencer_field_declared_before_file_field() -> None:
    size_sequencer = models.TextField(null=True)  # created first, so declared first

    ids = _check_ids(
        size_sequencer=size_sequencer,
        file=RecordedSizeFileField(sequencer_field="size_sequencer"),
        size_bytes=models.BigIntegerField(null=True),
    )

    assert "size_recorder.E003" in ids


def test_check_reports_two_fields_sharing_one_size_column() -> None:
    ids = _check_ids(
        file=RecordedSizeFileField(),
        thumbnail=RecordedSizeFileField(),
        size_bytes=models.BigIntegerField(null=True),
    )

    assert "size_recorder.E006" in ids


def test_check_accepts_the_documented_model() -> None:
    assert Document._meta.get_field("file").check() == []


def test_field_keeps_filefield_arguments() -> None:
    field = Document._meta.get_field("file")

    assert (field.upload_to, field.max_length) == ("uploads/", 1024)
