# mypy: disable-error-code="import-untyped", allow-subclassing-any
"""The Django app: `INSTALLED_APPS += ["size_recorder.django"]` adds `manage.py size_recorder`
and the system check that points at plain file fields on S3. The fields work without it."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class SizeRecorderConfig(AppConfig):
    name = "size_recorder.django"
    # The module's last component would make the label "django".
    label = "size_recorder"
    verbose_name = "size-recorder"

    def ready(self) -> None:
        from size_recorder.django.checks import plain_file_fields_on_s3

        checks.register(plain_file_fields_on_s3, checks.Tags.models)
