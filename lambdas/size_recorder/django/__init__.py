"""Optional Django integration: serve `FileField.size` from the column the recorder fills.

Installed with the `django` extra. Nothing else in `size_recorder` imports this package, so the
Lambda bundle never needs Django.
"""

from __future__ import annotations

from size_recorder.django.fields import (
    RecordedSizeFieldFile,
    RecordedSizeFileDescriptor,
    RecordedSizeFileField,
    RecordedSizeImageField,
    RecordedSizeImageFieldFile,
)
from size_recorder.django.recorder import (
    recorded_size_field,
    recorder_environment,
    recorder_grant_sql,
    storage_key_prefix,
)

__all__ = [
    "RecordedSizeFieldFile",
    "RecordedSizeFileDescriptor",
    "RecordedSizeFileField",
    "RecordedSizeImageField",
    "RecordedSizeImageFieldFile",
    "recorded_size_field",
    "recorder_environment",
    "recorder_grant_sql",
    "storage_key_prefix",
]
