# mypy: disable-error-code="import-untyped"
"""What the recorder needs to know about models, derived from the models and the database.

Table and column names typed by hand into a Lambda's environment or a GRANT drift from the
model (a `db_table`, a `db_column`, a renamed field, a parent table, a schema); reading them off
the fields, and asking the database which table a name resolves to, keeps the recorder's
settings and its database role in step with the code that owns the table.

Each function takes `sources`: a model (all of its recorded file fields, inherited ones
included), a `RecordedSizeFileField`, or an iterable of both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models

from size_recorder.constants import (
    ENV_KEY_COLUMN,
    ENV_KEY_PREFIX,
    ENV_SEQUENCER_COLUMN,
    ENV_SEQUENCER_LEDGER,
    ENV_SIZE_COLUMN,
    ENV_TABLE,
    ENV_TARGETS,
)
from size_recorder.core.config import ConfigError, identifier, parse_table
from size_recorder.django.fields import RecordedSizeFileField

Source = type[models.Model] | RecordedSizeFileField
Sources = Source | Iterable[Source]

# What the recorder does to the sequencer ledger: reads a key's newest sequencer, inserts a new
# key's, advances an older one. Never DELETE: pruning runs as the owner. docs/security.md's
# `recorder-grant-ledger` block grants the same; tests/django/test_recorder_ledger.py holds
# them to it.
LEDGER_PRIVILEGES = "SELECT, INSERT, UPDATE"


@dataclass(frozen=True, slots=True)
class FieldTarget:
    """One recorded file field as the recorder sees it: where its objects are, which row names
    them. `table` is schema-qualified, as the database resolved it. `location` is the storage's
    key prefix, which the file names leave out; `prefix` is the location itself, or, when
    several fields share the location, the location plus this field's upload_to directory."""

    field: RecordedSizeFileField
    table: str
    key_column: str
    size_column: str
    sequencer_column: str | None
    bucket: str
    prefix: str
    location: str

    @property
    def label(self) -> str:
        return f"{self.field.model._meta.label}.{self.field.name}"

    @property
    def storage(self) -> Any:
        return self.field.storage

    def as_json(self, *, with_bucket: bool) -> dict[str, str]:
        """This target as a `SIZE_RECORDER_TARGETS` entry."""
        entry = {
            "table": self.table,
            "key_column": self.key_column,
            "size_column": self.size_column,
            "prefix": self.prefix,
        }
        if self.location != self.prefix:
            entry["location"] = self.location
        if self.sequencer_column is not None:
            entry["sequencer_column"] = self.sequencer_column
        if with_bucket:
            entry["bucket"] = self.bucket
        return entry


def recorded_size_field(
    model: type[models.Model], field_name: str | None = None
) -> RecordedSizeFileField:
    """The model's RecordedSizeFileField: the one named, or the only one it has."""
    if field_name is not None:
        field = model._meta.get_field(field_name)
        if not isinstance(field, RecordedSizeFileField):
            raise TypeError(f"{model._meta.label}.{field_name} is not a RecordedSizeFileField")
        return field
    found = _model_fields(model)
    if len(found) != 1:
        raise ValueError(
            f"{model._meta.label} has {len(found)} RecordedSizeFileFields; pass field_name"
        )
    return found[0]


def recorded_fields(sources: Sources, field_name: str | None = None) -> list[RecordedSizeFileField]:
    """Every recorded file field `sources` name, each once, in the order given.

    A multi-table child and its parent name the same field (it lives in the parent's table).
    `field_name` picks one field of a single model, as `recorded_size_field` does.
    """
    if field_name is not None:
        if not isinstance(sources, type):
            raise TypeError("field_name needs a single model")
        return [recorded_size_field(sources, field_name)]
    items: Iterable[Source] = (
        [sources] if isinstance(sources, type | RecordedSizeFileField) else sources
    )
    found: dict[RecordedSizeFileField, None] = {}
    for item in items:
        found.update(dict.fromkeys(_fields_of(item)))
    if not found:
        raise ValueError("no recorded file field to describe")
    return list(found)


def field_targets(
    sources: Sources, field_name: str | None = None, *, using: str = DEFAULT_DB_ALIAS
) -> list[FieldTarget]:
    """The recorder's view of each field, checked against what its configuration can express.

    Fields sharing one storage location are told apart by their upload_to directories: each
    is routed by its location plus its directory, and its names keep the directory
    (`uploads/a.pdf` for the key `media/uploads/a.pdf`).

    Raises ImproperlyConfigured, naming the field, when the recorder could never serve it: a
    storage that is not on S3, a table missing or named in a way the recorder's plain
    identifiers cannot spell, a field sharing its location with another whose upload_to names
    no directory (a callable, or none), or two fields whose objects share one bucket and
    prefix (the recorder routes each prefix to one table).
    """
    located = [_field_target(field, using) for field in recorded_fields(sources, field_name)]
    sharing: dict[tuple[str, str], list[FieldTarget]] = {}
    for target in located:
        sharing.setdefault((target.bucket, target.location), []).append(target)
    targets = [_by_directory(target, sharing[target.bucket, target.location]) for target in located]
    seen: dict[tuple[str, str], FieldTarget] = {}
    for target in targets:
        other = seen.setdefault((target.bucket, target.prefix), target)
        if other is not target:
            raise ImproperlyConfigured(
                f"{other.label} and {target.label} both keep their files under"
                f" s3://{target.bucket}/{target.prefix}, and the recorder routes each key prefix"
                " to one table. Record only one of them, or give one an upload_to directory"
                " or a storage location of its own."
            )
    return targets


def _upload_directory(field: RecordedSizeFileField) -> str:
    """The directory every name the field generates starts with ("" when none can be known).

    That is a string upload_to up to its last "/" before any strftime directive (`uploads/`
    for "uploads/%Y/%m/", `uploads/` for "uploads", as Django joins it to the file name), and
    nothing for a callable, which may return any name.
    """
    upload_to = field.upload_to
    if callable(upload_to) or not upload_to:
        return ""
    template = str(upload_to)
    static = template.split("%", 1)[0] if "%" in template else template.rstrip("/") + "/"
    return static[: static.rfind("/") + 1].lstrip("/")


def _by_directory(target: FieldTarget, siblings: list[FieldTarget]) -> FieldTarget:
    """The target routed by its upload_to directory when other fields share its location."""
    if len(siblings) == 1:
        return target
    directory = _upload_directory(target.field)
    if not directory:
        upload_to = target.field.upload_to
        how = "is a callable" if callable(upload_to) else f"{str(upload_to)!r} names no directory"
        *others, last = (sibling.label for sibling in siblings)
        labels = f"{', '.join(others)} and {last}"
        raise ImproperlyConfigured(
            f"{labels} keep their files under one storage location,"
            f" s3://{target.bucket}/{target.location}, and {target.label}'s upload_to {how}:"
            f" the recorder tells fields under one location apart by their upload_to"
            f' directories. Give {target.label} one (upload_to="{target.field.name}/"),'
            " or a storage with a location of its own."
        )
    return replace(target, prefix=target.location + directory)


def recorder_targets(
    sources: Sources, field_name: str | None = None, *, using: str = DEFAULT_DB_ALIAS
) -> list[dict[str, str]]:
    """The `SIZE_RECORDER_TARGETS` entries for these fields.

    Each entry names its bucket when the fields live on more than one bucket; on one bucket
    they leave it out, as the single-target variables do.
    """
    return targets_json(field_targets(sources, field_name, using=using))


def recorder_environment(
    sources: Sources,
    field_name: str | None = None,
    *,
    sequencer_ledger: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> dict[str, str]:
    """The recorder's environment variables for these fields: one field's table, columns and
    key prefix, or `SIZE_RECORDER_TARGETS` when there are several.

    `sequencer_ledger` names the sequencer ledger's table ("table" or "schema.table",
    docs/configuration.md#the-sequencer-ledger), which adds `SIZE_RECORDER_SEQUENCER_LEDGER`
    with the table as the database resolves it (`ledger_table`).

    The database's address is not among them: the function reads it from its secret.
    """
    targets = field_targets(sources, field_name, using=using)
    ledger = (
        None if sequencer_ledger is None else ledger_table(sequencer_ledger, targets, using=using)
    )
    return target_environment(targets, sequencer_ledger=ledger)


def ledger_table(name: str, targets: list[FieldTarget], *, using: str = DEFAULT_DB_ALIAS) -> str:
    """The sequencer ledger `name` names, schema-qualified as the database resolves it.

    Raises ImproperlyConfigured, as the recorder refuses it at start-up, for a name that is not
    "table" or "schema.table" of plain identifiers, and for targets of which none has a
    sequencer column (the ledger orders events by sequencer); and for a table that does not
    exist.
    """
    try:
        parts = parse_table(name, variable="sequencer_ledger")
    except ConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    if not any(target.sequencer_column for target in targets):
        labels = ", ".join(target.label for target in targets)
        raise ImproperlyConfigured(
            f"sequencer_ledger={name!r} needs a sequencer column, and no field here has one"
            f" ({labels}): give the field a sequencer_field, a nullable TextField for the"
            " recorder to order events by (docs/django.md, section 1), or leave the ledger out"
        )
    found = _resolved_name(".".join(map(quote_identifier, parts)), using)
    if found is None:
        raise ImproperlyConfigured(
            f"sequencer_ledger={name!r}: the table does not exist in database {using!r};"
            " create it as docs/configuration.md#the-sequencer-ledger shows"
        )
    return ".".join(found)


def targets_json(targets: list[FieldTarget]) -> list[dict[str, str]]:
    with_bucket = len({t.bucket for t in targets}) > 1
    return [t.as_json(with_bucket=with_bucket) for t in targets]


def target_environment(
    targets: list[FieldTarget], *, sequencer_ledger: str | None = None
) -> dict[str, str]:
    """The recorder's variables for `targets`, and the ledger's when one is given (as
    `ledger_table` returns it)."""
    env = _targets_environment(targets)
    if sequencer_ledger is not None:
        env[ENV_SEQUENCER_LEDGER] = sequencer_ledger
    return env


def _targets_environment(targets: list[FieldTarget]) -> dict[str, str]:
    entries = targets_json(targets)
    # The single-target variables have no location: a target with one needs the JSON.
    if len(entries) > 1 or "location" in entries[0]:
        return {ENV_TARGETS: json.dumps(entries)}
    (entry,) = entries
    env = {
        ENV_TABLE: entry["table"],
        ENV_KEY_COLUMN: entry["key_column"],
        ENV_SIZE_COLUMN: entry["size_column"],
        ENV_KEY_PREFIX: entry["prefix"],
    }
    if "sequencer_column" in entry:
        env[ENV_SEQUENCER_COLUMN] = entry["sequencer_column"]
    return env


def storage_key_prefix(field: RecordedSizeFileField) -> str:
    """The S3 key prefix the field's storage puts before every file name ("" when none).

    That is the storage's `location` (django-storages' AWS_LOCATION) plus "/": S3 keys carry it,
    the FileField column does not, so the recorder strips it before matching.
    """
    location = str(_s3_storage(field).location or "").strip("/")
    return f"{location}/" if location else ""


def recorder_grant_sql(
    sources: Sources,
    role: str,
    field_name: str | None = None,
    *,
    operator: bool = False,
    sequencer_ledger: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> str:
    """The GRANTs that let `role` do the recorder's work on these fields' tables, and no more.

    The recorder matches rows by the key column and returns the keys it updated (SELECT on the
    key), skips rows that already hold a newer sequencer (SELECT on the sequencer), and writes
    the size and sequencer (UPDATE on those). Every other column, the size included, stays
    unreadable to this role. `operator` grants what `size-recorder backfill` and `check` need
    on top (docs/operations.md): reading the size column, and a temporary table for `check`.
    `sequencer_ledger`, as `recorder_environment` takes it, adds the ledger's grant
    (docs/security.md), for the recorder's role and the operator's alike: `worker` and
    `replay --mode direct` advance the ledger as the function does.
    """
    targets = field_targets(sources, field_name, using=using)
    ledger = (
        None if sequencer_ledger is None else ledger_table(sequencer_ledger, targets, using=using)
    )
    read: dict[str, dict[str, None]] = {}
    written: dict[str, dict[str, None]] = {}
    for target in targets:
        recorded = [target.size_column]
        if target.sequencer_column is not None:
            recorded.append(target.sequencer_column)
        readable = [target.key_column, *(recorded if operator else recorded[1:])]
        read.setdefault(target.table, {}).update(dict.fromkeys(readable))
        written.setdefault(target.table, {}).update(dict.fromkeys(recorded))
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
    grantee = quote_identifier(role)
    privileges = "CONNECT, TEMPORARY" if operator else "CONNECT"
    lines = [f"GRANT {privileges} ON DATABASE {quote_identifier(database)} TO {grantee};"]
    tables = [*read, *([] if ledger is None else [ledger])]
    schemas = dict.fromkeys(table.partition(".")[0] for table in tables)
    lines += [f"GRANT USAGE ON SCHEMA {quote_identifier(s)} TO {grantee};" for s in schemas]
    for table, columns in read.items():
        lines.append(
            f"GRANT SELECT ({', '.join(map(quote_identifier, columns))}),"
            f" UPDATE ({', '.join(map(quote_identifier, written[table]))})"
            f" ON {_quote_table(table)} TO {grantee};"
        )
    if ledger is not None:
        lines.append(f"GRANT {LEDGER_PRIVILEGES} ON {_quote_table(ledger)} TO {grantee};")
    return "\n".join(lines)


def _quote_table(table: str) -> str:
    return ".".join(map(quote_identifier, table.split(".")))


def quote_identifier(name: str) -> str:
    """A Postgres identifier, quoted so that any name (mixed case, quotes) stays one identifier."""
    return '"' + name.replace('"', '""') + '"'


def _fields_of(item: Any) -> list[RecordedSizeFileField]:
    if isinstance(item, RecordedSizeFileField):
        return [item]
    if isinstance(item, type) and issubclass(item, models.Model):
        model: type[models.Model] = item
        fields = _model_fields(model)
        if not fields:
            raise ValueError(f"{model._meta.label} has no RecordedSizeFileField")
        return fields
    raise TypeError(f"expected a model or a RecordedSizeFileField, got {item!r}")


def _model_fields(model: type[models.Model]) -> list[RecordedSizeFileField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, RecordedSizeFileField)]


def _field_target(field: RecordedSizeFileField, using: str) -> FieldTarget:
    # The model that declared the field owns the table its columns live in: a multi-table
    # child's own table holds only the child's fields.
    opts = field.model._meta
    label = f"{opts.label}.{field.name}"
    storage = _s3_storage(field)
    if not storage.bucket_name:
        raise ImproperlyConfigured(
            f"{label}: its storage names no bucket (AWS_STORAGE_BUCKET_NAME)"
        )
    columns = [field.column, opts.get_field(field.size_field).column]
    if field.sequencer_field is not None:
        columns.append(opts.get_field(field.sequencer_field).column)
    schema, table = _resolved_table(field.model, using)
    location = storage_key_prefix(field)
    try:
        for what, name in (("schema", schema), ("table", table), *(("column", c) for c in columns)):
            identifier(name, variable=what)
    except ConfigError as exc:
        raise ImproperlyConfigured(
            f"{label} cannot be recorded: {exc}, and the recorder takes nothing else"
            f"{_dotted_table_hint(opts.db_table)}."
        ) from None
    return FieldTarget(
        field=field,
        table=f"{schema}.{table}",
        key_column=columns[0],
        size_column=columns[1],
        sequencer_column=columns[2] if len(columns) > 2 else None,
        bucket=str(storage.bucket_name),
        prefix=location,
        location=location,
    )


def _resolved_table(model: type[models.Model], using: str) -> tuple[str, str]:
    """(schema, table) as the database resolves the model's table for Django's connection.

    Django sends `db_table` quoted (`"documents_document"`, or `"billing"."documents"` as
    written), and the connection's search_path picks the schema; the recorder connects with a
    search_path of its own, so it gets the schema spelled out.
    """
    connection = connections[using]
    label = model._meta.label
    if connection.vendor != "postgresql":
        raise ImproperlyConfigured(
            f"{label}: the recorder writes to Postgres; database {using!r} is {connection.vendor}"
        )
    found = _resolved_name(connection.ops.quote_name(model._meta.db_table), using)
    if found is None:
        raise ImproperlyConfigured(
            f"{label}: table {model._meta.db_table!r} does not exist in database {using!r}"
            " (run migrate first)"
        )
    return found


def _resolved_name(quoted: str, using: str) -> tuple[str, str] | None:
    """(schema, table) of the table SQL text `quoted` names for Django's connection, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
            [quoted],
        )
        row = cursor.fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def _dotted_table_hint(db_table: str) -> str:
    """For `db_table = "billing.documents"`: Django made a table with a dot in its name."""
    if "." not in db_table or db_table.startswith('"'):
        return ""
    schema, _, table = db_table.partition(".")
    return (
        f"; Django quotes db_table = {db_table!r} as one name holding a dot, and a table"
        f' {table!r} in schema {schema!r} is written db_table = \'"{schema}"."{table}"\''
    )


def _s3_storage(field: RecordedSizeFileField) -> Any:
    """The field's storage, refused unless it is django-storages' S3Storage: the recorder only
    sees S3 events, and another storage's `location` (a directory) is no key prefix."""
    # Imported here: it imports boto3, which an app that never asks pays nothing for.
    from storages.backends.s3 import S3Storage

    storage = field.storage
    if not isinstance(storage, S3Storage):
        # __class__, not type(): the default storage is a lazy proxy of the configured class.
        kind = f"{storage.__class__.__module__}.{storage.__class__.__qualname__}"
        raise ImproperlyConfigured(
            f"{field.model._meta.label}.{field.name} keeps its files in {kind}, not on S3: the"
            " recorder records S3 objects only. Give the field django-storages' S3Storage."
        )
    return storage
