"""Fill the size of rows that predate the recorder (NULL sizes) from S3, once, at any scale.

Two ways to learn sizes, chosen by the shape of the problem:
- `list` (default): walk ListObjectsV2 under the prefix, one request per 1,000 objects, and
  fill the NULL rows each page names with one batched UPDATE. Cheapest when most objects have
  rows, which is the usual case when a team adopts the recorder.
- `head`: page through the NULL rows (keyset pagination) and HEAD each object. Cheapest for a
  few NULL rows in a huge bucket.

Memory stays flat: one listing page or one page of rows at a time. Every UPDATE only touches
rows still NULL and commits on its own, so a size the recorder writes meanwhile always wins, an
interrupted run keeps what it filled, and a rerun (or `start_after` the last key reported) only
finds what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import RowStore
from size_recorder.core.config import Settings
from size_recorder.core.scope import Scope, group_by_target, owns, scopes


class BackfillMethod(StrEnum):
    LIST = "list"
    HEAD = "head"


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Objects listed (list) or NULL rows looked at (head) so far, of `total` when known."""

    done: int
    total: int | None


@dataclass(frozen=True, slots=True)
class BackfillResult:
    method: BackfillMethod
    dry_run: bool
    filled: int  # rows filled (on a dry run: rows that would be)
    missing: int | None  # rows left NULL because their object is gone; None if not known
    s3_requests: int
    objects_listed: int = 0
    outside_targets: int = 0  # listed objects no target routes (outside every prefix)
    interrupted: bool = False
    last_key: str | None = None  # list: the last key handled, to resume with start_after

    @property
    def complete(self) -> bool:
        """Every NULL row in scope now holds a size."""
        return not self.interrupted and self.missing == 0


def backfill(
    *,
    settings: Settings,
    rows: RowStore,
    client: Any,
    bucket: str,
    prefix: str = "",
    method: BackfillMethod | str = BackfillMethod.LIST,
    dry_run: bool = False,
    page_size: int = s3.MAX_PAGE_SIZE,
    start_after: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillResult:
    """Fill NULL sizes of the rows that objects under `s3://bucket/prefix` name.

    Raises `ScopeError` when no configured target covers the bucket and prefix.
    """
    method = BackfillMethod(method)  # also accepts "list" / "head"
    progress = on_progress or (lambda _: None)
    covered = scopes(settings, bucket=bucket, prefix=prefix)
    if method is BackfillMethod.HEAD:
        return _by_head(settings, rows, client, covered, dry_run, page_size, should_stop, progress)
    requests = listed = filled = outside = 0
    last_key = start_after
    interrupted = False
    for page in s3.list_pages(
        client, bucket=bucket, prefix=prefix, page_size=page_size, start_after=start_after
    ):
        requests += 1
        listed += len(page)
        grouped, unrouted = group_by_target(settings, bucket, ((o.key, o.size) for o in page))
        outside += unrouted
        for target, sizes in grouped.items():
            filled += rows.fill_null(target, sizes, dry_run=dry_run)
        if page:
            last_key = page[-1].key
        progress(BackfillProgress(listed, None))
        if should_stop():
            interrupted = True
            break
    missing = None
    if not interrupted:
        # What the walk did not fill has no object (a dry run filled nothing, so discount).
        still_null = sum(_owned_null_rows(settings, rows, scope, page_size) for scope in covered)
        missing = still_null - (filled if dry_run else 0)
    return BackfillResult(
        BackfillMethod.LIST,
        dry_run,
        filled,
        missing,
        requests,
        objects_listed=listed,
        outside_targets=outside,
        interrupted=interrupted,
        last_key=last_key,
    )


def _by_head(
    settings: Settings,
    rows: RowStore,
    client: Any,
    covered: tuple[Scope, ...],
    dry_run: bool,
    page_size: int,
    should_stop: Callable[[], bool],
    progress: Callable[[BackfillProgress], None],
) -> BackfillResult:
    total = sum(rows.null_count(scope) for scope in covered)
    requests = filled = missing = looked_at = 0
    for scope in covered:
        for page in rows.null_pages(scope, page_size=page_size):
            found: list[tuple[str, int]] = []
            for name, count in page:
                looked_at += count
                if not owns(settings, scope, name):
                    continue
                size = s3.head_size(client, bucket=scope.bucket, key=scope.key(name))
                requests += 1
                if size is None:
                    missing += count
                else:
                    found.append((name, size))
            filled += rows.fill_null(scope.target, found, dry_run=dry_run)
            progress(BackfillProgress(looked_at, total))
            if should_stop():
                return BackfillResult(
                    BackfillMethod.HEAD, dry_run, filled, missing, requests, interrupted=True
                )
    return BackfillResult(BackfillMethod.HEAD, dry_run, filled, missing, requests)


def _owned_null_rows(settings: Settings, rows: RowStore, scope: Scope, page_size: int) -> int:
    return sum(
        count
        for page in rows.null_pages(scope, page_size=page_size)
        for name, count in page
        if owns(settings, scope, name)
    )
