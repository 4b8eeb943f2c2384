"""The model test's Hypothesis profiles and its environment: the real core and the real
Postgres adapters on the suite's Postgres, one table per test, emptied per example.

Profiles (chosen with `HYPOTHESIS_PROFILE`, default `ci`; applied to the model test only, so
the rest of the suite keeps its own settings):
- `ci`: fixed examples (derandomized), sized to finish well inside 3 minutes on 2 shared cores;
- `deep`: 10,000 random examples of longer runs, for `make test-deep`.

The `model_env` fixture (tests/model/conftest.py) builds a `ModelEnv`; test modules import
from here, not from the conftest.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import InvalidArgument

from size_recorder import constants as c
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.adapters.postgres.store import PostgresStore
from size_recorder.adapters.wiring import postgres_store
from size_recorder.core.config import Settings, Target
from size_recorder.core.recorder import Recorder, SizeWrite, StoreError, WriteStatus

PREFIX = "media/"
TABLE = "documents_document"
LEDGER = "size_recorder_sequencers"

_BASE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
    # No "explain" phase: it traces every line of every replay of a failing example, which with
    # a database round trip per step turns a one-minute shrink into many.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.register_profile(
    "model-ci",
    parent=_BASE,
    max_examples=60,
    stateful_step_count=40,
    derandomize=True,
    database=None,
)
settings.register_profile("model-deep", parent=_BASE, max_examples=10_000, stateful_step_count=60)


def profile_name() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE", "ci")


def model_settings() -> settings:
    """The profile `HYPOTHESIS_PROFILE` names (`ci` or `deep`)."""
    name = profile_name()
    try:
        return settings.get_profile(f"model-{name}")
    except InvalidArgument:
        raise pytest.UsageError(f"HYPOTHESIS_PROFILE={name!r}: expected 'ci' or 'deep'") from None


class FlakyStore:
    """The real `PostgresStore`, made to fail one write on demand; the database stays real.

    `fail = "before"`: the write never reaches Postgres (a lost connection, a lock timeout).
    `fail = "after"`: Postgres commits it, but the recorder hears an error, as when the
    connection drops while COMMIT's reply is on its way.
    """

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.fail: str | None = None

    def __getattr__(self, name: str) -> Any:
        # Whatever else the recorder asks of its store (column limits, ...) is the real store's.
        return getattr(self.store, name)

    def write(
        self, writes: Mapping[Target, Sequence[SizeWrite]], *, timeout_ms: int
    ) -> Mapping[Target, Mapping[str, WriteStatus]]:
        fail, self.fail = self.fail, None
        if fail == "before":
            raise StoreError("injected: connection lost before the write")
        statuses = self.store.write(writes, timeout_ms=timeout_ms)
        if fail == "after":
            raise StoreError("injected: connection lost after the commit")
        return statuses


@dataclass
class ModelEnv:
    """Everything real the model drives, built once per test and reused by its examples."""

    url: str
    schema: str
    app: psycopg.Connection[Any]  # the app's own connection: inserts, renames, deletes
    stats: Counter[str] = field(default_factory=Counter)
    _stores: list[PostgresStore] = field(default_factory=list)
    _recorders: dict[tuple[str, bool, bool], tuple[Recorder, FlakyStore]] = field(
        default_factory=dict
    )
    _rows: dict[bool, RowStore] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{TABLE}"

    def settings(
        self, prefix: str = PREFIX, *, sequenced: bool = True, ledger: bool = True
    ) -> Settings:
        """The configuration; `sequenced`: SIZE_RECORDER_SEQUENCER_COLUMN is set (ordering), and
        with it, unless `ledger` is False, SIZE_RECORDER_SEQUENCER_LEDGER."""
        env = {
            c.ENV_DATABASE_URL: self.url,
            c.ENV_TABLE: self.qualified,
            c.ENV_KEY_PREFIX: prefix,
        }
        if sequenced:
            env[c.ENV_SEQUENCER_COLUMN] = "size_sequencer"
            if ledger:
                env[c.ENV_SEQUENCER_LEDGER] = self.ledger
        return Settings.from_env(env)

    @property
    def ledger(self) -> str:
        return f"{self.schema}.{LEDGER}"

    def recorder(
        self, prefix: str = PREFIX, *, sequenced: bool = True, ledger: bool = True
    ) -> tuple[Recorder, FlakyStore]:
        """The recorder configured with `prefix` (the function's is `media/`), on a store that
        fails on demand; with a sequencer column, the ledger too unless `ledger` is False."""
        if (prefix, sequenced, ledger) not in self._recorders:
            config = self.settings(prefix, sequenced=sequenced, ledger=ledger)
            store = postgres_store(config)
            self._stores.append(store)
            flaky = FlakyStore(store)
            self._recorders[prefix, sequenced, ledger] = (Recorder(config, flaky), flaky)
        return self._recorders[prefix, sequenced, ledger]

    def rows(self, *, sequenced: bool = True) -> RowStore:
        """The operator tools' store (backfill, check)."""
        if sequenced not in self._rows:
            self._rows[sequenced] = RowStore.from_settings(self.settings(sequenced=sequenced))
        return self._rows[sequenced]

    def reset(self) -> None:
        self.app.execute(f"TRUNCATE {self.qualified}, {self.ledger} RESTART IDENTITY")
        for _, flaky in self._recorders.values():
            flaky.fail = None

    def table_rows(self) -> dict[int, tuple[str, int | None, str | None]]:
        """id → (file, size_bytes, size_sequencer): the whole observable state."""
        found = self.app.execute(
            f"SELECT id, file, size_bytes, size_sequencer FROM {self.qualified}"
        ).fetchall()
        return {row_id: (name, size, seq) for row_id, name, size, seq in found}

    def close(self) -> None:
        for store in self._stores:
            store.close()
        for rows in self._rows.values():
            rows.close()
