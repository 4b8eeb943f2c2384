"""Compare the recorded sizes with S3 and report drift; optionally repair the sizes that differ.

Drift has three kinds, each with its own remedy:
- `differs`: the row holds a size other than the object's (an event lost, or a write made
  outside the recorder); `fix=True` sets the listed size.
- `gone`: the row names an object that no longer exists (deleted, or never uploaded); only the
  app can decide what that row means, so it is reported, never changed.
- `still null`: the object exists but the row has no size yet; `size-recorder backfill` fills it.

The listing is walked once (one request per 1,000 objects) into a temporary table, and the
comparison is one join per target streamed from the database, so a million objects cost the
same Python memory as ten. The listing is the truth at the moment it was taken: an upload during
the check can show up as drift that the next event repairs anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import DriftKind, RowStore
from size_recorder.core.config import Settings
from size_recorder.core.scope import group_by_target, owns, scopes

# Drifting rows kept in the result for the summary; the rest are counted only.
MAX_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class Drift:
    """One row that disagrees with S3, named by its object's key."""

    kind: DriftKind
    key: str
    recorded: int | None
    actual: int | None


@dataclass(frozen=True, slots=True)
class CheckResult:
    fix: bool
    dry_run: bool
    objects_listed: int
    s3_requests: int
    outside_targets: int = 0
    counts: Counter[DriftKind] = field(default_factory=Counter)
    fixed: int = 0  # rows repaired (on a dry run: rows that would be)
    examples: tuple[Drift, ...] = ()
    interrupted: bool = False

    @property
    def drift(self) -> int:
        return sum(self.counts.values())

    @property
    def unrepaired(self) -> int:
        repaired = self.fixed if self.fix and not self.dry_run else 0
        return self.drift - repaired

    @property
    def complete(self) -> bool:
        """The check ran to the end and nothing is left drifting."""
        return not self.interrupted and self.unrepaired <= 0


def check(
    *,
    settings: Settings,
    rows: RowStore,
    client: Any,
    bucket: str,
    prefix: str = "",
    fix: bool = False,
    dry_run: bool = False,
    page_size: int = s3.MAX_PAGE_SIZE,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int], None] | None = None,
) -> CheckResult:
    """Report (and with `fix`, repair) drift between rows and objects under `s3://bucket/prefix`.

    `on_progress` receives the number of objects listed so far.
    """
    covered = scopes(settings, bucket=bucket, prefix=prefix)
    in_scope = {scope.target for scope in covered}
    rows.start_listing()
    requests = listed = outside = 0
    for page in s3.list_pages(client, bucket=bucket, prefix=prefix, page_size=page_size):
        requests += 1
        listed += len(page)
        grouped, unrouted = group_by_target(settings, bucket, ((o.key, o.size) for o in page))
        outside += unrouted
        for target, objects in grouped.items():
            if target in in_scope:
                rows.add_to_listing(target, objects)
        if on_progress is not None:
            on_progress(listed)
        if should_stop():
            # Half a listing would call every unlisted row gone: report nothing instead.
            return CheckResult(fix, dry_run, listed, requests, outside, interrupted=True)
    rows.finish_listing()

    counts: Counter[DriftKind] = Counter()
    examples: list[Drift] = []
    fixed = 0
    for scope in covered:
        for row in rows.drift(scope):
            if row.kind == "gone" and not owns(settings, scope, row.name):
                continue  # a more specific target owns this name
            counts[row.kind] += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append(Drift(row.kind, scope.key(row.name), row.recorded, row.actual))
        if fix:
            fixed += rows.fix_differing(scope.target, dry_run=dry_run)
    return CheckResult(fix, dry_run, listed, requests, outside, counts, fixed, tuple(examples))
