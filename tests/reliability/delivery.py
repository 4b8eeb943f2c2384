"""SQS's part in a delivery: batches in, acknowledged messages gone, the rest redelivered."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from size_recorder.core.recorder import Message, Recorder


@dataclass(slots=True)
class Delivery:
    """Plays SQS for a recorder: batches in, acknowledged messages gone, the rest redelivered."""

    recorder: Recorder
    batch_size: int = 100
    rng: random.Random = field(
        default_factory=lambda: random.Random(8)  # noqa: S311 - reproducible shuffles, not secrets
    )
    # Between rounds, as a visibility timeout would make SQS wait before redelivering.
    pause_s: float = 0.0
    rounds: int = 0
    deliveries: int = 0
    failures: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def once(self, messages: Sequence[Message]) -> list[Message]:
        """Deliver every message once, in batches; return the ones not acknowledged."""
        left: list[Message] = []
        for start in range(0, len(messages), self.batch_size):
            chunk = messages[start : start + self.batch_size]
            batch = self.recorder.record(chunk)
            self.deliveries += len(chunk)
            failed = {m.message_id for m in batch.failed}
            self.failures += len(failed)
            self.reasons.update(m.reason()[:100] for m in batch.failed)
            left.extend(
                Message(m.message_id, m.body, m.receive_count + 1)
                for m in chunk
                if m.message_id in failed
            )
        return left

    def until_settled(self, messages: Sequence[Message], *, max_rounds: int = 10) -> None:
        """Redeliver (reshuffled) until every message is acknowledged, as SQS would."""
        pending = list(messages)
        while pending:
            self.rounds += 1
            assert self.rounds <= max_rounds, f"{len(pending)} messages never acknowledged"
            pending = self.once(pending)
            self.rng.shuffle(pending)
            if pending and self.pause_s:
                time.sleep(self.pause_s)


def deliver_concurrently(deliveries: Sequence[Delivery], messages: Sequence[Message]) -> None:
    """Every delivery takes all `messages`, in a thread of its own and its own shuffled order,
    until each is acknowledged: several Lambda instances on one queue. A thread's error is
    raised here, in the test's thread."""
    errors: list[BaseException] = []

    def work(delivery: Delivery) -> None:
        order = list(messages)
        delivery.rng.shuffle(order)
        try:
            delivery.until_settled(order, max_rounds=20)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
