"""The size recorded at save is the number of bytes the storage received, or NULL, never a guess.

`content.size` is only what the object claims. Each case below is one where it lies; the object
the storage wrote (read back with a HEAD) is the truth the column must match or leave to the
recorder.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import uuid

from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.db import models
from django.test.utils import isolate_apps
from storages.backends.s3 import S3Storage

from size_recorder.django import RecordedSizeFileField
from tests.django.documents.models import Document

TEXT = "Größenangabe für Straßenbahnfahrkarten: " * 3  # multi-byte in UTF-8


def _recorded(doc: Document) -> int | None:
    size: int | None = Document.objects.values_list("size_bytes", flat=True).get(pk=doc.pk)
    return size


def test_text_content_records_no_size() -> None:
    # 120 characters, 132 bytes in UTF-8; what S3 ends up holding is the storage's business
    # (django-storages declares the character count: moto keeps 120 bytes, S3 refuses the PUT).
    doc = Document.objects.create(file=ContentFile(TEXT, name="text.txt"))

    assert _recorded(doc) is None


def test_unflushed_temporary_file_records_every_byte_written() -> None:
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(b"x" * 1000)  # still in the write buffer: the file on disk is empty

        doc = Document.objects.create(file=File(tmp, name="buffered.bin"))

    assert _recorded(doc) == 1000


def test_pipe_records_no_size() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"p" * 300)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        doc = Document.objects.create(file=File(pipe, name="piped.bin"))

    assert _recorded(doc) is None


def test_upload_with_wrong_declared_size_records_its_bytes() -> None:
    body = b"u" * 20_000
    upload = InMemoryUploadedFile(
        io.BytesIO(body),
        field_name="file",
        name="declared.bin",
        content_type="application/octet-stream",
        size=sys.getsizeof(body),  # a common mistake: the Python object's size, not the data's
        charset=None,
    )

    doc = Document.objects.create(file=upload)

    assert _recorded(doc) == 20_000


def test_compressing_storage_records_no_size() -> None:
    # AWS_IS_GZIPPED: the object S3 holds is the compressed body, of a size Django never sees.
    with isolate_apps("tests.django.documents"):

        class Compressed(models.Model):
            file = RecordedSizeFileField(storage=S3Storage(gzip=True))
            size_bytes = models.BigIntegerField(null=True)

            class Meta:
                app_label = "documents"

        doc = Compressed()
        doc.file.save(f"gzip-{uuid.uuid4().hex[:8]}.css", ContentFile(b"a{}" * 500), save=False)

    assert doc.size_bytes is None
