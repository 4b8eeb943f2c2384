"""RecordedSizeImageField: an ImageField swapped in without a migration, `.size` from the column,
width and height from their fields, and any subclass described to migrations as its Django base.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.db import models
from PIL import Image

from size_recorder.django import RecordedSizeFileField, RecordedSizeImageField
from tests.django.documents.models import Photo


def _png(width: int, height: int) -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name="photo.png")


def test_image_upload_fills_width_and_height() -> None:
    photo = Photo.objects.create(image=_png(40, 30))

    assert Photo.objects.values_list("width", "height").get(pk=photo.pk) == (40, 30)


def test_image_upload_records_its_size() -> None:
    image = _png(40, 30)

    photo = Photo.objects.create(image=image)

    assert Photo.objects.values_list("size_bytes", flat=True).get(pk=photo.pk) == image.size


def test_image_size_and_dimensions_are_served_without_s3_request(s3_requests: list[str]) -> None:
    photo = Photo.objects.create(image=_png(40, 30))
    s3_requests.clear()

    loaded = Photo.objects.get(pk=photo.pk)

    assert (loaded.image.size, loaded.width, loaded.height) == (photo.size_bytes, 40, 30)
    assert s3_requests == []


def test_image_replaced_under_another_name_updates_dimensions_and_size() -> None:
    photo = Photo.objects.create(image=_png(40, 30))
    bigger = _png(80, 60)

    photo.image.save("bigger.png", bigger)

    assert Photo.objects.values_list("width", "height", "size_bytes").get(pk=photo.pk) == (
        80,
        60,
        bigger.size,
    )


def test_image_field_deconstructs_as_plain_imagefield() -> None:
    _name, path, _args, kwargs = Photo._meta.get_field("image").deconstruct()

    assert (path, kwargs) == (
        "django.db.models.ImageField",
        {"upload_to": "photos/", "width_field": "width", "height_field": "height"},
    )


def test_subclass_mixing_in_imagefield_deconstructs_as_imagefield() -> None:
    class MixedIn(RecordedSizeFileField, models.ImageField):
        pass

    assert MixedIn(width_field="w").deconstruct()[1] == "django.db.models.ImageField"


def test_project_subclass_deconstructs_as_its_django_base() -> None:
    class ProjectImageField(RecordedSizeImageField):
        pass

    assert ProjectImageField().deconstruct()[1] == "django.db.models.ImageField"


def test_image_field_passes_system_checks() -> None:
    assert Photo._meta.get_field("image").check() == []
