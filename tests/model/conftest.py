"""The model test's fixture: a Django-shaped table in a schema of its own, and the real pieces
that use it (`tests/model/environment.py` holds the environment and the profiles)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from size_recorder.demo.database import create_documents_table
from tests.model.environment import LEDGER, TABLE, ModelEnv


@pytest.fixture
def model_env(database_url: str) -> Iterator[ModelEnv]:
    """A Django-shaped table in a schema of its own, and the real pieces that use it.

    The sequencer column is `varchar(64)`, as a `CharField(max_length=64)` makes it: the
    narrowest column a deployment may have, where a longer sequencer cannot fit (defect 5).
    Beside it, the sequencer ledger (`SIZE_RECORDER_SEQUENCER_LEDGER`, finding F1).
    """
    schema = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as app:
        app.execute(f'CREATE SCHEMA "{schema}"')
        # The demo's table, whose sequencer column is that varchar(64).
        create_documents_table(app, schema, TABLE, file_max_length=1024, sequencer_max_length=64)
        # The sequencer ledger as docs/configuration.md creates it.
        app.execute(
            f'CREATE TABLE "{schema}".{LEDGER} ('
            " bucket text NOT NULL, key text NOT NULL, sequencer text NOT NULL,"
            " seen_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (bucket, key))"
        )
        env = ModelEnv(url=database_url, schema=schema, app=app)
        try:
            yield env
        finally:
            env.close()
            app.execute(f'DROP SCHEMA "{schema}" CASCADE')
