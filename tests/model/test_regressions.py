"""Defects the lifecycle model found, each as the shortest situation that shows it.

Real recorder, real Postgres (the model's table: `varchar(64)` sequencer column, and the
sequencer ledger), events from the simulated bucket. A strict xfail is a defect still open:
when a fix lands it passes, the XPASS fails the run, and the mark goes, with the defect's entry
in `known_defects.PENDING`.

F1 (fixed with the sequencer ledger, `SIZE_RECORDER_SEQUENCER_LEDGER`): a row that takes its
name after its key's newest event was consumed kept whatever older event reached it next. Its
sequencer is NULL (new row, renamed row), so any event is "newer"; the event that would correct
it is gone (recorded on the row it replaced, or, for a removal, acknowledged while no row held
the name). The ledger remembers the newest sequencer per key whether or not a row held the
name, and an older event is then `stale`. Without the ledger this stays the documented
behaviour (docs/configuration.md, "The sequencer ledger"): the last test here pins it.

F2 (fixed): `replay --mode direct` under another prefix routed a removal to a name no row holds,
acknowledged it as having nothing to forget, and deleted it from the DLQ.

F3 (fixed; found by the first deep run): `check --fix` compared each row with what any row of
its name was read holding. Two rows of one file, read as 20 and 0; an event sets both to 0; the
first now looks like the second as read, and the fix gave it the listing's older 20. A fix now
needs every row of the name unchanged. Its regression tests are beside the code they exercise,
in tests/integration: test_check.py and test_inventory.py, each named for two rows of one file.
"""

from __future__ import annotations

import random

from size_recorder.core.recorder import Message
from size_recorder.ops.replay import replay_dlq
from tests.model.environment import PREFIX, ModelEnv
from tests.model.simulated_s3 import S3Event, SimulatedBucket
from tests.model.simulated_sqs import DLQ_URL, SimulatedQueues, SimulatedSqsClient


def bucket() -> SimulatedBucket:
    return SimulatedBucket("uploads", versioned=False, rng=random.Random(13))  # noqa: S311


def message(event: S3Event) -> Message:
    return Message(f"m{event.number}", event.body("uploads"))


def insert(env: ModelEnv, name: str) -> None:
    env.app.execute(f"INSERT INTO {env.qualified} (file) VALUES (%s)", (name,))


def size_of(env: ModelEnv, name: str) -> int | None:
    found = env.app.execute(
        f"SELECT size_bytes FROM {env.qualified} WHERE file = %s", (name,)
    ).fetchone()
    assert found is not None
    return found[0]  # type: ignore[no-any-return]


def test_an_upload_redelivered_after_its_row_was_replaced_does_not_size_the_new_row(
    model_env: ModelEnv,
) -> None:
    """The first upload's delivery hits a database error; the second upload is recorded; the app
    replaces the row (a new Document for the same file); SQS redelivers the first upload. The
    new row must hold the object's size (200) or NULL, never the first upload's 100."""
    recorder, store = model_env.recorder()
    s3 = bucket()
    insert(model_env, "report.pdf")
    first = s3.put(PREFIX + "report.pdf", 100)
    second = s3.put(PREFIX + "report.pdf", 200)
    store.fail = "before"
    assert recorder.record([message(first)]).failed, "the failed write is redelivered later"
    assert recorder.record([message(second)]).failed == ()
    model_env.app.execute(f"DELETE FROM {model_env.qualified}")
    insert(model_env, "report.pdf")

    recorder.record([message(first)])

    assert size_of(model_env, "report.pdf") in (None, 200)


def test_an_upload_waiting_for_its_row_does_not_size_it_once_the_object_was_deleted(
    model_env: ModelEnv,
) -> None:
    """An upload arrives before its row (unmatched, retried); the object is deleted, and that
    removal is acknowledged because no row holds the key; then the row is inserted and the
    upload retried. The object is gone: the row must stay NULL, not take the upload's 100."""
    recorder, _ = model_env.recorder()
    s3 = bucket()
    upload = s3.put(PREFIX + "draft.pdf", 100)
    assert recorder.record([message(upload)]).failed, "unmatched: retried until the row exists"
    removal = s3.delete(PREFIX + "draft.pdf")
    assert removal is not None
    assert recorder.record([message(removal)]).failed == ()
    insert(model_env, "draft.pdf")

    recorder.record([message(upload)])

    assert size_of(model_env, "draft.pdf") is None


def test_direct_replay_without_the_prefix_keeps_a_removal_whose_row_holds_a_size(
    model_env: ModelEnv,
) -> None:
    """A deletion's event failed until SQS moved it to the DLQ. The operator replays it directly
    but forgot SIZE_RECORDER_KEY_PREFIX: the key routes to the name `media/report.pdf`, which no
    row holds, so the removal is acknowledged as having nothing to forget and deleted. The row
    `report.pdf` keeps the deleted object's size. A message skipped only because this replay's
    configuration routes it to no row must stay in the DLQ, as one routed nowhere does."""
    recorder, _ = model_env.recorder()
    s3 = bucket()
    insert(model_env, "report.pdf")
    assert recorder.record([message(s3.put(PREFIX + "report.pdf", 100))]).failed == ()
    removal = s3.delete(PREFIX + "report.pdf")
    assert removal is not None
    queues = SimulatedQueues(max_receive_count=3)
    queues.dlq.append(queues.send(removal.body("uploads")))
    queues.source.clear()
    operator, _ = model_env.recorder("")

    replay_dlq(client=SimulatedSqsClient(queues), dlq_url=DLQ_URL, mode="direct", recorder=operator)

    assert [m.body for m in queues.dlq] == [removal.body("uploads")]
    assert size_of(model_env, "report.pdf") == 100


def test_without_the_ledger_an_upload_redelivered_after_its_row_was_replaced_sizes_the_new_row(
    model_env: ModelEnv,
) -> None:
    """The first situation above with a sequencer column but no ledger: the replaced row's
    sequencer is NULL, so the redelivered older upload is taken (the documented limitation),
    and only a later event of the key or `check --fix` corrects it."""
    recorder, store = model_env.recorder(ledger=False)
    s3 = bucket()
    insert(model_env, "report.pdf")
    first = s3.put(PREFIX + "report.pdf", 100)
    second = s3.put(PREFIX + "report.pdf", 200)
    store.fail = "before"
    assert recorder.record([message(first)]).failed
    assert recorder.record([message(second)]).failed == ()
    model_env.app.execute(f"DELETE FROM {model_env.qualified}")
    insert(model_env, "report.pdf")

    recorder.record([message(first)])

    assert size_of(model_env, "report.pdf") == 100
