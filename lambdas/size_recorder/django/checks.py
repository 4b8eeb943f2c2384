# mypy: disable-error-code="import-untyped"
"""System checks that look across models, registered by the app (`size_recorder.django`).

The fields check their own setup (`size_recorder.E001`..`E006`, in fields.py); this module
looks for the fields that were never swapped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import AppConfig, apps
from django.core import checks
from django.db import models

from size_recorder.django.fields import RecordedSizeFileField

PLAIN_FILE_FIELD_ON_S3 = "size_recorder.W001"


def plain_file_fields_on_s3(
    app_configs: Iterable[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn for each plain FileField or ImageField whose storage is django-storages' S3Storage.

    Its `.size` is a HEAD request per file, so a page listing 100 rows with their sizes sends
    100 requests to S3. Whether a model is ever listed cannot be seen from its code, so every
    such field is reported; `SILENCED_SYSTEM_CHECKS = ["size_recorder.W001"]` silences them.
    """
    try:
        # Imported here: it imports boto3, and a project without django-storages has no S3.
        from storages.backends.s3 import S3Storage
    except ImportError:
        return []
    configs = apps.get_app_configs() if app_configs is None else app_configs
    return [
        _warning(field)
        for config in configs
        for model in config.get_models()
        # Local fields: a multi-table child's inherited field is reported on its parent.
        for field in model._meta.local_fields
        if isinstance(field, models.FileField)
        and not isinstance(field, RecordedSizeFileField)
        and isinstance(field.storage, S3Storage)
    ]


def _warning(field: models.FileField) -> checks.Warning:
    kind = "ImageField" if isinstance(field, models.ImageField) else "FileField"
    return checks.Warning(
        # Django prints the field's label before the message.
        f"A plain {kind} on S3: each `.size` it serves is a HEAD request to S3, one per row"
        " in a list.",
        hint=f"Swap in size_recorder.django.RecordedSize{kind} with a size column (no"
        " migration for the swap; see the size-recorder Django guide), or silence"
        f" {PLAIN_FILE_FIELD_ON_S3} in SILENCED_SYSTEM_CHECKS.",
        obj=field,
        id=PLAIN_FILE_FIELD_ON_S3,
    )
