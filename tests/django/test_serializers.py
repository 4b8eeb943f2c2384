"""A DRF ModelSerializer listing documents with `file.size`: S3 requests only for unknown sizes.

The serializer is the one a team already has (`size = IntegerField(source="file.size")`); only
the model field changed. Requests are counted on the storage's boto3 client as they are sent.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.django.documents.models import Document
from tests.django.documents.serializers import DocumentSerializer
from tests.django.project import DjangoProject

DOCUMENTS = 100
NOT_RECORDED = 37  # rows from before the recorder ran: size_bytes still NULL


@pytest.fixture(scope="module")
def listing_objects(django_project: DjangoProject) -> dict[str, int]:
    """100 objects uploaded outside Django, each with its own length; FileField name → size."""
    client = django_project.s3_client()
    run = uuid.uuid4().hex[:8]
    objects = {f"listing-{run}/doc-{i:03}.txt": i + 1 for i in range(DOCUMENTS)}
    for name, size in objects.items():
        client.put_object(
            Bucket=django_project.bucket, Key=django_project.key_prefix + name, Body=b"x" * size
        )
    return objects


@pytest.fixture
def listed(listing_objects: dict[str, int]) -> dict[str, int]:
    """One row per object, sizes recorded except for the first NOT_RECORDED rows."""
    Document.objects.bulk_create(
        Document(file=name, size_bytes=None if i < NOT_RECORDED else size)
        for i, (name, size) in enumerate(listing_objects.items())
    )
    return listing_objects


def _serialize_all() -> list[dict[str, object]]:
    return list(DocumentSerializer(Document.objects.order_by("id"), many=True).data)


def test_serializer_lists_recorded_sizes_without_s3_requests(
    listing_objects: dict[str, int], s3_requests: list[str]
) -> None:
    Document.objects.bulk_create(
        Document(file=name, size_bytes=size) for name, size in listing_objects.items()
    )

    rows = _serialize_all()

    assert len(rows) == DOCUMENTS
    assert s3_requests == []


def test_serializer_heads_once_per_unrecorded_size(
    listed: dict[str, int], s3_requests: list[str]
) -> None:
    _serialize_all()

    assert s3_requests == ["HeadObject"] * NOT_RECORDED


def test_serializer_sizes_match_the_objects(listed: dict[str, int]) -> None:
    rows = _serialize_all()

    assert [row["size"] for row in rows] == list(listed.values())


def test_serializer_upload_fills_column_at_save() -> None:
    serializer = DocumentSerializer(
        data={"title": "upload", "file": SimpleUploadedFile("upload.txt", b"12345")}
    )
    serializer.is_valid(raise_exception=True)

    doc = serializer.save()

    assert Document.objects.values_list("size_bytes", flat=True).get(pk=doc.pk) == 5
