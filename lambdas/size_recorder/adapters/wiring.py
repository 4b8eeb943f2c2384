"""Composition root: settings in, a ready store or `Recorder` out. Entry points call this once."""

from __future__ import annotations

from size_recorder.adapters.credentials import conninfo_provider
from size_recorder.adapters.postgres.store import PostgresStore
from size_recorder.core.config import Settings
from size_recorder.core.recorder import Recorder


def postgres_store(settings: Settings) -> PostgresStore:
    """The recorder's store; it connects (and checks the targets) on first use."""
    return PostgresStore(
        conninfo_provider(settings),
        settings.targets,
        connect_timeout_s=settings.connect_timeout_s,
        sequencer_ledger=settings.sequencer_ledger,
    )


def build_recorder(settings: Settings, store: PostgresStore | None = None) -> Recorder:
    """The recorder on `store`, or on a new store built from the settings."""
    return Recorder(settings, store if store is not None else postgres_store(settings))
