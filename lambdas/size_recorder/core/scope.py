"""Which rows a bucket and key prefix cover, for the tools that start from S3 (backfill, check).

The recorder goes from an S3 key to a row with `Settings.route`; these tools also go the other
way, from a row back to its key, with the same pair of functions (`Target.name_of` and
`Target.key_of`). A row belongs to a scope only if routing its key leads back to the same target:
with nested prefixes (`media/` and `media/avatars/`) each row has one owner. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from size_recorder.core.config import Settings, Target


class ScopeError(ValueError):
    """No configured target covers the bucket and prefix asked for: nothing could be filled."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows of one target under a bucket and prefix: names starting with `name_prefix`."""

    target: Target
    bucket: str
    name_prefix: str

    def key(self, name: str) -> str:
        """The S3 key of the object a row names."""
        return self.target.key_of(name)


def scopes(settings: Settings, *, bucket: str, prefix: str = "") -> tuple[Scope, ...]:
    """The targets whose rows objects under `s3://bucket/prefix` may fill, one scope each.

    Raises `ScopeError` when there are none: a walk of the bucket would fill nothing, which is
    almost always a wrong prefix or bucket rather than what the operator meant.
    """
    found: list[Scope] = []
    for target in settings.targets:
        if target.bucket is not None and target.bucket != bucket:
            continue
        if prefix.startswith(target.prefix):
            inner = prefix
        elif target.prefix.startswith(prefix):
            # The whole target: its names still start with what its prefix adds to its
            # location (`uploads/` for prefix `media/uploads/` under location `media/`).
            inner = target.prefix
        else:
            continue
        found.append(Scope(target, bucket, target.name_of(inner)))
    if not found:
        configured = ", ".join(t.describe() for t in settings.targets)
        raise ScopeError(
            f"no configured target covers s3://{bucket}/{prefix} (targets: {configured})"
        )
    return tuple(found)


def owns(settings: Settings, scope: Scope, name: str) -> bool:
    """Whether the recorder would write this row's key to this scope's target."""
    route = settings.route(scope.bucket, scope.key(name))
    return route is not None and route.target == scope.target and route.name == name


def group_by_target(
    settings: Settings, bucket: str, objects: Iterable[tuple[str, int]]
) -> tuple[dict[Target, list[tuple[str, int]]], int]:
    """(target → [(name, size)]) for listed objects, and how many no target routes."""
    grouped: dict[Target, list[tuple[str, int]]] = defaultdict(list)
    outside = 0
    for key, size in objects:
        route = settings.route(bucket, key)
        if route is None or not route.names_a_file:
            outside += 1
        else:
            grouped[route.target].append((route.name, size))
    return dict(grouped), outside
