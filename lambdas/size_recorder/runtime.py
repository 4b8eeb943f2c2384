"""Composition root: settings in, a ready `Recorder` out. Entry points call this once."""

from __future__ import annotations

from size_recorder.config import Settings
from size_recorder.credentials import conninfo_provider
from size_recorder.recorder import Recorder
from size_recorder.store import PostgresStore


def build_recorder(settings: Settings) -> tuple[Recorder, PostgresStore]:
    """The recorder and its store; the store connects (and checks the targets) on first use."""
    store = PostgresStore(
        conninfo_provider(settings),
        settings.targets,
        connect_timeout_s=settings.connect_timeout_s,
    )
    return Recorder(settings, store), store
