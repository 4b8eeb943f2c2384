# mypy: disable-error-code="import-untyped"
"""What the recorder needs to know about a model, derived from the model itself.

Table and column names typed by hand into a Lambda's environment or a GRANT drift from the
model (a `db_table`, a `db_column`, a renamed field); reading them off the model's field keeps
the recorder's settings and its database role in step with the code that owns the table.
"""

from __future__ import annotations

from django.db import models

from size_recorder.constants import (
    ENV_KEY_COLUMN,
    ENV_KEY_PREFIX,
    ENV_SEQUENCER_COLUMN,
    ENV_SIZE_COLUMN,
    ENV_TABLE,
)
from size_recorder.django.fields import RecordedSizeFileField


def recorded_size_field(
    model: type[models.Model], field_name: str | None = None
) -> RecordedSizeFileField:
    """The model's RecordedSizeFileField: the one named, or the only one it has."""
    if field_name is not None:
        field = model._meta.get_field(field_name)
        if not isinstance(field, RecordedSizeFileField):
            raise TypeError(f"{model._meta.label}.{field_name} is not a RecordedSizeFileField")
        return field
    found = [f for f in model._meta.concrete_fields if isinstance(f, RecordedSizeFileField)]
    if len(found) != 1:
        raise ValueError(
            f"{model._meta.label} has {len(found)} RecordedSizeFileFields; pass field_name"
        )
    return found[0]


def recorder_environment(
    model: type[models.Model], field_name: str | None = None
) -> dict[str, str]:
    """The recorder's environment variables for this model's table, columns and storage prefix.

    The prefix is the storage's `location` (django-storages' AWS_LOCATION) plus "/": S3 keys
    carry it, the FileField column does not, so the recorder strips it before matching.
    """
    field = recorded_size_field(model, field_name)
    opts = model._meta
    env = {
        ENV_TABLE: opts.db_table,
        ENV_KEY_COLUMN: field.column,
        ENV_SIZE_COLUMN: opts.get_field(field.size_field).column,
        ENV_KEY_PREFIX: storage_key_prefix(field),
    }
    if field.sequencer_field is not None:
        env[ENV_SEQUENCER_COLUMN] = opts.get_field(field.sequencer_field).column
    return env


def storage_key_prefix(field: RecordedSizeFileField) -> str:
    """The S3 key prefix the field's storage puts before every file name ("" when none)."""
    location = str(getattr(field.storage, "location", "") or "").strip("/")
    return f"{location}/" if location else ""


def recorder_grant_sql(model: type[models.Model], role: str, field_name: str | None = None) -> str:
    """The GRANT that lets `role` do the recorder's work on this model's table, and nothing more.

    The recorder matches rows by the key column and returns the keys it updated (SELECT on the
    key), skips rows that already hold a newer sequencer (SELECT on the sequencer), and writes
    the size and sequencer (UPDATE on those). Every other column, the size included, stays
    unreadable to this role.
    """
    field = recorded_size_field(model, field_name)
    opts = model._meta
    written = [opts.get_field(field.size_field).column]
    if field.sequencer_field is not None:
        written.append(opts.get_field(field.sequencer_field).column)
    read = [field.column, *written[1:]]
    return (
        f"GRANT SELECT ({', '.join(map(quote_identifier, read))}),"
        f" UPDATE ({', '.join(map(quote_identifier, written))})"
        f" ON {quote_identifier(opts.db_table)} TO {quote_identifier(role)};"
    )


def quote_identifier(name: str) -> str:
    """A Postgres identifier, quoted so that any name (mixed case, quotes) stays one identifier."""
    return '"' + name.replace('"', '""') + '"'
