"""`manage.py size_recorder env|grant|backfill|check`, configured from the test project's models
and storage settings alone: no SIZE_RECORDER_* variable, no DATABASE_URL, no AWS variable is set
for them.

backfill and check run the real `size-recorder` in a child process against the project's
Postgres and the moto bucket its S3Storage uses.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from size_recorder import constants as c
from size_recorder.django import recorder_environment, recorder_grant_sql
from size_recorder.django.management.commands.size_recorder import _run_child, _walks
from size_recorder.django.recorder import field_targets
from tests.django.documents.models import Document, Photo
from tests.django.project import DjangoProject

CLI_EXTRA = "pip install 'size-recorder[cli]'"


def _manage(*argv: str) -> tuple[str, str]:
    """Runs `manage.py size_recorder ARGV` in-process; its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("size_recorder", *argv, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _uploaded(project: DjangoProject, sizes: dict[str, int]) -> None:
    """Objects put straight into the bucket, as a browser with a presigned URL would."""
    client = project.s3_client()
    for name, size in sizes.items():
        client.put_object(Bucket=project.bucket, Key=project.key_prefix + name, Body=b"s" * size)


def test_env_prints_export_lines_read_from_the_model() -> None:
    out, _ = _manage("env", "--model", "documents.Document")

    exported = dict(shlex.split(line)[1].split("=", 1) for line in out.splitlines() if line.strip())
    assert exported == recorder_environment(Document)


def test_env_json_is_the_recorder_environment() -> None:
    out, _ = _manage("env", "--model", "documents.Document", "--json")

    assert json.loads(out) == recorder_environment(Document)


def test_env_leaves_the_database_url_to_the_functions_secret() -> None:
    out, err = _manage("env", "--model", "documents.Document")

    assert "DATABASE_URL" not in out
    assert "the function reads the database from its secret" in err


def test_env_for_a_multi_table_child_names_its_parents_table() -> None:
    out, _ = _manage("env", "--model", "documents.Scan", "--json")

    assert json.loads(out)[c.ENV_TABLE] == "public.documents_document"


def test_env_for_every_model_routes_each_field_by_its_upload_to_directory() -> None:
    # This project keeps Document.file and Photo.image both under media/ on one bucket.
    out, _ = _manage("env", "--json")

    targets = json.loads(json.loads(out)[c.ENV_TARGETS])
    assert [(t["key_column"], t["prefix"], t["location"]) for t in targets] == [
        ("file", "media/uploads/", "media/"),
        ("image", "media/photos/", "media/"),
    ]


def test_env_for_a_field_that_cannot_be_told_from_its_sibling_names_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Photo._meta.get_field("image"), "upload_to", "")

    with pytest.raises(CommandError) as refused:
        _manage("env")

    message = str(refused.value)
    assert "documents.Document.file and documents.Photo.image keep" in message
    assert 'Give documents.Photo.image one (upload_to="image/")' in message
    assert "--model app_label.Model" in message


def test_env_for_an_unknown_model_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="doesn't have a 'Invoice' model"):
        _manage("env", "--model", "documents.Invoice")


def test_grant_prints_the_recorder_grant() -> None:
    out, _ = _manage("grant", "size_recorder", "--model", "documents.Document")

    assert out.strip() == recorder_grant_sql(Document, "size_recorder")


def test_grant_operator_prints_the_operator_grant() -> None:
    out, _ = _manage("grant", "size_recorder_ops", "--operator", "--model", "documents.Document")

    assert out.strip() == recorder_grant_sql(Document, "size_recorder_ops", operator=True)


def test_env_with_a_sequencer_ledger_exports_it(sequencer_ledger: str) -> None:
    out, _ = _manage(
        "env", "--model", "documents.Document", "--json", "--sequencer-ledger", sequencer_ledger
    )

    assert json.loads(out) == recorder_environment(Document, sequencer_ledger=sequencer_ledger)
    assert json.loads(out)[c.ENV_SEQUENCER_LEDGER] == sequencer_ledger


def test_grant_with_a_sequencer_ledger_prints_its_grant(sequencer_ledger: str) -> None:
    out, _ = _manage(
        "grant",
        "size_recorder",
        "--model",
        "documents.Document",
        "--sequencer-ledger",
        sequencer_ledger,
    )

    assert out.strip() == recorder_grant_sql(
        Document, "size_recorder", sequencer_ledger=sequencer_ledger
    )


def test_env_with_a_sequencer_ledger_and_no_sequencer_column_is_a_command_error(
    sequencer_ledger: str,
) -> None:
    with pytest.raises(CommandError, match=r"needs a sequencer column.*sequencer_field"):
        _manage("env", "--model", "documents.Photo", "--sequencer-ledger", sequencer_ledger)


def test_backfill_fills_null_sizes_through_the_operator_tool(
    django_project: DjangoProject, capfd: pytest.CaptureFixture[str]
) -> None:
    sizes = {f"backfill-{uuid.uuid4().hex[:8]}/doc-{i}.pdf": 100 + i for i in range(3)}
    _uploaded(django_project, sizes)
    Document.objects.bulk_create(Document(file=name) for name in sizes)

    call_command("size_recorder", "backfill", "--model", "documents.Document", "--json")

    out, _ = capfd.readouterr()
    assert dict(Document.objects.values_list("file", "size_bytes")) == sizes
    assert isinstance(json.loads(out.splitlines()[-1]), dict)


def test_check_fix_repairs_a_size_that_drifted(django_project: DjangoProject) -> None:
    name = f"check-{uuid.uuid4().hex[:8]}/report.pdf"
    _uploaded(django_project, {name: 2048})
    Document.objects.create(file=name)
    Document.objects.filter(file=name).update(size_bytes=1)

    call_command("size_recorder", "check", "--fix", "--model", "documents.Document")

    assert Document.objects.values_list("size_bytes", flat=True).get(file=name) == 2048


def test_an_operator_with_every_recorder_variable_left_in_the_shell_runs_the_tool_on_the_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each SIZE_RECORDER_* constant, and DATABASE_URL, set in the shell (a session with the
    operator tools, a sequencer ledger's export): the child sees the models' settings and the
    URL from DATABASES, and of the shell's only the two timeouts, which are the operator's to
    choose. A variable added to the constants is covered as soon as it is added."""
    left = "left-in-the-shell"
    recorder_variables = [
        value
        for name, value in vars(c).items()
        if name.startswith("ENV_") and value.startswith("SIZE_RECORDER_")
    ]
    for name in [*recorder_variables, c.ENV_DATABASE_URL]:
        monkeypatch.setenv(name, left)
    children: list[dict[str, str]] = []

    def run_child(argv: list[str], env: dict[str, str]) -> tuple[int, bool]:
        children.append(env)
        return 0, False

    monkeypatch.setattr(
        "size_recorder.django.management.commands.size_recorder._run_child", run_child
    )

    _manage("backfill", "--model", "documents.Document")

    (env,) = children
    assert c.ENV_SEQUENCER_LEDGER in recorder_variables
    assert {name for name, value in env.items() if value == left} == {
        c.ENV_STATEMENT_TIMEOUT_MS,
        c.ENV_CONNECT_TIMEOUT_S,
    }
    assert env.items() >= recorder_environment(Document).items()
    assert env[c.ENV_DATABASE_URL] != left


def test_backfill_with_a_sequencer_ledger_left_in_the_shell_still_runs(
    django_project: DjangoProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photo has no sequencer column, so the ledger's variable would stop the tool at start-up;
    backfill does not use the ledger, and the command leaves the shell's value out."""
    monkeypatch.setenv(c.ENV_SEQUENCER_LEDGER, "public.size_recorder_sequencers")
    name = f"photos/{uuid.uuid4().hex[:8]}/ledger.jpg"
    _uploaded(django_project, {name: 512})
    Photo.objects.create(image=name, width=1, height=1)

    call_command("size_recorder", "backfill", "--model", "documents.Photo")

    assert Photo.objects.values_list("size_bytes", flat=True).get(image=name) == 512


def test_backfill_without_the_cli_extra_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The child runs without rich, as `pip install 'size-recorder[django]'` leaves it: `None`
    in sys.modules makes `import rich` fail as it does when it is not installed."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['rich'] = None\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    with pytest.raises(SystemExit) as exited:
        call_command("size_recorder", "backfill", "--model", "documents.Document")

    assert exited.value.code == 2
    assert f"install the cli extra: {CLI_EXTRA}" in capfd.readouterr().err


def test_backfill_without_psycopg_names_the_cli_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)

    with pytest.raises(CommandError, match=rf"psycopg is not installed.*{re.escape(CLI_EXTRA)}"):
        _manage("backfill", "--model", "documents.Document")


def test_backfill_fills_files_and_images_sharing_one_storage_location(
    django_project: DjangoProject,
) -> None:
    run = uuid.uuid4().hex[:8]
    _uploaded(django_project, {f"uploads/{run}/a.pdf": 300, f"photos/{run}/b.jpg": 200})
    Document.objects.create(file=f"uploads/{run}/a.pdf")
    Photo.objects.create(image=f"photos/{run}/b.jpg", width=1, height=1)

    call_command("size_recorder", "backfill")

    assert Document.objects.values_list("size_bytes", flat=True).get() == 300
    assert Photo.objects.values_list("size_bytes", flat=True).get() == 200


def test_check_fix_repairs_an_image_beside_files_under_one_storage_location(
    django_project: DjangoProject,
) -> None:
    run = uuid.uuid4().hex[:8]
    _uploaded(django_project, {f"uploads/{run}/a.pdf": 300, f"photos/{run}/b.jpg": 200})
    Document.objects.create(file=f"uploads/{run}/a.pdf")
    Photo.objects.create(image=f"photos/{run}/b.jpg", width=1, height=1)
    Document.objects.update(size_bytes=300)
    Photo.objects.update(size_bytes=1)

    call_command("size_recorder", "check", "--fix")

    assert Photo.objects.values_list("size_bytes", flat=True).get() == 200
    assert Document.objects.values_list("size_bytes", flat=True).get() == 300


def test_walks_of_fields_sharing_a_location_list_each_fields_directory() -> None:
    walks = [prefix for _, prefix, _ in _walks(field_targets([Document, Photo]))]

    assert walks == ["media/photos/", "media/uploads/"]


def test_walks_skip_a_prefix_inside_another_on_the_same_bucket() -> None:
    """One walk of media/ reaches media/avatars/ too; the tool routes those to their target."""
    (document,) = field_targets(Document)
    avatars = replace(document, prefix="media/avatars/")
    archive = replace(document, bucket="archive")

    walks = [(bucket, prefix) for bucket, prefix, _ in _walks([avatars, document, archive])]

    assert walks == [(document.bucket, "media/"), ("archive", "media/")]


def test_ctrl_c_reaches_the_tool_which_stops_on_its_own(tmp_path: Path) -> None:
    """The tool gets the SIGINT (to finish its batch and say where to resume) and this command
    neither dies first nor starts the next walk."""
    ready = tmp_path / "ready"
    tool = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(1))\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(30)\n"
    )

    def interrupt() -> None:
        while not ready.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    assert _run_child([sys.executable, "-c", tool], dict(os.environ)) == (1, True)
