"""Compare the recorded sizes with S3 and report drift; optionally repair the sizes that differ.

Drift has three kinds, each with its own remedy:
- `differs`: the row holds a size other than the object's (an event lost, or a write made
  outside the recorder); `fix=True` sets the listed size.
- `gone`: the row names an object that no longer exists (deleted, or never uploaded); only the
  app can decide what that row means, so it is reported, never changed.
- `still null`: the object exists but the row has no size yet; `size-recorder backfill` fills it.

A check runs in two steps. `Check.read` reads the rows in scope (key, size, sequencer) into a
temporary table, then walks the listing (one request per 1,000 objects) into another;
`Check.compare` joins the two per target, streamed from the database, so a million objects cost
the same Python memory as ten.

The rows are read before the listing starts, and a fix is a compare-and-set on that read: it
sets the listed size only where the row, and every other row of its name, still holds the size
and sequencer read. An upload whose event is recorded during the check changes them, so the fix
leaves that row (reported as changed since the check read it) instead of writing the older
listed size over the newer event, which would also make every redelivery of that event stale.
The fix writes no sequencer: a listing has none, so the next event still wins if it is newer
and stays stale if it is older.
Without a sequencer column the compare is on the size alone: an object that changes during the
check and returns to the size read is not noticed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from size_recorder.adapters import s3
from size_recorder.adapters.postgres.rows import DriftKind, DriftRow, RowStore
from size_recorder.core.config import Settings
from size_recorder.core.scope import group_by_target, owns, scopes

# What --fix did to a row whose size differs.
FixOutcome = Literal["fixed", "would fix", "changed since read"]


@dataclass(frozen=True, slots=True)
class Drift:
    """One row that disagrees with S3, named by its object's key, with its size as read."""

    kind: DriftKind
    key: str
    recorded: int | None
    actual: int | None
    fix: FixOutcome | None = None  # set for rows that differ, when the check fixes


@dataclass(frozen=True, slots=True)
class CheckResult:
    fix: bool
    dry_run: bool
    rows_read: int
    objects_listed: int
    objects_matched: int  # listed objects whose name a row in scope holds
    s3_requests: int
    outside_targets: int = 0
    counts: Counter[DriftKind] = field(default_factory=Counter)
    fixed: int = 0  # rows repaired (on a dry run: rows that would be)
    changed: int = 0  # rows that differed but changed after the read, so the fix left them
    interrupted: bool = False

    @property
    def drift(self) -> int:
        return sum(self.counts.values())

    @property
    def unrepaired(self) -> int:
        """Drift left after the run; a dry run counts what the real run would leave."""
        return self.drift - self.fixed

    @property
    def nothing_matched(self) -> bool:
        """Objects were listed but none names a row: almost always a wrong prefix or target."""
        return self.objects_listed > 0 and self.objects_matched == 0

    @property
    def complete(self) -> bool:
        """The check ran to the end, matched the listing to rows, and nothing is left drifting."""
        return not self.interrupted and self.unrepaired == 0 and not self.nothing_matched


class Check:
    """One check over one row store, in two steps: `read`, then `compare`.

    Raises `ScopeError` when no configured target covers the bucket and prefix.
    """

    def __init__(self, *, settings: Settings, rows: RowStore, bucket: str, prefix: str = ""):
        self._settings = settings
        self._rows = rows
        self._bucket = bucket
        self._prefix = prefix
        self._covered = scopes(settings, bucket=bucket, prefix=prefix)
        self._rows_read = self._listed = self._requests = self._outside = 0
        self._interrupted = False

    def read(
        self,
        client: Any,
        *,
        page_size: int = s3.MAX_PAGE_SIZE,
        should_stop: Callable[[], bool] = lambda: False,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Read the rows in scope, then list the bucket under the prefix.

        `on_progress` receives the number of objects listed so far.
        """
        self._rows_read = self._rows.read_rows(self._covered)
        in_scope = {scope.target for scope in self._covered}
        for page in s3.list_pages(
            client, bucket=self._bucket, prefix=self._prefix, page_size=page_size
        ):
            self._requests += 1
            self._listed += len(page)
            grouped, unrouted = group_by_target(
                self._settings, self._bucket, ((o.key, o.size) for o in page)
            )
            self._outside += unrouted
            for target, objects in grouped.items():
                if target in in_scope:
                    self._rows.add_to_listing(target, objects)
            if on_progress is not None:
                on_progress(self._listed)
            if should_stop():
                self._interrupted = True
                return
        self._rows.finish_listing()

    def compare(
        self,
        *,
        fix: bool = False,
        dry_run: bool = False,
        on_drift: Callable[[Drift], None] | None = None,
    ) -> CheckResult:
        """Count (and with `fix`, repair) the drift; `on_drift` receives every drifting row."""
        if self._interrupted:
            # Half a listing would call every unlisted row gone: report nothing instead.
            return CheckResult(
                fix,
                dry_run,
                self._rows_read,
                self._listed,
                0,
                self._requests,
                self._outside,
                interrupted=True,
            )
        counts: Counter[DriftKind] = Counter()
        fixed = changed = 0
        for scope in self._covered:
            if fix:
                fixed += self._rows.fix_differing(scope.target, dry_run=dry_run)
            for row in self._rows.drift(scope):
                if row.kind == "gone" and not owns(self._settings, scope, row.name):
                    continue  # a more specific target owns this name
                counts[row.kind] += 1
                outcome = _fix_outcome(row, fix=fix, dry_run=dry_run)
                changed += outcome == "changed since read"
                if on_drift is not None:
                    drift = Drift(row.kind, scope.key(row.name), row.recorded, row.actual, outcome)
                    on_drift(drift)
        return CheckResult(
            fix,
            dry_run,
            self._rows_read,
            self._listed,
            self._rows.listed_with_a_row(),
            self._requests,
            self._outside,
            counts,
            fixed,
            changed,
        )


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
    on_drift: Callable[[Drift], None] | None = None,
) -> CheckResult:
    """Report (and with `fix`, repair) drift between rows and objects under `s3://bucket/prefix`:
    both steps of `Check` in one call."""
    run = Check(settings=settings, rows=rows, bucket=bucket, prefix=prefix)
    run.read(client, page_size=page_size, should_stop=should_stop, on_progress=on_progress)
    return run.compare(fix=fix, dry_run=dry_run, on_drift=on_drift)


def _fix_outcome(row: DriftRow, *, fix: bool, dry_run: bool) -> FixOutcome | None:
    if not fix or row.kind != "differs":
        return None
    if row.fixed:
        return "would fix" if dry_run else "fixed"
    return "changed since read"
