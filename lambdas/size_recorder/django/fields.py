# mypy: disable-error-code="import-untyped", allow-subclassing-any
"""A FileField (and an ImageField) whose `.size` is read from the row instead of from S3.

`FieldFile.size` asks the storage, which for django-storages' S3Storage is one HEAD request per
file: a list of 100 documents in a serializer, an admin page or a template costs 100 round trips
to S3. The recorder (or Django itself, at save time) keeps the size in a column of the same row,
so the file can answer from there and fall back to the storage only while that column is NULL.

The size and sequencer columns belong to the recorder and to this field. An ordinary `save()`
leaves them as the database holds them; only a change this field sees (a stored file, a delete,
a new name, however it was set) writes them. Otherwise an instance loaded before the recorder
ran would write back the NULL, or the older size and sequencer, it loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.core.files.base import File
from django.db import models, transaction
from django.db.models.fields.files import (
    FieldFile,
    FileDescriptor,
    ImageFieldFile,
    ImageFileDescriptor,
)
from django.db.models.signals import post_save


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What an instance's size and sequencer attributes describe.

    `name` is the file they belong to. `unsaved` means this field set them (a stored file, a
    delete, a new name) and the row may not hold them yet, so the next save writes them.
    Replaced, never mutated: a copied or pickled instance shares the object.
    """

    name: str
    unsaved: bool


class _KeepColumn(models.F):
    """Stands in for a size or sequencer attribute during one UPDATE: the column keeps its value.

    The file field's `pre_save` puts it on the instance; Django then reads each column's value
    from the instance (the size and sequencer fields come after the file field: check E003) and
    resolves expressions right before it runs the UPDATE, which writes `column = column`. At that
    moment the instance gets its own value back, so the app never sees the stand-in.
    """

    def __init__(self, instance: models.Model, field: models.Field, value: Any) -> None:
        super().__init__(field.name)
        self.instance = instance
        self.attname = field.attname
        self.value = value

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        self.restore()
        return super().resolve_expression(*args, **kwargs)

    def restore(self) -> None:
        if self.instance.__dict__.get(self.attname) is self:
            self.instance.__dict__[self.attname] = self.value


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
        paying for a HEAD. None as well while the file's name differs from the one the column
        describes (`doc.file.name = ...`, not saved yet). A deferred column is loaded from the
        database like any deferred field.
        """
        if self.field.recorded(self.instance).name != (self.name or ""):
            return None
        value = _unwrapped(getattr(self.instance, self.field.size_field))
        return None if value is None else int(value)

    def save(self, name: str, content: File, save: bool = True) -> None:
        """Store the file and record the bytes the storage received (or None when unknown).

        The length is measured before the storage reads the content (it may consume the
        stream). The recorder later writes the object's size from the S3 event; both agree.
        """
        size = _stored_length(content, self.storage)
        super().save(name, content, save=False)
        self.field.record(self.instance, self.name or "", size)
        if save:
            self.instance.save()

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(self, save: bool = True) -> None:
        """Delete the file and forget what was recorded: it must never outlive its file."""
        if not self:
            return
        super().delete(save=False)
        self.field.record(self.instance, "", None)
        if save:
            self.instance.save()

    delete.alters_data = True  # type: ignore[attr-defined]


class RecordedSizeImageFieldFile(RecordedSizeFieldFile, ImageFieldFile):
    """An ImageFieldFile (`width`, `height`) whose size is read from the recorded column."""


class RecordedSizeFileDescriptor(FileDescriptor):
    """Notes what the size attributes describe, and forgets them when the name moves away.

    The first assignment (while the model is built from the database or from keyword
    arguments) says which file the loaded size and sequencer belong to. Assigning another
    stored name later (`doc.file = "other.pdf"`) clears them at once, so `.size` never serves
    the old file's size. Assigning new content (a `File`) waits for the save: only the name the
    storage gives it says whether the key changed. Renames that bypass the descriptor
    (`doc.file.name = ...`) are caught when the instance is saved.
    """

    field: RecordedSizeFileField

    def __set__(self, instance: models.Model, value: Any) -> None:
        field = self.field
        if field.attname not in instance.__dict__:
            instance.__dict__[field.state_key] = _Recorded(_name_of(value), unsaved=False)
        elif not _is_new_content(value):
            name = _name_of(value)
            if name != _name_of(instance.__dict__[field.attname]):
                field.record(instance, name, None)
        super().__set__(instance, value)


class RecordedSizeImageFileDescriptor(RecordedSizeFileDescriptor, ImageFileDescriptor):
    """Both: the recorded attributes follow the name, and width/height follow the image."""


class RecordedSizeFileField(models.FileField):
    """`models.FileField` plus a recorded size column; a drop-in swap with no data migration.

    `size_field` names the model's nullable 64-bit integer field that holds the object's size
    (NULL: not recorded yet). `sequencer_field`, when the recorder is configured with one, names
    the nullable text field holding the S3 sequencer of the recorded event: the field clears it
    when the row moves to another file name, and the helpers in `size_recorder.django.recorder`
    put it in the recorder's grants and settings.
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

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        self.state_key = f"_recorded_size_{self.attname}"
        if not cls._meta.abstract:
            # Every sender: a proxy's or a multi-table child's save is sent under its own class.
            post_save.connect(self._saved)

    def recorded(self, instance: models.Model) -> _Recorded:
        """What the instance's size and sequencer attributes describe.

        An instance without that note (unpickled from a cache written by an older release) is
        taken at its word: its attributes describe its file and are written on save.
        """
        recorded: _Recorded | None = instance.__dict__.get(self.state_key)
        if recorded is None:
            return _Recorded(_name_of(instance.__dict__.get(self.attname)), unsaved=True)
        return recorded

    def record(self, instance: models.Model, name: str, size: int | None) -> None:
        """The instance's file is now `name`, of `size` bytes (None: unknown); save writes both.

        Sequencers are only comparable for the same key, so one kept from another key could make
        the recorder reject the new key's events as stale; the same key keeps its sequencer, so
        an older event arriving late still loses.
        """
        if self.sequencer_field is not None and name != self.recorded(instance).name:
            setattr(instance, self.sequencer_field, None)
        setattr(instance, self.size_field, size)
        instance.__dict__[self.state_key] = _Recorded(name, unsaved=True)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        """Commit the file, then decide whether this save writes the size and sequencer columns.

        They are written when this field changed them, on every INSERT, and for an instance
        that was never saved. Otherwise they keep what the database holds: the recorder may
        have written them since this instance was loaded.
        """
        file = super().pre_save(model_instance, add)
        name = file.name or ""
        recorded_fields = self._recorded_fields()
        for field in recorded_fields:
            # A previous save that failed before its UPDATE ran may have left a stand-in.
            value = model_instance.__dict__.get(field.attname)
            if isinstance(value, _KeepColumn):
                value.restore()
        if name != self.recorded(model_instance).name:
            # Renamed around the descriptor, e.g. `doc.file.name = "uploads/new.pdf"`.
            self.record(model_instance, name, None)
        if not (add or model_instance._state.adding or self.recorded(model_instance).unsaved):
            for field in recorded_fields:
                # A deferred column is not in this UPDATE at all.
                if field.attname in model_instance.__dict__:
                    value = model_instance.__dict__[field.attname]
                    model_instance.__dict__[field.attname] = _KeepColumn(
                        model_instance, field, value
                    )
        return file

    def _saved(
        self,
        sender: type[models.Model],
        instance: models.Model,
        created: bool,
        update_fields: frozenset[str] | None,
        using: str,
        **kwargs: Any,
    ) -> None:
        """After a save that wrote this field's change: the row holds it once committed.

        A save limited to some fields, by `update_fields` or because the instance was loaded
        with `.only(...)`, was fixed before `pre_save` could see the file change; the size and
        sequencer it set are written by a second UPDATE of the row that names the file.
        """
        if not isinstance(instance, self.model) or not _includes(update_fields, self):
            return
        recorded = self.recorded(instance)
        if not recorded.unsaved:
            return
        if not created and update_fields is not None:
            left_out = {
                field.name: instance.__dict__[field.attname]
                for field in self._recorded_fields()
                if field.attname in instance.__dict__ and not _includes(update_fields, field)
            }
            if left_out:
                self.model._base_manager.using(using).filter(
                    pk=instance.pk, **{self.attname: recorded.name}
                ).update(**left_out)
        # Only a commit makes the row hold them: after a rollback the next save writes them again.
        transaction.on_commit(partial(self._committed, instance, recorded), using=using)

    def _committed(self, instance: models.Model, recorded: _Recorded) -> None:
        if instance.__dict__.get(self.state_key) is recorded:
            instance.__dict__[self.state_key] = replace(recorded, unsaved=False)

    def _recorded_names(self) -> list[str]:
        """The size field's name, and the sequencer field's when there is one."""
        if self.sequencer_field is None:
            return [self.size_field]
        return [self.size_field, self.sequencer_field]

    def _recorded_fields(self) -> list[models.Field]:
        return [self.model._meta.get_field(name) for name in self._recorded_names()]

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        """Describe the Django field this one extends, so swapping it in changes nothing.

        That is `FileField` here, `ImageField` for `RecordedSizeImageField`, and whatever
        non-recording field class a subclass mixes in. The size column is an ordinary field of
        its own, and nothing in the database depends on which class reads it. Migrations that
        name the Django class also keep working if this package is ever removed.
        """
        name, _path, args, kwargs = super().deconstruct()
        base = next(c for c in type(self).__mro__ if not issubclass(c, RecordedSizeFileField))
        path = f"{base.__module__}.{base.__qualname__}"
        if base.__module__.startswith("django.db.models.fields"):
            path = f"django.db.models.{base.__qualname__}"
        return name, path, args, kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_recorded_size_fields()]

    def _check_recorded_size_fields(self) -> list[checks.CheckMessage]:
        """Catch, at `manage.py check` time, setups that would fail or record wrong sizes."""
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
        # 64 bits: the recorder refuses a smaller column at start-up, and an object over 2 GiB
        # would fail the save after it is already in S3.
        if not isinstance(size, models.BigIntegerField) or not size.null:
            errors.append(
                checks.Error(
                    f"size_field {self.size_field!r} must be a nullable 64-bit integer field.",
                    hint="Use models.BigIntegerField(null=True): NULL means 'not recorded yet'.",
                    obj=self,
                    id="size_recorder.E002",
                )
            )
        recorded = [size]
        if self.sequencer_field is not None:
            try:
                sequencer = opts.get_field(self.sequencer_field)
            except FieldDoesNotExist:
                errors.append(
                    checks.Error(
                        f"sequencer_field {self.sequencer_field!r} is not a field of {opts.label}.",
                        obj=self,
                        id="size_recorder.E004",
                    )
                )
            else:
                recorded.append(sequencer)
                # The field stores NULL when the row moves to another key; a NOT NULL column
                # makes every rename raise IntegrityError.
                if not isinstance(sequencer, (models.CharField, models.TextField)) or not (
                    sequencer.null
                ):
                    errors.append(
                        checks.Error(
                            f"sequencer_field {self.sequencer_field!r} must be a nullable text"
                            " field.",
                            hint="Use models.TextField(null=True, blank=True, editable=False).",
                            obj=self,
                            id="size_recorder.E005",
                        )
                    )
        for field in recorded:
            if field.creation_counter < self.creation_counter:
                # Django reads each column's value in declaration order when it builds the
                # INSERT or UPDATE; a column declared first is read before this field commits
                # the file and decides what to write.
                errors.append(
                    checks.Error(
                        f"{field.name!r} is declared before {self.name!r}.",
                        hint=f"Declare {field.name!r} after {self.name!r} in the model.",
                        obj=self,
                        id="size_recorder.E003",
                    )
                )
        errors.extend(self._check_shared_columns())
        return errors

    def _check_shared_columns(self) -> list[checks.CheckMessage]:
        """Two recorded fields writing one column would clear and overwrite each other's size."""
        columns = self._recorded_columns()
        errors: list[checks.CheckMessage] = []
        for other in self.model._meta.concrete_fields:
            if not isinstance(other, RecordedSizeFileField) or other is self:
                continue
            shared = columns & other._recorded_columns()
            if shared:
                errors.append(
                    checks.Error(
                        f"{self.name!r} and {other.name!r} record into the same column"
                        f" {', '.join(sorted(shared))}.",
                        hint="Give each recorded file field its own size and sequencer fields.",
                        obj=self,
                        id="size_recorder.E006",
                    )
                )
        return errors

    def _recorded_columns(self) -> set[str]:
        """The columns this field writes, as far as its fields exist (E001/E004 report the rest)."""
        columns = set()
        for name in self._recorded_names():
            try:
                columns.add(self.model._meta.get_field(name).column)
            except FieldDoesNotExist:
                continue
        return columns


class RecordedSizeImageField(RecordedSizeFileField, models.ImageField):
    """`models.ImageField` (with `width_field`/`height_field`) plus a recorded size column.

    Swapped in for an ImageField, it emits no migration: it describes itself as
    `django.db.models.ImageField`.
    """

    attr_class = RecordedSizeImageFieldFile
    descriptor_class = RecordedSizeImageFileDescriptor


def _includes(update_fields: frozenset[str] | None, field: models.Field) -> bool:
    """Whether a save with these `update_fields` (None: all) writes the field."""
    return update_fields is None or field.name in update_fields or field.attname in update_fields


def _is_new_content(value: Any) -> bool:
    """A File to be stored on save, as opposed to the name of a file already stored."""
    return isinstance(value, File) and not isinstance(value, FieldFile)


def _name_of(value: Any) -> str:
    """The file name a FileField attribute value stands for; "" for no file."""
    if isinstance(value, File):
        return value.name or ""
    return "" if value is None else str(value)


def _unwrapped(value: Any) -> Any:
    return value.value if isinstance(value, _KeepColumn) else value


def _stored_length(content: Any, storage: Any) -> int | None:
    """How many bytes the storage will hold for `content`; None when only a request could tell.

    Measured on the stream (its end offset: storages rewind the content and read all of it),
    never taken from `content.size`, which is what the object claims: a str's characters, an
    upload's declared size, the part of a temporary file already flushed to disk. Unknown: text
    (the storage picks the encoding), a stream that cannot seek (a pipe's length is known only
    once it is read), and a storage that compresses what it stores (django-storages' `gzip`).
    """
    if getattr(storage, "gzip", False):
        return None
    try:
        if not isinstance(content.read(0), bytes):
            return None
        start = content.tell()
        content.seek(0, os.SEEK_END)
        end = content.tell()
        content.seek(start)
    except (AttributeError, OSError, TypeError, ValueError):
        return None
    return end if isinstance(end, int) else None
