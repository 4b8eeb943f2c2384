"""The two handlers under measurement, set up the same way against the same table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

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


@contextlib.contextmanager
def real_handler(documents: Documents) -> Iterator[Invoke]:
    """`size_recorder.handler.lambda_handler`, configured for `documents`, warm after one call."""
    from size_recorder import handler

    with environ(documents.recorder_env()), quiet_powertools(handler.logger):
        handler.recorder.cache_clear()

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            with stdout_to_devnull():
                return handler.lambda_handler(event, LambdaContext())

        try:
            yield invoke
        finally:
            if handler.recorder.cache_info().currsize:
                handler.recorder()._store.close()  # type: ignore[attr-defined]
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
