"""`size-recorder discard`: poison archived, then deleted; everything else left as it was."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from size_recorder.adapters import sqs
from size_recorder.cli import main
from size_recorder.ops import discard
from tests.integration.pipeline import dlq_count
from tests.support.aws import QueueWithDlq, queue_with_dlq, unique
from tests.support.events import load_event, s3_body
from tests.support.postgres import DocumentsTable

# One dead letter per category, as the function would have left them.
INVALID = ("not json at all", s3_body("media/uploads/negative.pdf", -1))
ROUTED_NOWHERE = s3_body("other-app/report.pdf", 10)
SKIPPED = load_event("s3_test_event.json")
ROUTED = (s3_body("media/uploads/a.pdf", 10), s3_body("media/uploads/b.pdf", 20))


@pytest.fixture
def queues(operator_env: DocumentsTable) -> QueueWithDlq:
    return queue_with_dlq(boto3.client("sqs"), unique("discard"), max_receive_count=1)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "discarded.jsonl"


@pytest.fixture
def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """stdin looks like a terminal; the answers typed at the prompt are the list's items."""
    answers: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda: answers.pop(0))
    return answers


def send(dlq_url: str, *bodies: str) -> dict[str, str]:
    """Put bodies in the DLQ; body → message id."""
    client = boto3.client("sqs")
    return {
        body: client.send_message(QueueUrl=dlq_url, MessageBody=body)["MessageId"]
        for body in bodies
    }


def every_category(dlq_url: str) -> dict[str, str]:
    return send(dlq_url, *INVALID, ROUTED_NOWHERE, SKIPPED, *ROUTED)


def discard_cli(*args: str) -> int:
    return main(["discard", *args])


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def archived(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def visible_bodies(dlq_url: str) -> list[str]:
    """The bodies visible in the DLQ right now (read, then made visible again)."""
    client = boto3.client("sqs")
    received = sqs.receive(client, dlq_url, max_messages=50, wait_seconds=0)
    sqs.change_visibility(client, dlq_url, [(m.receipt_handle, 0) for m in received])
    return sorted(m.body for m in received)


def test_discard_archives_each_message_before_deleting_it(
    queues: QueueWithDlq, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = every_category(queues.dlq_url)
    deleted_before: list[int] = []
    delete = sqs.delete

    def delete_after_looking(client: Any, url: str, handles: Sequence[str]) -> list[str]:
        # What the archive holds at the moment SQS is asked to delete.
        lines = len(archived(archive))
        assert lines >= sum(deleted_before) + len(handles), "deleted before it was archived"
        deleted_before.append(len(handles))
        return delete(client, url, handles)

    monkeypatch.setattr(sqs, "delete", delete_after_looking)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive), "--yes"
    )

    assert code == 0
    assert sum(deleted_before) == len(INVALID)
    lines = archived(archive)
    assert {line["message_id"]: line["body"] for line in lines} == {
        ids[body]: body for body in INVALID
    }
    for line in lines:
        assert line.keys() == {
            "message_id",
            "body",
            "receive_count",
            "category",
            "reason",
            "discarded_at",
            "dlq_url",
        }
        assert line["category"] == "invalid"
        assert line["reason"].startswith("invalid: ")
        assert line["receive_count"] >= 1
        assert line["dlq_url"] == queues.dlq_url
    assert archive.stat().st_mode & 0o077 == 0  # bodies name users' files: the owner's only


def test_discard_keeps_messages_that_were_not_selected(queues: QueueWithDlq, archive: Path) -> None:
    every_category(queues.dlq_url)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive), "--yes"
    )

    # Every other message is visible again at once, not after a visibility timeout.
    assert code == 0
    assert visible_bodies(queues.dlq_url) == sorted([ROUTED_NOWHERE, SKIPPED, *ROUTED])


def test_discard_without_a_selector_is_refused(
    queues: QueueWithDlq, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every_category(queues.dlq_url)

    code = discard_cli("--dlq-url", queues.dlq_url, "--archive", str(archive), "--yes")

    assert code == 2
    assert "give --reason, --key or --message-id (or --all" in capsys.readouterr().err
    assert dlq_count(queues.dlq_url) == 6
    assert not archive.exists()


def test_discard_all_beside_a_selector_is_refused(
    queues: QueueWithDlq, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--all", "--reason", "invalid", "--archive", str(archive)
    )

    assert code == 2
    assert "--all selects every message" in capsys.readouterr().err


def test_discard_all_empties_the_dlq_into_the_archive(queues: QueueWithDlq, archive: Path) -> None:
    ids = every_category(queues.dlq_url)

    code = discard_cli("--dlq-url", queues.dlq_url, "--all", "--archive", str(archive), "--yes")

    assert code == 0
    assert dlq_count(queues.dlq_url) == 0
    assert sorted(line["message_id"] for line in archived(archive)) == sorted(ids.values())


def test_discard_dry_run_deletes_nothing(
    queues: QueueWithDlq, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = every_category(queues.dlq_url)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive),
        "--dry-run", "--json",
    )  # fmt: skip

    assert code == 0  # as the real run would exit
    *items, summary = json_lines(capsys.readouterr().out)
    assert {item["message_id"] for item in items} == {ids[body] for body in INVALID}
    assert {item["type"] for item in items} == {"would_discard"}
    assert summary["would_discard"] == 2
    assert summary["dry_run"] is True
    assert summary["archive"] is None
    assert visible_bodies(queues.dlq_url) == sorted(ids)
    assert not archive.exists()


def test_discard_refuses_to_run_unconfirmed_off_a_terminal(
    queues: QueueWithDlq,
    archive: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    every_category(queues.dlq_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # a pipe that would answer yes

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive)
    )

    assert code == 2
    assert "stdin is not a terminal to confirm on: pass --yes" in capsys.readouterr().err
    assert dlq_count(queues.dlq_url) == 6
    assert not archive.exists()


def test_discard_on_a_terminal_deletes_only_the_messages_it_asked_about(
    queues: QueueWithDlq,
    archive: Path,
    on_a_terminal: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = every_category(queues.dlq_url)
    late = "also not json, arrived while the operator read the list"

    def answer() -> str:
        send(queues.dlq_url, late)
        return "y"

    monkeypatch.setattr("builtins.input", answer)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive)
    )

    assert code == 0
    asked = capsys.readouterr().err
    assert "would discard: " in asked  # the list it asked about
    assert asked.endswith("discard 2 messages? [y/N] ")
    assert {line["message_id"] for line in archived(archive)} == {ids[body] for body in INVALID}
    assert late in visible_bodies(queues.dlq_url)


def test_discard_answered_no_deletes_nothing_and_exits_one(
    queues: QueueWithDlq,
    archive: Path,
    on_a_terminal: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    every_category(queues.dlq_url)
    on_a_terminal.append("")  # Enter: the default, no

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive), "--json"
    )

    assert code == 1
    *items, summary = json_lines(capsys.readouterr().out)
    assert {(item["type"], item["error"]) for item in items} == {("not_discarded", "not confirmed")}
    assert summary["discarded"] == 0
    assert dlq_count(queues.dlq_url) == 6
    assert not archive.exists()


def test_discard_by_key_glob_matches_the_full_key(queues: QueueWithDlq, archive: Path) -> None:
    ids = every_category(queues.dlq_url)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--key", "media/uploads/[ab].pdf", "--archive", str(archive),
        "--yes",
    )  # fmt: skip

    assert code == 0
    assert {line["message_id"] for line in archived(archive)} == {ids[body] for body in ROUTED}
    assert {line["category"] for line in archived(archive)} == {"routed"}


def test_discard_selectors_of_different_kinds_must_all_match(
    queues: QueueWithDlq, archive: Path
) -> None:
    ids = every_category(queues.dlq_url)

    # The invalid message naming an upload, not the unreadable one, nor the valid uploads.
    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--key", "media/*",
        "--archive", str(archive), "--yes",
    )  # fmt: skip

    assert code == 0
    assert [line["message_id"] for line in archived(archive)] == [ids[INVALID[1]]]


def test_discard_routed_nowhere_judges_by_this_shells_prefix(
    queues: QueueWithDlq, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = every_category(queues.dlq_url)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "routed_nowhere", "--dry-run", "--json"
    )

    assert code == 0
    [item, _] = json_lines(capsys.readouterr().out)
    assert item["message_id"] == ids[ROUTED_NOWHERE]
    assert item["keys"] == ["other-app/report.pdf"]
    assert "outside SIZE_RECORDER_KEY_PREFIX='media/' here" in item["reason"]


def test_discard_by_message_id_names_an_id_it_did_not_find_and_exits_one(
    queues: QueueWithDlq, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = every_category(queues.dlq_url)
    wanted = ids[ROUTED[0]]

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--message-id", wanted, "--message-id", "no-such-id",
        "--archive", str(archive), "--yes", "--json",
    )  # fmt: skip

    assert code == 1
    *items, summary = json_lines(capsys.readouterr().out)
    assert [(i["type"], i["message_id"]) for i in items] == [
        ("discarded", wanted),
        ("not_found", "no-such-id"),
    ]
    assert (summary["discarded"], summary["not_found"], summary["complete"]) == (1, 1, False)
    assert dlq_count(queues.dlq_url) == 5


def test_discard_appends_to_an_existing_archive(queues: QueueWithDlq, archive: Path) -> None:
    earlier = '{"message_id": "from an earlier run"}\n'
    archive.write_text(earlier, encoding="ascii")
    send(queues.dlq_url, *INVALID)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive), "--yes"
    )

    assert code == 0
    text = archive.read_text(encoding="ascii")
    assert text.startswith(earlier)
    assert len(text.splitlines()) == 1 + len(INVALID)


def test_discard_deletes_nothing_it_could_not_archive(
    queues: QueueWithDlq,
    archive: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    send(queues.dlq_url, *INVALID)

    def disk_full(self: discard.Archive, lines: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(discard.Archive, "append", disk_full)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "invalid", "--archive", str(archive), "--yes",
        "--json",
    )  # fmt: skip

    assert code == 1
    *items, summary = json_lines(capsys.readouterr().out)
    assert {item["type"] for item in items} == {"not_discarded"}
    assert "No space left on device" in summary["notes"][0]
    assert visible_bodies(queues.dlq_url) == sorted(INVALID)


def test_discard_refuses_the_source_queue_passed_as_the_dlq(
    queues: QueueWithDlq, capsys: pytest.CaptureFixture[str]
) -> None:
    send(queues.url, "not json")

    code = discard_cli("--dlq-url", queues.url, "--all", "--yes")

    assert code == 2
    assert f"{queues.url} is the source queue" in capsys.readouterr().err
    assert dlq_count(queues.url) == 1


def test_discard_names_an_empty_dlq_url(
    operator_env: DocumentsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    assert discard_cli("--dlq-url", "", "--all", "--yes") == 2
    assert "--dlq-url is empty" in capsys.readouterr().err


def test_discard_text_report_lists_each_message_on_stdout(
    queues: QueueWithDlq, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = every_category(queues.dlq_url)

    code = discard_cli(
        "--dlq-url", queues.dlq_url, "--reason", "skipped", "--archive", str(archive), "--yes"
    )

    assert code == 0
    out = capsys.readouterr().out
    assert f"discarded: {ids[SKIPPED]} [skipped] (no key): skipped: s3:TestEvent" in out
    assert "discarded: 1" in out
    assert f"archived in {archive}" in out
