"""Sending copies to a queue: batches SQS accepts, and the refused bodies reported by index."""

from __future__ import annotations

from typing import Any

from size_recorder.adapters import sqs


class RecordingClient:
    """Accepts every entry except the bodies listed in `refuse`."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.batches: list[list[str]] = []
        self.refuse = refuse

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        self.batches.append([e["MessageBody"] for e in Entries])
        return {"Failed": [{"Id": e["Id"]} for e in Entries if e["MessageBody"] in self.refuse]}


def test_send_keeps_each_batch_under_sqs_payload_limit() -> None:
    client = RecordingClient()
    bodies = ["x" * 100_000] * 5  # S3 notifications are at most 64 KB; these are bigger still

    assert sqs.send(client, "url", bodies) == []

    assert [len(batch) for batch in client.batches] == [2, 2, 1]


def test_send_batches_at_most_ten_small_messages() -> None:
    client = RecordingClient()

    sqs.send(client, "url", [f"m{i}" for i in range(23)])

    assert [len(batch) for batch in client.batches] == [10, 10, 3]


def test_send_reports_refused_bodies_by_their_index() -> None:
    client = RecordingClient(refuse=frozenset({"m3", "m12"}))

    assert sqs.send(client, "url", [f"m{i}" for i in range(15)]) == [3, 12]
