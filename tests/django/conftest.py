"""A real Django project for the integration's tests: Postgres, django-storages' S3Storage on the
suite's moto server (`moto_endpoint`, tests/plugins/aws.py), DRF.

Django's settings can be configured once per process, and the other test directories share this
process, so the project is configured here, when this directory is collected, without
DJANGO_SETTINGS_MODULE. What is only known once the session's fixtures run (the database, the
moto endpoint) is filled in by the fixtures before anything opens a connection or a storage.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings

from size_recorder import constants as c
from tests.django.project import (
    BUCKET,
    LOCATION,
    DjangoProject,
    RecorderRole,
    RecordUpload,
    create_login_role,
    drop_role,
    s3_event,
)

if not settings.configured:
    settings.configure(
        SECRET_KEY="size-recorder-tests",
        USE_TZ=True,
        INSTALLED_APPS=["rest_framework", "size_recorder.django", "tests.django.documents"],
        # Filled in by the django_database fixture before the first connection.
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unset"}},
        STORAGES={
            "default": {"BACKEND": "storages.backends.s3.S3Storage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        AWS_STORAGE_BUCKET_NAME=BUCKET,
        AWS_LOCATION=LOCATION,
        AWS_S3_REGION_NAME="us-east-1",
        AWS_S3_ACCESS_KEY_ID="testing",
        AWS_S3_SECRET_ACCESS_KEY="testing",
        # Replaced by the s3_bucket fixture before the storage is first built.
        AWS_S3_ENDPOINT_URL=None,
    )
    django.setup()


@pytest.fixture(scope="package")
def django_database(database_url: str) -> Iterator[str]:
    """A fresh database for this run, built by the test app's migrations; its URL.

    A database of its own (not a schema) because Django's migrations assume `public`.
    """
    from django.db import connection, connections
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    # Model classes already built the connection's wrapper (for `connection.ops`), holding this
    # very dict; filling it in place is what Django's own test runner does with NAME.
    db = connections["default"].settings_dict
    if connections["default"].connection is not None:
        pytest.fail("Django connected before the test database was configured")
    params = conninfo_to_dict(database_url)
    test_name = f"size_recorder_django_{uuid.uuid4().hex[:8]}"
    db.update(
        NAME=params.pop("dbname", "postgres"),
        USER=params.pop("user", ""),
        PASSWORD=params.pop("password", ""),
        HOST=params.pop("host", ""),
        PORT=params.pop("port", ""),
    )
    db["OPTIONS"].update(params)
    db["TEST"]["NAME"] = test_name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    yield make_conninfo(database_url, dbname=test_name)
    connections.close_all()
    _disconnect_others(database_url, test_name)
    connection.creation.destroy_test_db(old_name, verbosity=0)


def _disconnect_others(database_url: str, dbname: str) -> None:
    """End sessions others (the worker) left open, or DROP DATABASE would refuse to run."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )


@pytest.fixture(scope="package")
def s3_bucket(moto_endpoint: str) -> str:
    """The storage's bucket on moto; the endpoint is set before the storage is first built."""
    from django.core.files.storage import default_storage
    from django.utils.functional import empty

    if default_storage._wrapped is not empty:
        # Importing `default_storage` into a test module builds it: pytest's collector reads
        # every module attribute. Test modules reach the storage through their model's field.
        pytest.fail("the default storage was built before the moto endpoint was known")
    settings.AWS_S3_ENDPOINT_URL = moto_endpoint
    project = DjangoProject(database_url="", endpoint_url=moto_endpoint, bucket=BUCKET)
    project.s3_client().create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture(scope="package")
def django_project(django_database: str, moto_endpoint: str, s3_bucket: str) -> DjangoProject:
    return DjangoProject(database_url=django_database, endpoint_url=moto_endpoint, bucket=s3_bucket)


@pytest.fixture(autouse=True)
def _empty_documents(django_project: DjangoProject) -> Iterator[None]:
    """Each test starts with no rows (the S3 objects may stay: keys are unique per test)."""
    from tests.django.documents.models import Document, Photo

    yield
    Document.objects.all().delete()
    Photo.objects.all().delete()


@pytest.fixture
def s3_requests() -> Iterator[list[str]]:
    """The S3 operations the storage sends from now on, one entry per HTTP request.

    Hooked on `before-send`, which botocore emits for every request it puts on the wire
    (retries included), so a cached or presigned answer that never reaches S3 does not count.
    """
    from django.core.files.storage import default_storage

    sent: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        sent.append(event_name.rsplit(".", 1)[-1])

    events = default_storage.connection.meta.client.meta.events
    hook_id = f"size-recorder-count-{uuid.uuid4().hex}"
    events.register("before-send.s3", count, unique_id=hook_id)
    yield sent
    events.unregister("before-send.s3", unique_id=hook_id)


@pytest.fixture(scope="package")
def recorder_role(django_project: DjangoProject) -> Iterator[RecorderRole]:
    """The recorder's database role, created with exactly the documented GRANT."""
    import psycopg

    from size_recorder.django import recorder_grant_sql
    from tests.django.documents.models import Document

    role = create_login_role(django_project.database_url)
    with psycopg.connect(django_project.database_url, autocommit=True) as conn:
        conn.execute(recorder_grant_sql(Document, role.name))
    yield role
    drop_role(django_project.database_url, role.name)


@pytest.fixture
def sequencer_ledger(django_project: DjangoProject) -> Iterator[str]:
    """The sequencer ledger, created by docs/configuration.md's own statement in the project's
    database (as `public.size_recorder_sequencers`, the name the docs use); dropped after."""
    import psycopg

    from tests.test_docs import marked_sql

    with psycopg.connect(django_project.database_url, autocommit=True) as conn:
        conn.execute(marked_sql("sequencer-ledger"))
    yield "public.size_recorder_sequencers"
    with psycopg.connect(django_project.database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE public.size_recorder_sequencers")


@pytest.fixture
def record_upload(recorder_role: RecorderRole) -> Iterator[RecordUpload]:
    """The real recorder, configured from the model and connected as the recorder's role."""
    from size_recorder.adapters.wiring import build_recorder, postgres_store
    from size_recorder.core.config import Settings
    from size_recorder.core.recorder import Message
    from size_recorder.django import recorder_environment
    from tests.django.documents.models import Document

    env = {**recorder_environment(Document), c.ENV_DATABASE_URL: recorder_role.database_url}
    settings = Settings.from_env(env)
    store = postgres_store(settings)
    recorder = build_recorder(settings, store)

    def record(name: str, size: int, sequencer: str) -> None:
        key = env[c.ENV_KEY_PREFIX] + name
        recorder.record([Message(uuid.uuid4().hex, s3_event(key, size, sequencer))])

    yield record
    store.close()
