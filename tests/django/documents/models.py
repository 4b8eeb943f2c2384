"""The test app's models after the swap: each file field became its recorded-size variant, and
nothing else moved."""

from __future__ import annotations

from django.db import models

from size_recorder.django import RecordedSizeFileField, RecordedSizeImageField


class Document(models.Model):
    title = models.CharField(max_length=200, blank=True, default="")
    # Swapped from models.FileField(upload_to="uploads/", max_length=1024): no migration.
    file = RecordedSizeFileField(
        upload_to="uploads/",
        max_length=1024,
        size_field="size_bytes",
        sequencer_field="size_sequencer",
    )
    # Added by migration 0002; NULL means "not recorded yet" and makes .size ask S3.
    size_bytes = models.BigIntegerField(null=True, blank=True, editable=False)
    size_sequencer = models.TextField(null=True, blank=True, editable=False)

    class Meta:
        # The recorder finds rows by the file name: without an index each batch scans the table.
        indexes = [models.Index(fields=["file"], name="documents_file_idx")]  # noqa: RUF012 Django reads Meta attributes, never mutates them

    def __str__(self) -> str:
        return self.title or self.file.name


class Photo(models.Model):
    # Swapped from models.ImageField(upload_to="photos/", width_field=..., height_field=...).
    image = RecordedSizeImageField(
        upload_to="photos/",
        width_field="width",
        height_field="height",
        size_field="size_bytes",
    )
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    size_bytes = models.BigIntegerField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return self.image.name


class Scan(Document):
    """A multi-table child: its file, size and sequencer live in the parent's table."""

    pages = models.PositiveIntegerField(default=1)
