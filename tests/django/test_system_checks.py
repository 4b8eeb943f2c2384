"""`size_recorder.W001`: a plain FileField or ImageField on S3 sends a HEAD per `.size` read.

The check is registered by the app (`size_recorder.django` in INSTALLED_APPS) and run here as
`manage.py check` runs it, over models declared in an isolated app registry.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps.registry import Apps
from django.core import checks
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from size_recorder.django import RecordedSizeFileField


@pytest.fixture
def isolated() -> Iterator[Apps]:
    with isolate_apps("tests.django.documents") as registry:
        yield registry


def _model_checks(registry: Apps) -> list[checks.CheckMessage]:
    return [
        message
        for message in checks.run_checks(
            app_configs=registry.get_app_configs(), tags=[checks.Tags.models]
        )
        if message.id.startswith("size_recorder.")
    ]


def test_plain_file_field_on_s3_is_warned_with_its_swap(isolated: Apps) -> None:
    class Invoice(models.Model):
        file = models.FileField(upload_to="invoices/")

        class Meta:
            app_label = "documents"

    (warning,) = _model_checks(isolated)

    assert (warning.id, warning.level, warning.obj) == (
        "size_recorder.W001",
        checks.WARNING,
        Invoice._meta.get_field("file"),
    )
    assert warning.msg.startswith("A plain FileField on S3: each `.size` it serves is a HEAD")
    assert "size_recorder.django.RecordedSizeFileField" in warning.hint


def test_plain_image_field_on_s3_is_pointed_at_the_image_variant(isolated: Apps) -> None:
    class Avatar(models.Model):
        image = models.ImageField(upload_to="avatars/")

        class Meta:
            app_label = "documents"

    (warning,) = _model_checks(isolated)

    assert "size_recorder.django.RecordedSizeImageField" in warning.hint


def test_plain_file_field_on_local_disk_is_not_warned(isolated: Apps) -> None:
    class Export(models.Model):
        file = models.FileField(storage=FileSystemStorage(location="/srv/app/exports"))

        class Meta:
            app_label = "documents"

    assert _model_checks(isolated) == []


def test_recorded_file_field_is_not_warned(isolated: Apps) -> None:
    class Invoice(models.Model):
        file = RecordedSizeFileField(upload_to="invoices/")
        size_bytes = models.BigIntegerField(null=True, blank=True, editable=False)

        class Meta:
            app_label = "documents"

    assert _model_checks(isolated) == []


def test_multi_table_child_is_not_warned_again_for_its_parents_field(isolated: Apps) -> None:
    class Invoice(models.Model):
        file = models.FileField(upload_to="invoices/")

        class Meta:
            app_label = "documents"

    class CreditNote(Invoice):
        class Meta:
            app_label = "documents"

    assert [w.obj.model for w in _model_checks(isolated)] == [Invoice]


@override_settings(SILENCED_SYSTEM_CHECKS=["size_recorder.W001"])
def test_warning_is_silenced_by_its_id(isolated: Apps) -> None:
    class Invoice(models.Model):
        file = models.FileField(upload_to="invoices/")

        class Meta:
            app_label = "documents"

    # What `manage.py check` asks of each message before it shows or counts it.
    assert [w.is_silenced() for w in _model_checks(isolated)] == [True]
