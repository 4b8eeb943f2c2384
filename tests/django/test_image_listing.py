"""A page of 100 images through a DRF serializer reading `image.size`, `width` and `height`:
the S3 requests it costs, with RecordedSizeImageField and with the plain ImageField it replaced.

Run with `-s` to see the figures. Requests are counted on the storage's boto3 client as they
are sent (the `s3_requests` fixture).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.db import models
from django.test.utils import isolate_apps
from PIL import Image
from rest_framework import serializers

from tests.django.documents.models import Photo
from tests.django.documents.serializers import PhotoSerializer
from tests.django.project import DjangoProject

IMAGES = 100


@dataclass(frozen=True, slots=True)
class Uploaded:
    name: str
    width: int
    height: int
    size: int


@pytest.fixture(scope="module")
def uploaded(django_project: DjangoProject) -> list[Uploaded]:
    """100 PNGs uploaded through Django once; what their rows held (the rows are removed, the
    objects stay)."""
    images = []
    for i in range(IMAGES):
        buffer = io.BytesIO()
        Image.new("RGB", (16 + i % 7, 9 + i % 5), "teal").save(buffer, format="PNG")
        photo = Photo.objects.create(image=ContentFile(buffer.getvalue(), name=f"page-{i}.png"))
        images.append(Uploaded(photo.image.name, photo.width, photo.height, photo.size_bytes))
    Photo.objects.all().delete()
    return images


@pytest.fixture
def page(uploaded: list[Uploaded]) -> list[Uploaded]:
    Photo.objects.bulk_create(
        Photo(image=u.name, width=u.width, height=u.height, size_bytes=u.size) for u in uploaded
    )
    return uploaded


def test_page_of_100_images_reads_size_width_height_without_s3_requests(
    page: list[Uploaded], s3_requests: list[str]
) -> None:
    rows = PhotoSerializer(Photo.objects.order_by("id")[:IMAGES], many=True).data

    print(f"\n{IMAGES} images, RecordedSizeImageField: {len(s3_requests)} S3 requests")
    assert [(r["width"], r["height"], r["size"]) for r in rows] == [
        (u.width, u.height, u.size) for u in page
    ]
    assert s3_requests == []


@pytest.fixture
def plain_photo() -> Iterator[type[models.Model]]:
    """The model before the swap: a plain ImageField over the same table."""
    with isolate_apps("tests.django.documents"):

        class PlainPhoto(models.Model):
            image = models.ImageField(
                upload_to="photos/", width_field="width", height_field="height"
            )
            width = models.PositiveIntegerField(null=True, blank=True, editable=False)
            height = models.PositiveIntegerField(null=True, blank=True, editable=False)

            class Meta:
                app_label = "documents"
                db_table = "documents_photo"
                managed = False

        yield PlainPhoto


def test_page_of_100_images_with_plain_image_field_heads_every_row(
    page: list[Uploaded], plain_photo: type[models.Model], s3_requests: list[str]
) -> None:
    class PlainPhotoSerializer(serializers.ModelSerializer):
        size = serializers.IntegerField(source="image.size", read_only=True)

        class Meta:
            model = plain_photo
            fields = ("id", "image", "width", "height", "size")

    rows = PlainPhotoSerializer(plain_photo.objects.order_by("id")[:IMAGES], many=True).data

    print(f"\n{IMAGES} images, plain ImageField: {len(s3_requests)} S3 requests")
    assert [r["size"] for r in rows] == [u.size for u in page]
    assert s3_requests == ["HeadObject"] * IMAGES
