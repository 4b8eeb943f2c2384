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

Rows NULL after a delete. With a sequencer column, the recorder sets a deleted object's row to
NULL and keeps the delete's sequencer. Such a row may name an object that is gone, or one that
came back (a re-upload whose event is on its way, an older version made current again, which
sends no event). What S3 says is right for it only if S3 was asked after the delete:
- `list` never fills them. A listing page may predate the delete, and filling from it would
  bring a deleted object's size back, with nothing left to correct it. They are counted (and
  named) as "null after delete", left for the next event, the app's HEAD, or `head`.
- `head` reads each NULL row's sequencer before its HEAD, and fills only where the row still
  holds that sequencer: the HEAD came after the delete it read, and a delete (or upload)
  recorded since changes the sequencer, so the row is left to that newer event.
A row NULL without a sequencer has no recorded event: `list` fills it only while its sequencer
is still NULL, so a delete recorded after the listing keeps the row NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import NullRows, RowStore
from size_recorder.core.config import Settings
from size_recorder.core.scope import Scope, group_by_target, owns, scopes

# Why a NULL row was left NULL: its object is gone, (inventory) the report does not list it, or
# (list, inventory) a delete was recorded for it.
UnfilledReason = Literal["gone", "not in report", "null after delete"]


class BackfillMethod(StrEnum):
    LIST = "list"
    HEAD = "head"


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Objects listed (list) or NULL rows looked at (head) so far, of `total` when known."""

    done: int
    total: int | None


@dataclass(frozen=True, slots=True)
class Unfilled:
    """Rows (sharing a key) that the run leaves NULL, and why."""

    reason: UnfilledReason
    key: str
    rows: int


@dataclass(frozen=True, slots=True)
class BackfillResult:
    method: BackfillMethod
    dry_run: bool
    filled: int  # rows filled (on a dry run: rows that would be)
    missing: int | None  # rows left NULL because their object is gone; None if not known
    s3_requests: int
    objects_listed: int = 0
    objects_matched: int = 0  # list: listed objects whose name a row holds
    outside_targets: int = 0  # listed objects no target routes (outside every prefix)
    null_after_delete: int | None = 0  # list: NULL rows with a sequencer, left; None if not known
    changed: int = 0  # head: rows an event changed between their read and their fill
    interrupted: bool = False
    last_key: str | None = None  # list: the last key handled, to resume with start_after

    @property
    def nothing_matched(self) -> bool:
        """Objects were listed but none names a row: almost always a wrong prefix or target."""
        return self.objects_listed > 0 and self.objects_matched == 0

    @property
    def complete(self) -> bool:
        """Every NULL row in scope now holds a size (on a dry run: would)."""
        return (
            not self.interrupted
            and self.missing == 0
            and self.null_after_delete == 0
            and not self.nothing_matched
        )


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
    on_unfilled: Callable[[Unfilled], None] | None = None,
) -> BackfillResult:
    """Fill NULL sizes of the rows that objects under `s3://bucket/prefix` name.

    `on_unfilled` receives the rows left NULL: with `head`, as their HEAD finds no object; with
    `list`, after a complete walk (a dry run names only those null after a delete, since it
    cannot tell the other rows it would leave from those it would fill).

    Raises `ScopeError` when no configured target covers the bucket and prefix.
    """
    method = BackfillMethod(method)  # also accepts "list" / "head"
    walk = _Walk(
        settings,
        rows,
        scopes(settings, bucket=bucket, prefix=prefix),
        dry_run=dry_run,
        page_size=page_size,
        should_stop=should_stop,
        progress=on_progress or (lambda _: None),
        unfilled=on_unfilled or (lambda _: None),
    )
    if method is BackfillMethod.HEAD:
        return walk.by_head(client)
    return walk.by_list(client, bucket=bucket, prefix=prefix, start_after=start_after)


@dataclass(frozen=True, slots=True)
class _Walk:
    settings: Settings
    rows: RowStore
    covered: tuple[Scope, ...]
    dry_run: bool
    page_size: int
    should_stop: Callable[[], bool]
    progress: Callable[[BackfillProgress], None]
    unfilled: Callable[[Unfilled], None]

    def by_list(
        self, client: Any, *, bucket: str, prefix: str, start_after: str | None
    ) -> BackfillResult:
        requests = listed = matched = filled = outside = 0
        last_key = start_after
        for page in s3.list_pages(
            client, bucket=bucket, prefix=prefix, page_size=self.page_size, start_after=start_after
        ):
            requests += 1
            listed += len(page)
            grouped, unrouted = group_by_target(
                self.settings, bucket, ((o.key, o.size) for o in page)
            )
            outside += unrouted
            for target, sizes in grouped.items():
                done = self.rows.fill_listed(target, sizes, dry_run=self.dry_run)
                filled += done.rows
                matched += done.names_matched
            if page:
                last_key = page[-1].key
            self.progress(BackfillProgress(listed, None))
            if self.should_stop():
                return BackfillResult(
                    BackfillMethod.LIST,
                    self.dry_run,
                    filled,
                    None,
                    requests,
                    objects_listed=listed,
                    objects_matched=matched,
                    outside_targets=outside,
                    null_after_delete=None,
                    interrupted=True,
                    last_key=last_key,
                )
        # What the walk did not fill has no object, or a delete recorded.
        left = left_null(
            self.settings,
            self.rows,
            self.covered,
            filled=filled,
            dry_run=self.dry_run,
            absent="gone",
            page_size=self.page_size,
            on_unfilled=self.unfilled,
        )
        return BackfillResult(
            BackfillMethod.LIST,
            self.dry_run,
            filled,
            left.absent,
            requests,
            objects_listed=listed,
            objects_matched=matched,
            outside_targets=outside,
            null_after_delete=left.after_delete,
            last_key=last_key,
        )

    def by_head(self, client: Any) -> BackfillResult:
        total = sum(self.rows.null_count(scope) for scope in self.covered)
        requests = filled = missing = changed = looked_at = 0
        for scope in self.covered:
            for page in self.rows.null_pages(scope, page_size=self.page_size):
                found: list[tuple[NullRows, int]] = []
                for group in page:
                    looked_at += group.rows
                    if not owns(self.settings, scope, group.name):
                        continue
                    key = scope.key(group.name)
                    size = s3.head_size(client, bucket=scope.bucket, key=key)
                    requests += 1
                    if size is None:
                        missing += group.rows
                        self.unfilled(Unfilled("gone", key, group.rows))
                    else:
                        found.append((group, size))
                done = self.rows.fill_read(scope.target, found, dry_run=self.dry_run)
                filled += done
                changed += sum(group.rows for group, _ in found) - done
                self.progress(BackfillProgress(looked_at, total))
                if self.should_stop():
                    return BackfillResult(
                        BackfillMethod.HEAD,
                        self.dry_run,
                        filled,
                        missing,
                        requests,
                        changed=changed,
                        interrupted=True,
                    )
        return BackfillResult(
            BackfillMethod.HEAD, self.dry_run, filled, missing, requests, changed=changed
        )


@dataclass(frozen=True, slots=True)
class LeftNull:
    absent: int  # NULL rows with no sequencer: no size was found for them
    after_delete: int  # NULL rows whose last recorded event is a delete


def left_null(
    settings: Settings,
    rows: RowStore,
    covered: Sequence[Scope],
    *,
    filled: int,
    dry_run: bool,
    absent: UnfilledReason,
    page_size: int,
    on_unfilled: Callable[[Unfilled], None],
) -> LeftNull:
    """The NULL rows a complete fill from a listing or a report left in the scopes, each named
    to `on_unfilled`: those with no sequencer for `absent` (their object was not listed), those
    with one as null after delete.

    A dry run filled nothing, so it discounts the `filled` rows it would have, and cannot tell
    which NULL rows those are: it names only the rows null after a delete.
    """
    still_null = after_delete = 0
    for scope in covered:
        for page in rows.null_pages(scope, page_size=page_size):
            for group in page:
                if not owns(settings, scope, group.name):
                    continue
                if group.sequencer is None:
                    still_null += group.rows
                    if not dry_run:
                        on_unfilled(Unfilled(absent, scope.key(group.name), group.rows))
                else:
                    after_delete += group.rows
                    on_unfilled(Unfilled("null after delete", scope.key(group.name), group.rows))
    return LeftNull(still_null - (filled if dry_run else 0), after_delete)
