"""Optional Django integration: serve `FileField.size` from the column the recorder fills.

Installed with the `django` extra. Nothing else in `size_recorder` imports this package, so the
Lambda bundle never needs Django. Add "size_recorder.django" to INSTALLED_APPS for
`manage.py size_recorder` and the check that finds plain file fields on S3; the fields and
helpers work without it.
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
    recorder_targets,
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
    "recorder_targets",
    "storage_key_prefix",
]
