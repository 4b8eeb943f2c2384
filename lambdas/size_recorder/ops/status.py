"""`size-recorder status`: from an alarm to its cause in one command, changing nothing.

For the recorder's queue and DLQ: their counts and the age of their oldest message; the DLQ's
messages peeked and grouped by what the recorder would do with them now; the stack's alarms;
the nightly reconciliation's last summary; and, for each problem found, the command that fixes
it.

Nothing is changed on the way:
- the source queue is never received from: each receive counts towards a message's
  maxReceiveCount, so a look could push messages into the DLQ;
- the DLQ is read with replay's loop (`dlq.read_held`): each message is held while the peek
  goes on and made visible again as soon as it ends. The peek adds one to each message's
  receive count, which matters only to a DLQ with a redrive policy of its own;
- a message's fate is decided by the core itself: `Recorder.record` runs on a store that only
  reads (`adapters.postgres.lookup.RowLookup`), so the reason given is the function's own,
  e.g. `no row with file = 'a.pdf' in documents_document`;
- the reconciliation's summary (`RESULTS_PREFIX/latest-summary.json`, which the state machine's
  summary step rewrites after each run) is read with one GET; its LastModified says when that
  run ended.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from size_recorder import constants as c
from size_recorder.adapters import cloudwatch, s3, sqs
from size_recorder.adapters.postgres.lookup import RowLookup
from size_recorder.core.config import Settings
from size_recorder.core.events import Invalid
from size_recorder.core.outcomes import MessageResult, Outcome, RecordResult
from size_recorder.core.recorder import Message, Recorder, StoreError
from size_recorder.ops.dlq import (
    NotADeadLetterQueue,
    Reading,
    dead_letter_sources,
    parse,
    read_held,
    routing_setting,
)

# How far back to look for a queue's ApproximateAgeOfOldestMessage. SQS publishes it every
# minute while the queue is active, a few minutes late; older than this says nothing of now.
AGE_WINDOW = timedelta(minutes=15)

RUNBOOK = "docs/operations.md#alarms"
# S3 Inventory reports daily and a run ends within 20 hours (the state machine's timeout): a
# last summary older than two days means at least one night's run did not finish.
DEFAULT_RECONCILIATION_MAX_AGE_S = 2 * 24 * 3600

# The stack's alarms by the metric they watch (stable: AWS's names and our constants), to the
# row of the runbook's alarm table that answers them.
RUNBOOK_ROWS = {
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "DeadLetterQueueNotEmpty",
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): "QueueOldestMessage",
    ("AWS/Lambda", "Errors"): "FunctionErrors",
    ("AWS/Lambda", "Throttles"): "FunctionThrottles",
    (c.METRICS_NAMESPACE, c.METRIC_UNMATCHED): "RecordsUnmatched",
    (c.METRICS_NAMESPACE, c.METRIC_INVALID): "RecordsInvalid",
    (c.METRICS_NAMESPACE, c.METRIC_RECONCILE_DRIFT): "ReconcileDrift",
    (c.METRICS_NAMESPACE, c.METRIC_RECONCILE_BATCHES_FAILED): "ReconcileBatchesFailed",
    ("AWS/States", "ExecutionsFailed"): "ReconciliationFailed",
}

# ALARM first: what paged someone; then what cannot be judged; then the quiet ones.
_STATE_ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}


class StatusError(Exception):
    """Status cannot start: the queues are missing, the same, or not a queue and its DLQ."""


class Kind(StrEnum):
    """What the recorder would do with a dead letter now, most pressing first."""

    INVALID = "invalid"  # the body or a record cannot be used: no replay can record it
    ROUTED_NOWHERE = "routed_nowhere"  # outside every target here; the function did not skip it
    FAILED = "failed"  # the row check did not run (the database did not answer)
    UNMATCHED = "unmatched"  # no row holds its name yet
    RECORDABLE = "recordable"  # the recorder would record it (or find it stale, or skip it) now
    UNCHECKED = "unchecked"  # readable, but this shell has no recorder settings to route it


_KIND_ORDER = {kind: index for index, kind in enumerate(Kind)}


@dataclass(frozen=True, slots=True)
class Where:
    """The recorder's resources: the queues always, the rest when a stack's outputs name them."""

    queue_url: str
    dlq_url: str
    stack: str | None = None
    function_name: str | None = None
    alarm_topic_arn: str | None = None
    bucket: str | None = None
    # The nightly reconciliation's: None when the stack has none (and no flag names it).
    reconciliation_summary: str | None = None  # s3://BUCKET/RESULTS_PREFIX/latest-summary.json
    state_machine_arn: str | None = None


def locate(
    *,
    stack: str | None,
    outputs: Mapping[str, str],
    queue_url: str | None,
    dlq_url: str | None,
    reconciliation_summary: str | None = None,
) -> Where:
    """The stack's outputs (`constants.OUTPUT_*`), with the queue URLs and the summary's
    address given as flags winning."""

    def required(flag: str, given: str | None, output: str) -> str:
        value = given or outputs.get(output)
        if not value:
            source = f"stack {stack!r} has no {output} output" if stack else "no stack given"
            raise StatusError(f"{flag} is missing or empty ({source}): pass {flag} or --stack")
        return value

    queue = required("--queue-url", queue_url, c.OUTPUT_QUEUE_URL)
    dead = required("--dlq-url", dlq_url, c.OUTPUT_DLQ_URL)
    return Where(
        queue_url=queue,
        dlq_url=dead,
        stack=stack,
        function_name=outputs.get(c.OUTPUT_FUNCTION_NAME),
        alarm_topic_arn=outputs.get(c.OUTPUT_ALARM_TOPIC_ARN),
        bucket=outputs.get(c.OUTPUT_BUCKET_NAME),
        reconciliation_summary=reconciliation_summary
        or outputs.get(c.OUTPUT_RECONCILE_SUMMARY_URL),
        state_machine_arn=outputs.get(c.OUTPUT_RECONCILE_STATE_MACHINE_ARN),
    )


@dataclass(frozen=True, slots=True)
class QueueState:
    url: str
    counts: sqs.QueueCounts
    oldest: cloudwatch.Datapoint | None  # ApproximateAgeOfOldestMessage, None: no datapoint


@dataclass(frozen=True, slots=True)
class DeadLetterGroup:
    """Dead letters the recorder would treat alike, with the first one read as a sample."""

    kind: Kind
    reason: str
    messages: int
    sample_message_id: str
    sample_bucket: str | None  # None (both) when the message names no object
    sample_key: str | None
    sample_reason: str | None  # the core's reason for the sample's record, in full

    @property
    def sample_object(self) -> str | None:
        if self.sample_key is None:
            return None
        return f"s3://{self.sample_bucket or '?'}/{self.sample_key}"


@dataclass(frozen=True, slots=True)
class DeadLetters:
    peeked: int
    peek_limit: int
    read_to_end: bool  # the peek found nothing more to read (False: stopped at the limit)
    routing_checked: bool  # this shell's targets decided where each object goes
    rows_checked: bool  # the database said whether each routed object's row exists
    groups: tuple[DeadLetterGroup, ...]

    def count(self, kind: Kind) -> int:
        return sum(group.messages for group in self.groups if group.kind is kind)


@dataclass(frozen=True, slots=True)
class AlarmView:
    name: str
    state: str
    reason: str
    updated: datetime | None
    runbook_row: str | None  # the runbook's row for it; None for an alarm it does not know


@dataclass(frozen=True, slots=True)
class Alarms:
    name_prefix: str | None  # None: not checked (no stack, no prefix)
    alarms: tuple[AlarmView, ...]


@dataclass(frozen=True, slots=True)
class DatabaseState:
    checked: bool  # False: no recorder settings in this shell
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LastRun:
    """The last reconciliation's summary (ops/reconcile_lambda.py `RunSummary.as_dict`)."""

    finished: datetime  # when its summary was written: the run's end
    inventory: str  # the report's manifest.json, s3://...
    report_time: datetime  # what the report says is S3 as of then
    fix: bool
    rows_checked: int
    drifted: int
    fixed: int
    missing_object: int
    newer_than_report: int
    batches_failed: int
    batches_pending: int
    complete: bool


@dataclass(frozen=True, slots=True)
class ReconciliationState:
    summary_url: str | None  # None: no stack output or flag names one
    last: LastRun | None  # None: no summary yet, or it could not be read (`error`)
    age_s: int | None  # the last run's end, seconds ago
    max_age_s: int
    error: str | None = None
    stack: str | None = None  # the stack whose outputs were read

    @property
    def configured(self) -> bool | None:
        """None: not known, since no stack's outputs were read and no flag named a summary."""
        if self.summary_url is not None:
            return True
        return False if self.stack is not None else None

    @property
    def stale(self) -> bool:
        return self.age_s is not None and self.age_s > self.max_age_s


class SummaryError(ValueError):
    """The object at the summary's address is not a reconciliation's summary."""


def parse_summary(raw: bytes, *, finished: datetime) -> LastRun:
    """Raises SummaryError (one line) for anything but a reconciliation's summary."""
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or document.get("type") != "reconciliation":
            raise SummaryError("not a reconciliation summary (no type: reconciliation)")
        return LastRun(
            finished=finished,
            inventory=str(document["inventory"]),
            report_time=datetime.fromisoformat(str(document["report_time"])),
            fix=bool(document["fix"]),
            rows_checked=int(document["rows_checked"]),
            drifted=int(document["drifted"]),
            fixed=int(document["fixed"]),
            missing_object=int(document["missing_object"]),
            newer_than_report=int(document["newer_than_report"]),
            batches_failed=int(document["batches_failed"]),
            batches_pending=int(document["batches_pending"]),
            complete=bool(document["complete"]),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, SummaryError):
            raise
        raise SummaryError(f"not a reconciliation summary: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # stable, snake_case: dlq_invalid, queue_backlog_old, alarm, ...
    summary: str
    fix: str


@dataclass(frozen=True, slots=True)
class Status:
    where: Where
    queue: QueueState
    dlq: QueueState
    dead_letters: DeadLetters
    alarms: Alarms
    database: DatabaseState
    reconciliation: ReconciliationState
    max_age_s: int
    problems: tuple[Problem, ...]
    not_checked: tuple[str, ...]  # what this run could not judge, so "all clear" is not claimed

    @property
    def needs_attention(self) -> bool:
        return bool(self.problems)

    @property
    def reconciliation_note(self) -> str:
        """The reconciliation in one line: its last run, or why there is none to show."""
        state = self.reconciliation
        if state.configured is None:
            return "not checked: pass --stack NAME (or --reconciliation-summary S3_URL) to read it"
        if state.summary_url is None:
            bucket = self.where.bucket or "BUCKET"
            return (
                f"not configured: stack {state.stack} has no {c.OUTPUT_RECONCILE_SUMMARY_URL}"
                " output (a reconciliation added in your own stack: pass"
                " --reconciliation-summary S3_URL); size-recorder check --bucket"
                f" {bucket} compares the rows with S3 on demand"
            )
        if state.error is not None:
            return f"not read: {state.summary_url}: {state.error}"
        if state.last is None or state.age_s is None:
            return f"no run has finished yet (no {state.summary_url})"
        last = state.last
        verdict = (
            f"stale: older than {_duration(state.max_age_s)}"
            if state.stale
            else "complete"
            if last.complete
            else "incomplete"
        )
        return (
            f"last run ended {_utc(last.finished)} ({_duration(state.age_s)} ago; {verdict}),"
            f" report of {_utc(last.report_time)}: {last.rows_checked:,} rows checked,"
            f" {last.drifted:,} drifted, {last.fixed:,} fixed, {last.missing_object:,} missing"
            f" object, {last.newer_than_report:,} newer than the report;"
            f" {last.batches_failed + last.batches_pending:,} batch(es) failed or not run"
        )


def status(
    *,
    where: Where,
    sqs_client: Any,
    cloudwatch_client: Any,
    settings: Settings | None,
    rows: RowLookup | None,
    s3_client: Any = None,
    alarm_prefix: str | None = None,
    peek: int = 100,
    max_age_s: int = 900,
    reconciliation_max_age_s: int = DEFAULT_RECONCILIATION_MAX_AGE_S,
    now: datetime,
    on_peek: Callable[[int], None] = lambda _: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Status:
    """Everything `size-recorder status` reports. `settings` and `rows` come together (the
    shell's recorder settings and a lookup on their database) or not at all (only AWS is read).

    Without `alarm_prefix`, a stack's alarms are found by its name: CloudFormation names the
    alarms it creates `<stack>-<logical id>-<suffix>`. `s3_client` reads the reconciliation's
    summary when `where` names one. Raises `StatusError` when the queues are
    not a queue and its DLQ, and `ConfigError` when a configured table or column cannot work.
    """
    if (settings is None) != (rows is None):
        raise ValueError("settings and rows come together")
    _check_pair(sqs_client, where)
    # Counted before the peek, which holds the DLQ's messages (in flight) for a moment.
    queue = _queue_state(sqs_client, cloudwatch_client, where.queue_url, now)
    dead_letter_queue = _queue_state(sqs_client, cloudwatch_client, where.dlq_url, now)
    database = _database(rows)
    dead = _dead_letters(
        sqs_client,
        where.dlq_url,
        settings,
        rows,
        peek=peek,
        on_peek=on_peek,
        should_stop=should_stop,
    )
    prefix = alarm_prefix or (f"{where.stack}-" if where.stack else None)
    alarms = Alarms(prefix, _alarms(cloudwatch_client, prefix, where.alarm_topic_arn))
    reconciliation = _reconciliation(
        s3_client,
        where.reconciliation_summary,
        stack=where.stack,
        max_age_s=reconciliation_max_age_s,
        now=now,
    )
    found = _Found(
        where,
        settings,
        queue,
        dead_letter_queue,
        dead,
        alarms,
        database,
        reconciliation,
        max_age_s,
    )
    return Status(
        where=where,
        queue=queue,
        dlq=dead_letter_queue,
        dead_letters=dead,
        alarms=alarms,
        database=database,
        reconciliation=reconciliation,
        max_age_s=max_age_s,
        problems=tuple(found.problems()),
        not_checked=tuple(found.not_checked()),
    )


def _check_pair(client: Any, where: Where) -> None:
    """The DLQ must be the queue's own DLQ: a source queue passed as the DLQ would be peeked,
    which counts receives towards its messages' maxReceiveCount."""
    if where.queue_url == where.dlq_url:
        raise StatusError(f"--queue-url and --dlq-url are the same queue: {where.queue_url}")
    try:
        dead_letter_sources(client, where.dlq_url, needed=False)
    except NotADeadLetterQueue as exc:
        raise StatusError(str(exc)) from None
    target = sqs.dead_letter_target(client, where.queue_url)
    if target is None:
        raise StatusError(
            f"{where.queue_url} has no redrive policy, so {where.dlq_url} is not its dead-letter"
            " queue: pass the recorder's source queue as --queue-url"
        )
    if target != sqs.queue_arn(client, where.dlq_url):
        raise StatusError(
            f"{where.dlq_url} is not the dead-letter queue of {where.queue_url} (its redrive"
            f" policy sends failures to {sqs.queue_url_from_arn(client, target)})"
        )


def _queue_state(sqs_client: Any, cloudwatch_client: Any, url: str, now: datetime) -> QueueState:
    oldest = cloudwatch.latest_maximum(
        cloudwatch_client,
        namespace="AWS/SQS",
        metric="ApproximateAgeOfOldestMessage",
        dimensions={"QueueName": sqs.queue_name(url)},
        window=AGE_WINDOW,
        now=now,
    )
    return QueueState(url, sqs.queue_counts(sqs_client, url), oldest)


def _database(rows: RowLookup | None) -> DatabaseState:
    """Connect and check the targets; an unreachable database is a finding, not a stop (it may
    be why the queue backs up). A table or column that cannot work raises ConfigError."""
    if rows is None:
        return DatabaseState(checked=False)
    try:
        rows.verify()
    except StoreError as exc:
        return DatabaseState(checked=True, error=str(exc))
    return DatabaseState(checked=True)


def _reconciliation(
    client: Any, url: str | None, *, stack: str | None, max_age_s: int, now: datetime
) -> ReconciliationState:
    """The last summary at `url`; an unreadable one is a finding, not a stop (status goes on
    to say what it could read). Raises StatusError for a `url` that is no s3:// address."""
    if url is None:
        return ReconciliationState(None, None, None, max_age_s, stack=stack)
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key:
        raise StatusError(f"{url!r} is not an s3://BUCKET/KEY address of a summary")
    if client is None:
        raise ValueError("a reconciliation summary to read needs an S3 client")
    try:
        stored = s3.read_if_present(client, bucket=bucket, key=key)
        if stored is None:
            return ReconciliationState(url, None, None, max_age_s, stack=stack)
        last = parse_summary(stored.body, finished=stored.last_modified)
    except SummaryError as exc:
        return ReconciliationState(url, None, None, max_age_s, error=str(exc), stack=stack)
    except Exception as exc:  # botocore's errors: no access, no such bucket, the network
        return ReconciliationState(url, None, None, max_age_s, error=_one_line(exc), stack=stack)
    age = max(0, int((now - last.finished).total_seconds()))
    return ReconciliationState(url, last, age, max_age_s, stack=stack)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@dataclass(frozen=True, slots=True)
class _Verdict:
    kind: Kind
    reason: str  # what the group shares
    bucket: str | None = None
    key: str | None = None
    detail: str | None = None  # the core's reason for this record, in full


def _dead_letters(
    client: Any,
    dlq_url: str,
    settings: Settings | None,
    rows: RowLookup | None,
    *,
    peek: int,
    on_peek: Callable[[int], None],
    should_stop: Callable[[], bool],
) -> DeadLetters:
    reading = Reading()
    messages: list[sqs.ReceivedMessage] = []
    read_held(
        client,
        dlq_url,
        reading,
        handle=messages.extend,
        limit=peek,
        batch_size=sqs.SQS_BATCH_LIMIT,
        wait_seconds=1,
        should_stop=should_stop,
        on_progress=lambda: on_peek(reading.received),
    )
    # Judged after the release: the messages are visible again before the database is asked.
    if settings is None or rows is None:
        verdicts = [_parsed_verdict(m.body) for m in messages]
    else:
        batch = Recorder(settings, rows).record(
            [Message(m.message_id, m.body, m.receive_count) for m in messages]
        )
        verdicts = [_verdict(result, settings) for result in batch.messages]
    return DeadLetters(
        peeked=len(messages),
        peek_limit=peek,
        read_to_end=reading.drained,
        routing_checked=settings is not None,
        rows_checked=settings is not None and not any(v.kind is Kind.FAILED for v in verdicts),
        groups=_groups(zip(messages, verdicts, strict=True)),
    )


def _verdict(result: MessageResult, settings: Settings) -> _Verdict:
    """The message's most pressing record decides, as it decides the message's fate."""
    records = result.records

    def first(match: Callable[[RecordResult], bool]) -> RecordResult | None:
        return next((r for r in records if match(r)), None)

    if record := first(lambda r: r.outcome is Outcome.INVALID):
        return _of(Kind.INVALID, record.reason or "invalid", record)
    if record := first(lambda r: r.for_configuration):
        variable, here = routing_setting(settings)
        reason = (
            f"outside {here} here, but the function did not skip it: compare {variable} with"
            " the function's"
        )
        return _of(Kind.ROUTED_NOWHERE, reason, record)
    if record := first(lambda r: r.outcome is Outcome.FAILED):
        return _of(Kind.FAILED, f"row not checked: {record.reason}", record)
    if record := first(lambda r: r.outcome is Outcome.UNMATCHED):
        return _of(Kind.UNMATCHED, f"no row in {record.table} holds its name", record)
    if record := first(lambda r: r.outcome in (Outcome.RECORDED, Outcome.STALE)):
        return _of(Kind.RECORDABLE, f"a row in {record.table} holds its name", record)
    if records:
        return _of(Kind.RECORDABLE, f"skipped: {records[0].reason}", records[0])
    return _Verdict(Kind.RECORDABLE, "no records: the recorder acknowledges it")


def _of(kind: Kind, reason: str, record: RecordResult) -> _Verdict:
    return _Verdict(kind, reason, record.bucket, record.key, record.reason)


def _parsed_verdict(body: str) -> _Verdict:
    """Without settings only the parser can judge: invalid or not, and a key to show."""
    entries = parse(body)
    invalid = next((e for e in entries if isinstance(e, Invalid)), None)
    if invalid is not None:
        return _Verdict(Kind.INVALID, invalid.reason, invalid.bucket, invalid.key, invalid.reason)
    named = next((e for e in entries if e.key is not None), None)
    reason = f"not routed: {c.ENV_TABLE} or {c.ENV_TARGETS} is not set here"
    if named is None:
        return _Verdict(Kind.UNCHECKED, reason)
    return _Verdict(Kind.UNCHECKED, reason, named.bucket, named.key)


def _groups(
    judged: Iterable[tuple[sqs.ReceivedMessage, _Verdict]],
) -> tuple[DeadLetterGroup, ...]:
    counts: dict[tuple[Kind, str], int] = {}
    samples: dict[tuple[Kind, str], tuple[str, _Verdict]] = {}
    for message, verdict in judged:
        group = (verdict.kind, verdict.reason)
        counts[group] = counts.get(group, 0) + 1
        samples.setdefault(group, (message.message_id, verdict))
    groups = [
        DeadLetterGroup(
            kind=kind,
            reason=reason,
            messages=counts[(kind, reason)],
            sample_message_id=message_id,
            sample_bucket=verdict.bucket,
            sample_key=verdict.key,
            sample_reason=verdict.detail,
        )
        for (kind, reason), (message_id, verdict) in samples.items()
    ]
    groups.sort(key=lambda g: (_KIND_ORDER[g.kind], -g.messages, g.reason))
    return tuple(groups)


def _alarms(client: Any, prefix: str | None, topic_arn: str | None) -> tuple[AlarmView, ...]:
    """The alarms named with `prefix`; with the stack's topic known, only those notifying it
    (another stack whose name starts with this one's shares the prefix)."""
    if prefix is None:
        return ()
    found = [
        AlarmView(
            name=alarm.name,
            state=alarm.state,
            reason=alarm.reason,
            updated=alarm.updated,
            runbook_row=RUNBOOK_ROWS.get((alarm.namespace or "", alarm.metric or "")),
        )
        for alarm in cloudwatch.alarms(client, name_prefix=prefix)
        if topic_arn is None or topic_arn in alarm.actions
    ]
    found.sort(key=lambda a: (_STATE_ORDER.get(a.state, 1), a.name))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Found:
    """Turns what was read into problems, each with the command that fixes it."""

    where: Where
    settings: Settings | None
    queue: QueueState
    dlq: QueueState
    dead: DeadLetters
    alarms: Alarms
    database: DatabaseState
    reconciliation: ReconciliationState
    max_age_s: int

    def problems(self) -> Iterable[Problem]:
        yield from self._dead_letter_problems()
        unpeeked = self.dlq.counts.total - self.dead.peeked
        if unpeeked > 0:
            yield self._unpeeked(unpeeked)
        oldest = self.queue.oldest
        if oldest is not None and oldest.value >= self.max_age_s:
            yield self._backlog(oldest)
        if self.database.error is not None:
            yield Problem(
                "database_unreachable",
                f"the database did not answer from here: {self.database.error}",
                "check the database variables (docs/configuration.md) and that the database"
                " is up; if the function cannot reach it either, every batch fails and the"
                " queue backs up",
            )
        for alarm in self.alarms.alarms:
            if alarm.state == "ALARM":
                yield self._alarm(alarm)
        yield from self._reconciliation_problems()

    def not_checked(self) -> Iterable[str]:
        if self.alarms.name_prefix is None:
            yield "alarms: pass --stack NAME (or --alarm-prefix PREFIX) to read them"
        if not self.dead.routing_checked and self.dead.peeked:
            yield (
                f"dead letters' routes and rows: set the function's {c.ENV_TABLE} (or"
                f" {c.ENV_TARGETS}) and database variables here"
                " (docs/operations.md#before-you-start)"
            )
        for name, state in (("queue", self.queue), ("DLQ", self.dlq)):
            if state.oldest is None and state.counts.total:
                yield (
                    f"the {name}'s oldest message age: CloudWatch has no"
                    f" ApproximateAgeOfOldestMessage datapoint in the last"
                    f" {int(AGE_WINDOW.total_seconds() // 60)} minutes"
                )
        reconciliation = self.reconciliation
        if reconciliation.configured is None:
            yield (
                "the reconciliation's last run: pass --stack NAME (or --reconciliation-summary"
                " S3_URL) to read it"
            )
        elif reconciliation.error is not None:
            yield (
                f"the reconciliation's last run: {reconciliation.summary_url} could not be read"
                f" ({reconciliation.error}); this shell needs s3:GetObject on it"
            )
        elif reconciliation.configured and reconciliation.last is None:
            yield (
                f"the reconciliation's last run: no summary at {reconciliation.summary_url} yet;"
                " none has finished since the deploy (S3 Inventory's first report can take 48"
                " hours)"
            )

    def _reconciliation_problems(self) -> Iterable[Problem]:
        state, last = self.reconciliation, self.reconciliation.last
        if last is None or state.age_s is None:
            return
        check = f"size-recorder check --inventory {shlex.quote(last.inventory)}" + (
            " --fix" if last.fix else ""
        )
        if state.stale:
            machine = shlex.quote(self.where.state_machine_arn or "STATE_MACHINE_ARN")
            yield Problem(
                "reconciliation_stale",
                f"the reconciliation's last run ended {_duration(state.age_s)} ago"
                f" ({_utc(last.finished)}), more than {_duration(state.max_age_s)}: no run has"
                " finished since",
                f"see the runs that did not finish: aws stepfunctions list-executions"
                f" --state-machine-arn {machine} --max-results 5; no run at all: is S3 Inventory"
                " still writing reports (its configuration, the destination's EventBridge"
                " setting)? Meanwhile, from a shell: size-recorder check --inventory MANIFEST"
                + (" --fix" if last.fix else "")
                + f", MANIFEST the newest report's manifest.json (the last run read"
                f" {last.inventory})",
            )
        unfinished = last.batches_failed + last.batches_pending
        if unfinished:
            yield Problem(
                "reconciliation_batches_failed",
                f"{unfinished:,} batch(es) of the reconciliation's last run failed or never ran:"
                " their rows were not checked",
                f"read the summary's failures (aws s3 cp {shlex.quote(state.summary_url or '')}"
                f" -), fix their cause, then: {check}",
            )

    def _dead_letter_problems(self) -> Iterable[Problem]:
        dlq = shlex.quote(self.where.dlq_url)
        replay = f"size-recorder replay --dlq-url {dlq}"
        counts = {kind: self.dead.count(kind) for kind in Kind}
        if n := counts[Kind.INVALID]:
            yield Problem(
                "dlq_invalid",
                f"{n} invalid message(s) in the DLQ: no replay can record them",
                f"size-recorder discard --dlq-url {dlq} --reason invalid --archive"
                " dlq-invalid.jsonl (then find who sends them)",
            )
        if n := counts[Kind.ROUTED_NOWHERE]:
            assert self.settings is not None  # only the core, run on settings, says so
            variable, here = routing_setting(self.settings)
            function = shlex.quote(self.where.function_name or "FUNCTION")
            yield Problem(
                "dlq_routed_nowhere",
                f"{n} message(s) in the DLQ are outside {here} here, but the function did not"
                " skip them",
                f"compare {variable} with the function's (aws lambda"
                f" get-function-configuration --function-name {function} --query"
                f" Environment.Variables); once they agree: {replay}",
            )
        if n := counts[Kind.FAILED]:
            yield Problem(
                "dlq_rows_not_checked",
                f"{n} message(s) in the DLQ could not be checked against their rows",
                f"make the database answer from here, then size-recorder status again; or"
                f" {replay} --mode direct --dry-run",
            )
        if n := counts[Kind.UNMATCHED]:
            # One object: the command to paste; several: a glob to write.
            keys = [g.sample_key for g in self.dead.groups if g.kind is Kind.UNMATCHED]
            key = shlex.quote(keys[0]) if n == 1 and keys[0] is not None else "'GLOB'"
            yield Problem(
                "dlq_unmatched",
                f"{n} message(s) in the DLQ name objects no row holds",
                f"once the app has saved their rows: {replay}; objects that will never have a"
                f" row: size-recorder discard --dlq-url {dlq} --key {key} --archive"
                " dlq-unmatched.jsonl",
            )
        if n := counts[Kind.RECORDABLE]:
            yield Problem(
                "dlq_recordable",
                f"{n} message(s) in the DLQ the recorder would record now",
                replay,
            )
        if n := counts[Kind.UNCHECKED]:
            yield Problem(
                "dlq_unchecked",
                f"{n} readable message(s) in the DLQ, not routed: no recorder settings here",
                f"export the function's {c.ENV_TABLE} (or {c.ENV_TARGETS}) and database"
                " variables (docs/operations.md#before-you-start), then size-recorder status"
                " again",
            )

    def _unpeeked(self, unpeeked: int) -> Problem:
        counts = self.dlq.counts
        why = []
        if not self.dead.read_to_end:
            why.append(f"the peek stopped early (at --peek {self.dead.peek_limit}, or Ctrl-C)")
        if counts.in_flight:
            why.append(
                f"{counts.in_flight} in flight: held by another reader (a replay or discard?)"
            )
        if counts.delayed:
            why.append(f"{counts.delayed} delayed")
        why.append("the counts are approximate and lag by a minute or so")
        return Problem(
            "dlq_not_peeked",
            f"~{unpeeked} of ~{counts.total} message(s) counted in the DLQ were not peeked"
            f" ({'; '.join(why)})",
            f"size-recorder status --peek {max(self.dead.peek_limit, counts.total)}, once"
            " any other reader has finished",
        )

    def _backlog(self, oldest: cloudwatch.Datapoint) -> Problem:
        function = self.where.function_name or "the function"
        return Problem(
            "queue_backlog_old",
            f"the oldest message on the queue is {int(oldest.value):,} s old (CloudWatch,"
            f" {_utc(oldest.at)}), at least --max-age-seconds {self.max_age_s}",
            f"nothing is consuming the queue: check {function}'s Errors and Throttles and its"
            " logs (runbook: QueueOldestMessage); meanwhile size-recorder worker --queue-url"
            f" {shlex.quote(self.where.queue_url)} consumes it from any host that reaches the"
            " database",
        )

    def _alarm(self, alarm: AlarmView) -> Problem:
        since = "" if alarm.updated is None else f" since {_utc(alarm.updated)}"
        row = f"the {alarm.runbook_row} row of " if alarm.runbook_row else ""
        return Problem(
            "alarm",
            f"{alarm.name} is in ALARM{since}: {alarm.reason}",
            f"follow {row}the runbook: {RUNBOOK}",
        )


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _duration(seconds: int) -> str:
    """`3 d 4 h`, `5 h 2 min`, `7 min`: an age at a glance."""
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
