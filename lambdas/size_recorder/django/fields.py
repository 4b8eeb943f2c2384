# mypy: disable-error-code="import-untyped", allow-subclassing-any
"""A FileField whose `.size` is read from the row instead of from S3.

`FieldFile.size` asks the storage, which for django-storages' S3Storage is one HEAD request per
file: a list of 100 documents in a serializer, an admin page or a template costs 100 round trips
to S3. The recorder (or Django itself, at save time) keeps the size in a column of the same row,
so the file can answer from there and fall back to the storage only while that column is NULL.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.core.files.base import File
from django.db import models
from django.db.models.fields.files import FieldFile, FileDescriptor


class RecordedSizeFieldFile(FieldFile):
    """A FieldFile that reads its size from the model's recorded column while one is known."""

    field: RecordedSizeFileField

    @property
    def size(self) -> int:
        """The recorded size; the storage's answer (one HEAD on S3) only while none is recorded.

        An uncommitted file (assigned but not saved yet) has no recorded size of its own: it
        answers from its content, exactly as Django's FieldFile does.
        """
        self._require_file()
        if self._committed:
            recorded = self.recorded_size
            if recorded is not None:
                return recorded
        return super().size  # type: ignore[no-any-return]

    @property
    def recorded_size(self) -> int | None:
        """The size column as loaded on the instance; None when it is not recorded yet.

        Never touches the storage, so a serializer may use it to show "unknown" instead of
        paying for a HEAD. A deferred column is loaded from the database like any deferred field.
        """
        value = getattr(self.instance, self.field.size_field)
        return None if value is None else int(value)

    def save(self, name: str, content: File, save: bool = True) -> None:
        """Store the file and record its length, so a Django upload never waits for the event.

        The length is the content's, taken before the storage writes it (the storage may have
        consumed the stream by then). The recorder later writes the object's size from the S3
        event; both agree unless the storage transforms the bytes (e.g. AWS_IS_GZIPPED).
        """
        size = _content_length(content)
        previous = self.name
        super().save(name, content, save=False)
        if self.name != previous:
            self.field.forget_recorded(self.instance)
        setattr(self.instance, self.field.size_field, size)
        if save:
            self.instance.save()

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(self, save: bool = True) -> None:
        """Delete the file and forget what was recorded: it must never outlive its file."""
        if not self:
            return
        super().delete(save=False)
        self.field.forget_recorded(self.instance)
        if save:
            self.instance.save()

    delete.alters_data = True  # type: ignore[attr-defined]


class RecordedSizeFileDescriptor(FileDescriptor):
    """Forgets the recorded size and sequencer when the instance is pointed at another name.

    Without this, `doc.file = "other.pdf"; doc.save()` would keep the old file's size in the
    row and `.size` would serve it for the new file; and the old key's sequencer, compared with
    the new key's events, could make the recorder drop them as stale. The first assignment
    (while the model is built from the database or from keyword arguments) clears nothing.
    """

    field: RecordedSizeFileField

    def __set__(self, instance: models.Model, value: Any) -> None:
        attname = self.field.attname
        if attname in instance.__dict__ and _name_of(instance.__dict__[attname]) != _name_of(value):
            self.field.forget_recorded(instance)
        super().__set__(instance, value)


class RecordedSizeFileField(models.FileField):
    """`models.FileField` plus a recorded size column; a drop-in swap with no data migration.

    `size_field` names the model's nullable integer column that holds the object's size
    (NULL: not recorded yet). `sequencer_field`, when the recorder is configured with one, names
    the text column holding the S3 sequencer of the recorded event: the field clears it when the
    row moves to another file name, and the helpers in `size_recorder.django.recorder` put it in
    the recorder's grants and settings.
    """

    attr_class = RecordedSizeFieldFile
    descriptor_class = RecordedSizeFileDescriptor

    def __init__(
        self,
        *args: Any,
        size_field: str = "size_bytes",
        sequencer_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.size_field = size_field
        self.sequencer_field = sequencer_field
        super().__init__(*args, **kwargs)

    def forget_recorded(self, instance: models.Model) -> None:
        """Clear what the recorder knew about the instance's previous file.

        Sequencers are only comparable for the same key, so one kept from another key could make
        the recorder reject the new key's events as stale.
        """
        setattr(instance, self.size_field, None)
        if self.sequencer_field is not None:
            setattr(instance, self.sequencer_field, None)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        """Describe a plain FileField to migrations, so swapping this field in changes nothing.

        The size column is an ordinary field of its own, and nothing in the database depends on
        which class reads it. Migrations that name `django.db.models.FileField` also keep
        working if this package is ever removed.
        """
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.FileField", args, kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_recorded_size_fields()]

    def _check_recorded_size_fields(self) -> list[checks.CheckMessage]:
        """Catch, at `manage.py check` time, a size column that would silently never be used."""
        opts = self.model._meta
        try:
            size = opts.get_field(self.size_field)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"size_field {self.size_field!r} is not a field of {opts.label}.",
                    hint="Add a nullable BigIntegerField for the recorded size.",
                    obj=self,
                    id="size_recorder.E001",
                )
            ]
        errors: list[checks.CheckMessage] = []
        if not isinstance(size, models.IntegerField) or not size.null:
            errors.append(
                checks.Error(
                    f"size_field {self.size_field!r} must be a nullable integer field.",
                    hint="Use models.BigIntegerField(null=True): NULL means 'not recorded yet'.",
                    obj=self,
                    id="size_recorder.E002",
                )
            )
        elif size.creation_counter < self.creation_counter:
            # Django reads each column's value in declaration order when it builds the INSERT
            # or UPDATE; a size column declared first is read before this field commits the file
            # and records its length.
            errors.append(
                checks.Error(
                    f"size_field {self.size_field!r} is declared before {self.name!r}.",
                    hint=f"Declare {self.size_field!r} after {self.name!r} in the model.",
                    obj=self,
                    id="size_recorder.E003",
                )
            )
        if self.sequencer_field is not None:
            try:
                opts.get_field(self.sequencer_field)
            except FieldDoesNotExist:
                errors.append(
                    checks.Error(
                        f"sequencer_field {self.sequencer_field!r} is not a field of {opts.label}.",
                        obj=self,
                        id="size_recorder.E004",
                    )
                )
        return errors


def _name_of(value: Any) -> str | None:
    """The file name a FileField attribute value stands for (a str, a File, or None)."""
    if isinstance(value, File):
        name: str | None = value.name
        return name
    return value if value is None else str(value)


def _content_length(content: File) -> int | None:
    """The content's length, or None when the object cannot tell (the recorder will fill it)."""
    try:
        return int(content.size)
    except (AttributeError, OSError, TypeError, ValueError):
        return None
