"""The recorder's settings and grants read off every model shape: a multi-table child, a schema
found through search_path or written into db_table, several recorded fields, several buckets,
and the setups the recorder can never serve (refused, naming the model, instead of settings
that silently record nothing).

Models made for one test live in an isolated app registry; their tables are created and dropped
around the test with Django's schema editor.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.db import connection, models
from django.test.utils import isolate_apps
from psycopg import sql
from psycopg.conninfo import make_conninfo
from storages.backends.s3 import S3Storage

from size_recorder import constants as c
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.core.config import Settings
from size_recorder.core.recorder import Message
from size_recorder.django import (
    RecordedSizeFileField,
    recorder_environment,
    recorder_grant_sql,
    recorder_targets,
)
from tests.django.documents.models import Document, Photo, Scan
from tests.django.project import BUCKET, DjangoProject, s3_event

CreateTable = Callable[[type[models.Model]], None]


@pytest.fixture
def create_table() -> Iterator[CreateTable]:
    """Creates a model's table now and drops it after the test, by the schema-qualified name
    it was created under (the search_path may have changed since)."""
    created: list[str] = []

    def create(model: type[models.Model]) -> None:
        with connection.schema_editor() as editor:
            editor.create_model(model)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
                [connection.ops.quote_name(model._meta.db_table)],
            )
            created.append(cursor.fetchone()[0])

    yield create
    with connection.cursor() as cursor:
        for table in reversed(created):
            # IF EXISTS: a schema's fixture may have dropped it with its schema already.
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def billing_schema() -> Iterator[str]:
    """A schema of the app's own, dropped with whatever it holds after the test."""
    name = f"billing_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with connection.cursor() as cursor:
        cursor.execute("RESET search_path")
        cursor.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def search_path(*schemas: str) -> Iterator[None]:
    """Django's connection resolves unqualified names in these schemas, as an app does with
    OPTIONS = {"options": "-c search_path=billing,public"}."""
    quoted = ", ".join(connection.ops.quote_name(schema) for schema in schemas)
    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path TO {quoted}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET search_path")


def _recorded_model(name: str, db_table: str, **fields: models.Field) -> type[models.Model]:
    """A model with a recorded `file` (on the default storage), in the isolated registry."""
    attrs = {
        "__module__": __name__,
        "file": RecordedSizeFileField(upload_to="invoices/", max_length=1024),
        "size_bytes": models.BigIntegerField(null=True, blank=True, editable=False),
        **fields,
        "Meta": type("Meta", (), {"app_label": "documents", "db_table": db_table}),
    }
    return type(name, (models.Model,), attrs)


def test_multi_table_child_is_recorded_in_its_parents_table() -> None:
    assert recorder_environment(Scan)[c.ENV_TABLE] == "public.documents_document"


def test_multi_table_child_grant_names_its_parents_table() -> None:
    grant = recorder_grant_sql(Scan, "size_recorder").splitlines()[-1]

    assert grant.endswith('ON "public"."documents_document" TO "size_recorder";')


@isolate_apps("tests.django.documents")
def test_table_found_through_search_path_is_named_with_its_schema(
    billing_schema: str, create_table: CreateTable
) -> None:
    invoice = _recorded_model("Invoice", "invoices")
    with search_path(billing_schema, "public"):
        create_table(invoice)

        env = recorder_environment(invoice)

    assert env[c.ENV_TABLE] == f"{billing_schema}.invoices"


@isolate_apps("tests.django.documents")
def test_recorder_role_from_grant_records_into_a_search_path_schema(
    billing_schema: str, create_table: CreateTable, django_project: DjangoProject
) -> None:
    """End to end: the recorder connects with the default search_path (public), so only the
    schema-qualified table and the grant's USAGE on the schema make the write land."""
    invoice = _recorded_model("Invoice", "invoices")
    role, password = f"size_recorder_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with search_path(billing_schema, "public"):
        create_table(invoice)
        env = recorder_environment(invoice)
        grant = recorder_grant_sql(invoice, role)
        row = invoice.objects.create(file="invoices/2026-04.pdf")
    with psycopg.connect(django_project.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        conn.execute(grant)
    url = make_conninfo(django_project.database_url, user=role, password=password)
    settings = Settings.from_env({**env, "DATABASE_URL": url})
    store = postgres_store(settings)
    try:
        build_recorder(settings, store).record(
            [Message("1", s3_event("media/invoices/2026-04.pdf", 4096, "0A"))]
        )
    finally:
        store.close()
        with psycopg.connect(django_project.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    with search_path(billing_schema, "public"):
        assert invoice.objects.values_list("size_bytes", flat=True).get(pk=row.pk) == 4096


@isolate_apps("tests.django.documents")
def test_quoted_schema_in_db_table_becomes_schema_dot_table(
    billing_schema: str, create_table: CreateTable
) -> None:
    invoice = _recorded_model("Invoice", f'"{billing_schema}"."documents"')
    create_table(invoice)

    assert recorder_environment(invoice)[c.ENV_TABLE] == f"{billing_schema}.documents"


@isolate_apps("tests.django.documents")
def test_dotted_db_table_is_refused_naming_the_model_and_the_quoted_spelling(
    create_table: CreateTable,
) -> None:
    # Django quotes 'billing.documents' as one name: the table is public."billing.documents".
    invoice = _recorded_model("Invoice", "billing.documents")
    create_table(invoice)

    with pytest.raises(ImproperlyConfigured) as refused:
        recorder_environment(invoice)

    message = str(refused.value)
    assert "documents.Invoice.file" in message
    assert "'billing.documents' is not a plain SQL identifier" in message
    assert """db_table = '"billing"."documents"'""" in message


@isolate_apps("tests.django.documents")
def test_missing_table_is_refused_naming_the_model() -> None:
    invoice = _recorded_model("Invoice", "never_migrated")

    with pytest.raises(ImproperlyConfigured, match=r"documents\.Invoice: table 'never_migrated'"):
        recorder_environment(invoice)


@isolate_apps("tests.django.documents")
def test_model_with_two_recorded_fields_gets_targets_json(create_table: CreateTable) -> None:
    invoice = _recorded_model(
        "Invoice",
        f"invoices_{uuid.uuid4().hex[:8]}",
        preview=RecordedSizeFileField(
            storage=S3Storage(location="previews"), size_field="preview_size"
        ),
        preview_size=models.BigIntegerField(null=True, blank=True, editable=False),
    )
    create_table(invoice)

    env = recorder_environment(invoice)

    table = f"public.{invoice._meta.db_table}"
    assert list(env) == [c.ENV_TARGETS]
    # In field order: `preview` was built first, in the call's arguments.
    assert json.loads(env[c.ENV_TARGETS]) == [
        {
            "table": table,
            "key_column": "preview",
            "size_column": "preview_size",
            "prefix": "previews/",
        },
        {"table": table, "key_column": "file", "size_column": "size_bytes", "prefix": "media/"},
    ]


@isolate_apps("tests.django.documents")
def test_fields_on_two_buckets_name_their_bucket_in_targets(create_table: CreateTable) -> None:
    invoice = _recorded_model(
        "Invoice",
        f"invoices_{uuid.uuid4().hex[:8]}",
        scan=RecordedSizeFileField(
            storage=S3Storage(bucket_name="scans-archive", location="media"),
            size_field="scan_size",
        ),
        scan_size=models.BigIntegerField(null=True, blank=True, editable=False),
    )
    create_table(invoice)

    targets = recorder_targets(invoice)

    assert [(t["bucket"], t["prefix"], t["key_column"]) for t in targets] == [
        ("scans-archive", "media/", "scan"),
        (BUCKET, "media/", "file"),
    ]


@isolate_apps("tests.django.documents")
def test_targets_json_routes_each_prefix_to_its_field(create_table: CreateTable) -> None:
    invoice = _recorded_model(
        "Invoice",
        f"invoices_{uuid.uuid4().hex[:8]}",
        preview=RecordedSizeFileField(
            storage=S3Storage(location="previews"), size_field="preview_size"
        ),
        preview_size=models.BigIntegerField(null=True, blank=True, editable=False),
    )
    create_table(invoice)
    settings = Settings.from_env({**recorder_environment(invoice), "DATABASE_URL": "unused"})

    routes = [settings.route(BUCKET, key) for key in ("media/invoices/a.pdf", "previews/a.png")]

    assert [(r.target.key_column, r.name) if r else None for r in routes] == [
        ("file", "invoices/a.pdf"),
        ("preview", "a.png"),
    ]


def test_model_and_its_multi_table_child_are_one_target() -> None:
    assert recorder_targets([Document, Scan]) == recorder_targets(Document)


def test_two_models_under_one_location_are_routed_by_their_upload_to_directories() -> None:
    # Document.file (upload_to="uploads/") and Photo.image ("photos/"), both under media/.
    targets = recorder_targets([Document, Photo])

    assert [(t["key_column"], t["prefix"], t.get("location")) for t in targets] == [
        ("file", "media/uploads/", "media/"),
        ("image", "media/photos/", "media/"),
    ]


def test_files_and_images_under_one_location_are_both_recorded_end_to_end(
    django_project: DjangoProject,
) -> None:
    """The recorder configured and granted from both models: each key reaches its own table,
    and each row holds the name Django stored (the upload_to directory kept)."""
    run = uuid.uuid4().hex[:8]
    document = Document.objects.create(file=f"uploads/{run}/report.pdf")
    photo = Photo.objects.create(image=f"photos/{run}/cat.jpg", width=1, height=1)
    role, password = f"size_recorder_{run}", uuid.uuid4().hex
    with psycopg.connect(django_project.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        conn.execute(recorder_grant_sql([Document, Photo], role))
    url = make_conninfo(django_project.database_url, user=role, password=password)
    settings = Settings.from_env({**recorder_environment([Document, Photo]), "DATABASE_URL": url})
    store = postgres_store(settings)
    try:
        build_recorder(settings, store).record(
            [
                Message("1", s3_event(f"media/uploads/{run}/report.pdf", 4096, "0A")),
                Message("2", s3_event(f"media/photos/{run}/cat.jpg", 2048, "0B")),
            ]
        )
    finally:
        store.close()
        with psycopg.connect(django_project.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    assert Document.objects.values_list("size_bytes", flat=True).get(pk=document.pk) == 4096
    assert Photo.objects.values_list("size_bytes", flat=True).get(pk=photo.pk) == 2048


def _per_customer(instance: models.Model, filename: str) -> str:
    return f"customer-{instance.pk}/{filename}"


@isolate_apps("tests.django.documents")
@pytest.mark.parametrize(
    ("upload_to", "how"),
    [(_per_customer, "is a callable"), ("", "'' names no directory"), ("%Y/", "'%Y/' names no")],
    ids=["callable", "none", "only a date"],
)
def test_field_without_an_upload_to_directory_beside_another_under_its_location_is_refused(
    upload_to: object, how: str, create_table: CreateTable
) -> None:
    invoice = _recorded_model(
        "Invoice",
        f"invoices_{uuid.uuid4().hex[:8]}",
        scan=RecordedSizeFileField(upload_to=upload_to, size_field="scan_size"),
        scan_size=models.BigIntegerField(null=True, blank=True, editable=False),
    )
    create_table(invoice)

    with pytest.raises(ImproperlyConfigured) as refused:
        recorder_environment(invoice)

    message = str(refused.value)
    assert "documents.Invoice.scan and documents.Invoice.file keep" in message
    assert f"s3://{BUCKET}/media/" in message
    assert f"documents.Invoice.scan's upload_to {how}" in message
    assert 'Give documents.Invoice.scan one (upload_to="scan/")' in message


@isolate_apps("tests.django.documents")
def test_two_fields_with_one_upload_to_directory_under_one_location_are_refused(
    create_table: CreateTable,
) -> None:
    invoice = _recorded_model(
        "Invoice",
        f"invoices_{uuid.uuid4().hex[:8]}",
        copy=RecordedSizeFileField(upload_to="invoices/", size_field="copy_size"),
        copy_size=models.BigIntegerField(null=True, blank=True, editable=False),
    )
    create_table(invoice)

    with pytest.raises(ImproperlyConfigured) as refused:
        recorder_environment(invoice)

    message = str(refused.value)
    assert "documents.Invoice.copy and documents.Invoice.file" in message
    assert f"s3://{BUCKET}/media/invoices/" in message


@isolate_apps("tests.django.documents")
def test_dated_upload_to_is_routed_by_its_directory_before_the_date(
    create_table: CreateTable,
) -> None:
    invoice = _recorded_model(
        "Invoice",
        f"invoices_{uuid.uuid4().hex[:8]}",
        scan=RecordedSizeFileField(upload_to="scans/%Y/%m/", size_field="scan_size"),
        scan_size=models.BigIntegerField(null=True, blank=True, editable=False),
    )
    create_table(invoice)

    targets = recorder_targets(invoice)

    assert [(t["key_column"], t["prefix"], t["location"]) for t in targets] == [
        ("scan", "media/scans/", "media/"),
        ("file", "media/invoices/", "media/"),
    ]


@isolate_apps("tests.django.documents")
def test_filesystem_storage_is_refused_instead_of_a_directory_prefix() -> None:
    invoice = _recorded_model(
        "Invoice",
        "invoices",
        file=RecordedSizeFileField(storage=FileSystemStorage(location="/srv/app/media")),
    )

    with pytest.raises(ImproperlyConfigured) as refused:
        recorder_environment(invoice)

    message = str(refused.value)
    assert "documents.Invoice.file" in message
    assert "FileSystemStorage, not on S3" in message
    assert "srv/app/media/" not in message
