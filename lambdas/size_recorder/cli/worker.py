"""`size-recorder worker`: consume a queue with the same core that runs in Lambda."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from aws_lambda_powertools import Logger

from size_recorder import constants as c
from size_recorder.adapters import sqs
from size_recorder.adapters.wiring import build_recorder, postgres_store
from size_recorder.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandError,
    StopFlag,
    fail,
    load_settings,
    print_summary,
)
from size_recorder.cli.tools import positive_int
from size_recorder.core.config import ConfigError
from size_recorder.core.recorder import StoreError
from size_recorder.ops.worker import run_worker


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="consume an SQS queue of S3 events and record sizes (Lambda's job, outside Lambda)",
        description="Consume S3 ObjectCreated events from an SQS queue and record each size. "
        "Configuration comes from the same environment variables as the Lambda.",
    )
    parser.add_argument("--queue-url", required=True, help="the SQS queue S3 notifies")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=10,
        help="messages per database round trip (received 10 at a time; default 10)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=int,
        choices=range(21),
        default=20,
        metavar="0-20",
        help="long-poll wait per receive (default 20)",
    )
    parser.add_argument(
        "--exit-when-empty",
        action="store_true",
        help="stop once a receive returns nothing; exit 1 if any message was left for redelivery",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except CommandError as exc:
        return fail(str(exc))
    store = postgres_store(settings)
    recorder = build_recorder(settings, store)
    # Logs go to stderr: stdout carries only the summary, which --json makes machine-readable.
    logger = Logger(service=c.SERVICE_NAME, logger_handler=logging.StreamHandler(sys.stderr))
    try:
        store.verify()
    except ConfigError as exc:
        return fail(f"configuration error: {exc}")
    except StoreError as exc:
        # Exiting would put a supervised worker into a restart loop; like the Lambda, keep
        # consuming: messages fail (and are retried) until Postgres answers, and the tables
        # are checked on the first connection that succeeds.
        logger.warning("Postgres is not reachable; consuming anyway", reason=str(exc))
    try:
        stats = run_worker(
            recorder=recorder,
            client=sqs.sqs_client(),
            queue_url=args.queue_url,
            logger=logger,
            batch_size=args.batch_size,
            wait_seconds=args.wait_seconds,
            exit_when_empty=args.exit_when_empty,
            should_stop=StopFlag().install(),
        )
    except ConfigError as exc:  # the deferred table check failed once Postgres came back
        return fail(f"configuration error: {exc}")
    outcomes = {str(outcome): n for outcome, n in sorted(stats.outcomes.items())}
    if args.json:
        # Stable snake_case keys, as every command's --json uses (docs/operations.md).
        summary: dict[str, object] = {
            "command": "worker",
            "messages": stats.messages,
            "deleted": stats.deleted,
            "left_for_redelivery": stats.failed,
            "records": outcomes,
        }
    else:
        summary = {
            "messages": stats.messages,
            "deleted (acknowledged)": stats.deleted,
            "left for redelivery": stats.failed,
            **{f"records {outcome}": n for outcome, n in outcomes.items()},
        }
    print_summary("size-recorder worker", summary, as_json=args.json)
    # A one-shot run tells scripts whether anything is still waiting; a long-running consumer
    # leaves failures to SQS and its DLQ, so stopping it is not an error.
    if args.exit_when_empty and stats.failed:
        return EXIT_INCOMPLETE
    return EXIT_OK
