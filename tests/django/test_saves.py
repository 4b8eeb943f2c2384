"""Saves never undo what the recorder wrote, and always clear what belonged to another file.

An ordinary save leaves the size and sequencer columns as the database holds them; a change
the field sees (a stored file, a delete, a new name, however it was set) writes them. The
recorder here is the real one, connected as the role holding only the documented grant.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from tests.django.documents.models import Document, Scan
from tests.django.project import RecordUpload


def _columns(doc: Document) -> tuple[int | None, str | None]:
    """The row's (size_bytes, size_sequencer) as the database holds them."""
    row: tuple[int | None, str | None] = Document.objects.values_list(
        "size_bytes", "size_sequencer"
    ).get(pk=doc.pk)
    return row


def _save_in_failed_transaction(doc: Document) -> None:
    with transaction.atomic():
        doc.save()
        raise RuntimeError("the request failed after the save")


def _unique(name: str) -> str:
    return f"saves-{uuid.uuid4().hex[:8]}/{name}"


# The presigned-upload pattern: the app names the key, the browser uploads it to S3 directly.


def test_presigned_upload_renamed_through_name_clears_recorded_size() -> None:
    doc = Document.objects.create(file="uploads/old.pdf", size_bytes=100)

    doc.file.name = "uploads/new.pdf"
    doc.save()

    assert _columns(doc)[0] is None


def test_presigned_upload_renamed_through_name_clears_recorded_sequencer() -> None:
    doc = Document.objects.create(file="uploads/old.pdf", size_bytes=100, size_sequencer="0A1B")

    doc.file.name = "uploads/new.pdf"
    doc.save()

    assert _columns(doc)[1] is None


def test_renamed_through_name_serves_no_old_size_before_save(s3_requests: list[str]) -> None:
    doc = Document.objects.create(file="uploads/old.pdf", size_bytes=100)

    doc.file.name = "uploads/new.pdf"

    assert doc.file.recorded_size is None
    assert s3_requests == []


def test_deferred_instance_renamed_through_name_clears_recorded_size() -> None:
    created = Document.objects.create(file="uploads/old.pdf", size_bytes=100, size_sequencer="0A")
    doc = Document.objects.only("id", "file").get(pk=created.pk)

    doc.file.name = "uploads/new.pdf"
    doc.save()

    assert _columns(doc) == (None, None)


def test_update_fields_save_of_renamed_file_clears_recorded_size() -> None:
    doc = Document.objects.create(file="uploads/old.pdf", size_bytes=100, size_sequencer="0A")

    doc.file.name = "uploads/new.pdf"
    doc.save(update_fields=["file"])

    assert _columns(doc) == (None, None)


def test_save_after_rolled_back_rename_still_clears_recorded_size() -> None:
    doc = Document.objects.create(file="uploads/old.pdf", size_bytes=100)
    doc.file.name = "uploads/new.pdf"
    with pytest.raises(RuntimeError):
        _save_in_failed_transaction(doc)

    doc.save()

    assert Document.objects.values_list("file", "size_bytes").get(pk=doc.pk) == (
        "uploads/new.pdf",
        None,
    )


# A stale instance: loaded before the object was uploaded and recorded, saved afterwards.


def test_stale_instance_save_keeps_size_the_recorder_wrote(record_upload: RecordUpload) -> None:
    name = _unique("report.pdf")
    doc = Document.objects.create(file=name)
    record_upload(name, 2048, "0A1B")

    doc.title = "uploaded"
    doc.save()

    assert _columns(doc) == (2048, "0A1B")


def test_stale_instance_save_keeps_newer_sequencer_after_overwrite(
    record_upload: RecordUpload,
) -> None:
    name = _unique("report.pdf")
    doc = Document.objects.create(file=name)
    record_upload(name, 100, "0A1B")
    doc = Document.objects.get(pk=doc.pk)
    record_upload(name, 200, "0A1C")  # the key is overwritten after the app loaded the row

    doc.title = "edited"
    doc.save()

    assert _columns(doc) == (200, "0A1C")


def test_stale_instance_keeps_plain_attributes_after_save(record_upload: RecordUpload) -> None:
    name = _unique("report.pdf")
    doc = Document.objects.create(file=name, size_sequencer="0A1A")
    record_upload(name, 2048, "0A1B")

    doc.save()

    assert (doc.size_bytes, doc.size_sequencer) == (None, "0A1A")


def test_stale_instance_renamed_after_recording_clears_recorded_size(
    record_upload: RecordUpload,
) -> None:
    name = _unique("report.pdf")
    doc = Document.objects.create(file=name)
    record_upload(name, 2048, "0A1B")

    doc.file = _unique("other.pdf")
    doc.save()

    assert _columns(doc) == (None, None)


def test_child_instance_saved_again_after_recording_keeps_its_size(
    record_upload: RecordUpload,
) -> None:
    # Multi-table inheritance: the save is sent under the child's class, the columns are the
    # parent's. The rename's save must leave the instance knowing the row holds its change.
    scan = Scan.objects.create(file=_unique("placeholder.pdf"))
    name = _unique("scan.pdf")
    scan.file = name
    scan.save()
    record_upload(name, 4096, "0A1B")

    scan.pages = 12
    scan.save()

    assert _columns(scan) == (4096, "0A1B")


def test_save_with_size_in_update_fields_writes_it() -> None:
    doc = Document.objects.create(file="uploads/a.pdf")

    doc.size_bytes = 512
    doc.save(update_fields=["size_bytes"])

    assert _columns(doc)[0] == 512


# A deferred instance (`.only("id", "file")`) storing new content under the same key.


def test_deferred_instance_storing_new_file_records_its_size() -> None:
    created = Document.objects.create(file=ContentFile(b"abc", name="deferred.txt"))
    doc = Document.objects.only("id", "file").get(pk=created.pk)

    doc.file = ContentFile(b"12345678", name="deferred.txt")
    doc.save()

    assert _columns(doc)[0] == 8


def test_deferred_instance_overwriting_same_key_keeps_sequencer() -> None:
    created = Document.objects.create(file=ContentFile(b"abc", name="same-key.txt"))
    Document.objects.filter(pk=created.pk).update(size_sequencer="0A1B")
    doc = Document.objects.only("id", "file").get(pk=created.pk)

    doc.file = ContentFile(b"12345678", name="same-key.txt")
    doc.save()

    assert _columns(doc) == (8, "0A1B")


# bulk_update, like QuerySet.update, calls no field code: docs/django.md gives the recipe.


def test_bulk_update_listing_size_fields_clears_old_sizes() -> None:
    docs = [
        Document.objects.create(file=f"uploads/{i}.pdf", size_bytes=i + 1, size_sequencer="0A")
        for i in range(3)
    ]
    for doc in docs:
        doc.file = doc.file.name.replace("uploads/", "moved/")

    Document.objects.bulk_update(docs, ["file", "size_bytes", "size_sequencer"])

    assert set(Document.objects.values_list("size_bytes", "size_sequencer")) == {(None, None)}
