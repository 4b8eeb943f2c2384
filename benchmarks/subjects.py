"""The two handlers under measurement, set up the same way against the same table."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from benchmarks.environment import (
    KEY_PREFIX,
    Documents,
    LambdaContext,
    environ,
    quiet_powertools,
    stdout_to_devnull,
)
from benchmarks.naive import NaiveHandler

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class RealHandler:
    """Calls `size_recorder.handler.lambda_handler` as Lambda would, output discarded."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler
        # Seconds each batch spent in the store's write (when timed): the Postgres side.
        self.write_seconds: list[float] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with stdout_to_devnull():
            response: dict[str, Any] = self._handler.lambda_handler(event, LambdaContext())
            return response

    def time_writes(self, store: Any) -> None:
        """Wrap the store's `write` to note its duration (two extra calls per batch)."""
        write = store.write

        def timed_write(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return write(*args, **kwargs)
            finally:
                self.write_seconds.append(time.perf_counter() - started)

        store.write = timed_write


@contextlib.contextmanager
def real_handler(documents: Documents, *, time_writes: bool = False) -> Iterator[RealHandler]:
    """`size_recorder.handler.lambda_handler`, configured for `documents`."""
    from size_recorder.adapters.postgres.store import PostgresStore
    from size_recorder.aws_lambda import handler

    with environ(documents.recorder_env()), quiet_powertools(handler.logger):
        handler.recorder.cache_clear()
        real = RealHandler(handler)
        # The handler keeps its store private; the benchmark reaches in to time or close it.
        store = cast(PostgresStore, handler.recorder()._store)
        if time_writes:
            real.time_writes(store)
        try:
            yield real
        finally:
            store.close()
            handler.recorder.cache_clear()


@contextlib.contextmanager
def naive_handler(documents: Documents) -> Iterator[Invoke]:
    """The tutorial handler (benchmarks/naive.py) on the same table."""
    with environ(documents.recorder_env()):
        naive = NaiveHandler(documents.qualified, KEY_PREFIX)

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            return naive(event, LambdaContext())

        try:
            yield invoke
        finally:
            naive.close()


def check_all_recorded(response: dict[str, Any], who: str) -> None:
    """A handler that fails its messages is fast for the wrong reason: stop the run instead."""
    failures = response.get("batchItemFailures")
    if failures:
        raise RuntimeError(f"{who} reported {len(failures)} failed messages: {failures[:3]}")
