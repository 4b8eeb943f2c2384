"""The test project's only app: a model shaped like the ones teams point the recorder at."""

from __future__ import annotations

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "tests.django.documents"
    label = "documents"
    default_auto_field = "django.db.models.BigAutoField"
