# mypy: disable-error-code="import-untyped", allow-subclassing-any
"""`manage.py size_recorder env|grant|backfill|check`: the recorder configured from the models.

`env` and `grant` print what the recorder's deployment and its database role need, read off the
models, their storages and the database, so nobody types a `SIZE_RECORDER_*` variable.
`backfill` and `check` run the operator's own `size-recorder backfill|check` in a child process,
configured the same way: the same code, progress bar, summary, `--json` and exit status, and the
same one-line message when the `cli` extra is missing. They go through its command line and
environment, the interface the project keeps stable, rather than its internals. The database's
password reaches the child through its environment only: never an argument, never printed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, models

from size_recorder import constants as c
from size_recorder.django.fields import RecordedSizeFileField
from size_recorder.django.recorder import (
    FieldTarget,
    field_targets,
    ledger_table,
    recorder_grant_sql,
    target_environment,
)

CLI_EXTRA = "pip install 'size-recorder[cli]'"
# The subcommands that run the operator's `size-recorder`, which the `cli` extra installs.
TOOLS = ("backfill", "check")
SELECTION_HINT = (
    " (without --model, every installed model with a RecordedSizeFileField is selected;"
    " name the ones to record with --model app_label.Model)"
)
# Read by the tool, but the operator's to choose for a run: how long it waits to connect and for
# a row's lock. Nothing the models could say.
PASSED_THROUGH_VARIABLES = frozenset({c.ENV_STATEMENT_TIMEOUT_MS, c.ENV_CONNECT_TIMEOUT_S})
# The child's configuration comes from the models alone: the shell's own target or database
# variables (left from a session with the operator tools, say) would contradict it, and the
# other ways to reach the database would be refused beside the URL the child gets from
# DATABASES. A sequencer ledger left there would only stop the tool at start-up (backfill and
# check do not use the ledger, but the settings they read refuse one without a sequencer column).
# Every SIZE_RECORDER_* name in the constants, so a variable added there is replaced here too
# unless it is passed through on purpose.
REPLACED_VARIABLES = frozenset(
    {
        c.ENV_DATABASE_URL,
        *(
            value
            for name, value in vars(c).items()
            if name.startswith("ENV_") and value.startswith("SIZE_RECORDER_")
        ),
    }
    - PASSED_THROUGH_VARIABLES
)
# The console script's entry point, run by this interpreter: the package installed beside
# Django, whether or not its script is on PATH.
CLI = "import sys; from size_recorder.cli import main; sys.exit(main())"


class Command(BaseCommand):
    help = (
        "The size recorder configured from the models: its environment (env), its database"
        " role (grant), and the operator's backfill and check run against them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        env = actions.add_parser(
            "env", help="print the recorder's configuration as shell export lines"
        )
        env.add_argument("--json", action="store_true", help="print it as one JSON object")
        grant = actions.add_parser(
            "grant", help="print the SQL granting ROLE what the recorder needs, and no more"
        )
        grant.add_argument("role", metavar="ROLE")
        grant.add_argument(
            "--operator",
            action="store_true",
            help="the operator's role instead: backfill and check also read the size column"
            " and check keeps its listing in a temporary table",
        )
        backfill = actions.add_parser(
            "backfill", help="size-recorder backfill: fill NULL sizes from S3"
        )
        backfill.add_argument("--method", help="list (default) or head")
        backfill.add_argument("--start-after", metavar="KEY", help="list: resume after KEY")
        check = actions.add_parser(
            "check", help="size-recorder check: report sizes that drifted from S3"
        )
        check.add_argument("--fix", action="store_true", help="repair the sizes that differ")
        for tool in (backfill, check):
            tool.add_argument("--page-size", help="objects per listing request (1-1000)")
            tool.add_argument("--dry-run", action="store_true", help="change nothing")
            tool.add_argument("--json", action="store_true", help="JSON lines on stdout")
        for action in (env, grant):
            action.add_argument(
                "--sequencer-ledger",
                metavar="TABLE",
                help="the sequencer ledger's table, 'table' or 'schema.table'"
                " (docs/configuration.md#the-sequencer-ledger): env sets"
                f" {c.ENV_SEQUENCER_LEDGER}, grant grants on it",
            )
        for action in (env, grant, backfill, check):
            action.add_argument(
                "--model",
                action="append",
                metavar="APP_LABEL.MODEL",
                help="a model with recorded file fields (repeatable; default: every such model)",
            )
            action.add_argument(
                "--database",
                default=DEFAULT_DB_ALIAS,
                help="the DATABASES alias of the models' tables (default: %(default)s)",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            # First: without the `cli` extra, backfill and check have nothing to run.
            database_url = _database_url(options["database"]) if action in TOOLS else ""
            targets = field_targets(_selected_models(options["model"]), using=options["database"])
            if action == "env":
                ledger = options["sequencer_ledger"]
                if ledger is not None:
                    ledger = ledger_table(ledger, targets, using=options["database"])
                self._env(targets, sequencer_ledger=ledger, as_json=options["json"])
            elif action == "grant":
                sql = recorder_grant_sql(
                    [t.field for t in targets],
                    options["role"],
                    operator=options["operator"],
                    sequencer_ledger=options["sequencer_ledger"],
                    using=options["database"],
                )
                self.stdout.write(sql)
            else:
                self._run_tool(action, targets, database_url, options)
        except (ImproperlyConfigured, LookupError, ValueError) as exc:
            hint = "" if options["model"] else SELECTION_HINT
            raise CommandError(f"{exc}{hint}") from None

    def _note(self, text: str) -> None:
        """A line on stderr for people, unstyled (the default style there is the error red)."""
        self.stderr.write(text, style_func=lambda line: line)

    def _env(
        self, targets: list[FieldTarget], *, sequencer_ledger: str | None, as_json: bool
    ) -> None:
        env = target_environment(targets, sequencer_ledger=sequencer_ledger)
        if as_json:
            self.stdout.write(json.dumps(env, indent=2))
        else:
            for name, value in env.items():
                self.stdout.write(f"export {name}={shlex.quote(value)}")
        self._note(
            f"# {c.ENV_DATABASE_URL} is left out: the function reads the database from its"
            f" secret ({c.ENV_DB_SECRET_ARN}); backfill and check build it from DATABASES."
        )

    def _run_tool(
        self,
        action: str,
        targets: list[FieldTarget],
        database_url: str,
        options: Mapping[str, Any],
    ) -> None:
        """One `size-recorder` run per bucket and prefix the targets cover; exits as it does."""
        env = {k: v for k, v in os.environ.items() if k not in REPLACED_VARIABLES}
        env.update(target_environment(targets))
        env[c.ENV_DATABASE_URL] = database_url
        flags = _forwarded_flags(options)
        worst = 0
        for bucket, prefix, storage in _walks(targets):
            argv = [action, "--bucket", bucket, "--prefix", prefix, *flags]
            self._note(f"size-recorder {shlex.join(argv)}")
            # The child writes to the same streams: what this process buffered goes first.
            self.stderr.flush()
            self.stdout.flush()
            status, stopped = _run_child(
                [sys.executable, "-c", CLI, *argv], {**env, **_aws(storage)}
            )
            worst = max(worst, status)
            # Asked to stop, or a configuration or usage error the next walk would repeat.
            if stopped or status == 2:
                break
        if worst:
            # As `makemigrations --check` does: the tool has said why; only the status is left.
            sys.exit(worst)


def _selected_models(labels: list[str] | None) -> list[type[models.Model]]:
    """The models named by `--model`, or every installed model with a recorded file field."""
    if labels:
        return [apps.get_model(label) for label in labels]
    found = [
        model
        for model in apps.get_models()
        if any(isinstance(f, RecordedSizeFileField) for f in model._meta.concrete_fields)
    ]
    if not found:
        raise CommandError("no installed model has a RecordedSizeFileField")
    return found


def _walks(targets: Iterable[FieldTarget]) -> list[tuple[str, str, Any]]:
    """(bucket, prefix, storage) to walk: per bucket, each prefix not inside another one.

    A walk of `media/` already reaches `media/avatars/` objects, and routes them to their own
    target, so walking both would count those objects twice.
    """
    by_bucket: dict[str, dict[str, Any]] = {}
    for target in targets:
        by_bucket.setdefault(target.bucket, {}).setdefault(target.prefix, target.storage)
    walks = []
    for bucket, storages in by_bucket.items():
        kept: list[str] = []
        for prefix in sorted(storages):
            if not any(prefix.startswith(outer) for outer in kept):
                kept.append(prefix)
                walks.append((bucket, prefix, storages[prefix]))
    return walks


def _forwarded_flags(options: Mapping[str, Any]) -> list[str]:
    """The `size-recorder` options given to this command, spelled as it takes them; its own
    parser checks their values and reports mistakes."""
    flags = []
    for name in ("method", "start_after", "page_size"):
        if options.get(name) is not None:
            flags += [f"--{name.replace('_', '-')}", str(options[name])]
    for name in ("fix", "dry_run", "json"):
        if options.get(name):
            flags.append(f"--{name.replace('_', '-')}")
    return flags


def _aws(storage: Any) -> dict[str, str]:
    """The storage's own AWS settings as the variables boto3 reads, so the tool reaches the
    bucket as the app does (its endpoint, region and credentials); unset ones are left to the
    environment's usual chain."""
    settings = {
        "AWS_ACCESS_KEY_ID": storage.access_key,
        "AWS_SECRET_ACCESS_KEY": storage.secret_key,
        "AWS_SESSION_TOKEN": storage.security_token,
        "AWS_PROFILE": storage.session_profile,
        "AWS_DEFAULT_REGION": storage.region_name,
        "AWS_ENDPOINT_URL_S3": storage.endpoint_url,
    }
    return {name: str(value) for name, value in settings.items() if value}


def _database_url(alias: str) -> str:
    """A libpq connection string for the DATABASES alias: the parameters Django connects with
    (its OPTIONS included), without Django's own (cursor factory, adapters)."""
    try:
        from psycopg import pq
        from psycopg.conninfo import make_conninfo
    except ModuleNotFoundError as exc:
        raise CommandError(
            f"{exc.name} is not installed; install the cli extra: {CLI_EXTRA}"
        ) from None
    connection = connections[alias]
    if connection.vendor != "postgresql":
        raise CommandError(f"the recorder writes to Postgres; database {alias!r} is not one")
    keywords = {default.keyword.decode() for default in pq.Conninfo.get_defaults()}
    params = connection.get_connection_params()
    return make_conninfo(**{k: v for k, v in params.items() if k in keywords and v is not None})


def _run_child(argv: list[str], env: dict[str, str]) -> tuple[int, bool]:
    """Run the tool and wait; its exit status, and whether it was asked to stop.

    Ctrl-C and SIGTERM are passed on rather than acted on: the tool stops after its batch and
    says where to resume, which it could not do if this process died first and took it along.
    """
    stopped: list[int] = []
    with subprocess.Popen(argv, env=env) as child:  # noqa: S603 our own interpreter and argv

        def forward(signum: int, _frame: Any) -> None:
            stopped.append(signum)
            child.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            status = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    # Killed by a signal (a negative status): exit as a shell reports it, 128 + its number.
    return (128 - status if status < 0 else status), bool(stopped)
