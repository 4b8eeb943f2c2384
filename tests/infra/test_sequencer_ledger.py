"""A team that keeps the sequencer ledger (docs/configuration.md) sets it on the construct or in
context: the recorder's function, and the reconciliation's, get SIZE_RECORDER_SEQUENCER_LEDGER,
the dashboard draws RecordsStaleByLedger beside RecordsStale, and a ledger the recorder would
refuse at start-up fails synth instead, naming what to change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from size_recorder import constants as c
from size_recorder_cdk import RecorderTarget, SizeRecorder, SizeRecorderConfigError
from size_recorder_cdk.stack import SizeRecorderStack
from tests.infra.apps import SECRET_ARN, app_context, feature_flags

LEDGER = "public.size_recorder_sequencers"
# The recorder's function and the reconciliation's two: each reads the recorder's settings.
HANDLERS = (c.HANDLER, c.RECONCILE_HANDLER, c.SUMMARY_HANDLER)


@pytest.fixture
def stack() -> Stack:
    # An app of its own: reading the template synthesizes it, and a synthesized app is final.
    return Stack(App(context=feature_flags()), "Ledger")


def recorder(stack: Stack, **props: Any) -> SizeRecorder:
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "Db", SECRET_ARN)
    return SizeRecorder(
        stack,
        "SizeRecorder",
        **{"table": "documents_document", "database_secret": secret, **props},
    )


def ledger_by_handler(stack: Stack) -> dict[str, str | None]:
    """Each recorder-settings function's SIZE_RECORDER_SEQUENCER_LEDGER (None: not set)."""
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    return {
        f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"].get(
            c.ENV_SEQUENCER_LEDGER
        )
        for f in functions.values()
        if f["Properties"].get("Handler") in HANDLERS
    }


def record_outcomes_graphed(stack: Stack) -> list[str]:
    """The metric names of the dashboard's "Record outcomes" widget, in the order drawn."""
    dashboard = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard")
    (resource,) = dashboard.values()
    # The body is an Fn::Join of JSON text and tokens (region, ARNs): a token stands in as "".
    _, parts = resource["Properties"]["DashboardBody"]["Fn::Join"]
    body = json.loads("".join(part if isinstance(part, str) else "" for part in parts))
    (widget,) = [w for w in body["widgets"] if w["properties"].get("title") == "Record outcomes"]
    return [metric[1] for metric in widget["properties"]["metrics"]]


def test_ledger_prop_reaches_the_recorder_and_the_reconciliation(stack: Stack) -> None:
    recorder(stack, sequencer_column="size_sequencer", sequencer_ledger=LEDGER, reconcile=True)
    assert ledger_by_handler(stack) == dict.fromkeys(HANDLERS, LEDGER)


def test_ledger_prop_with_a_sequencer_column_on_one_target_is_accepted(stack: Stack) -> None:
    targets = [
        RecorderTarget(table="documents_document", prefix="documents/"),
        RecorderTarget(table="avatars", prefix="avatars/", sequencer_column="size_sequencer"),
    ]
    recorder(stack, table=None, targets=targets, sequencer_ledger=LEDGER)
    assert ledger_by_handler(stack) == {c.HANDLER: LEDGER}


def test_no_ledger_sets_no_variable(stack: Stack) -> None:
    recorder(stack, sequencer_column="size_sequencer", reconcile=True)
    assert ledger_by_handler(stack) == dict.fromkeys(HANDLERS)


def test_dashboard_with_a_ledger_draws_records_stale_by_ledger_beside_records_stale(
    stack: Stack,
) -> None:
    recorder(stack, sequencer_column="size_sequencer", sequencer_ledger=LEDGER)
    graphed = record_outcomes_graphed(stack)
    stale = graphed.index(c.METRIC_STALE)
    assert graphed[stale + 1] == c.METRIC_STALE_BY_LEDGER


def test_dashboard_without_a_ledger_leaves_out_a_metric_never_published(stack: Stack) -> None:
    recorder(stack, sequencer_column="size_sequencer")
    graphed = record_outcomes_graphed(stack)
    assert c.METRIC_STALE in graphed
    assert c.METRIC_STALE_BY_LEDGER not in graphed


def test_ledger_context_key_reaches_the_recorder_and_the_reconciliation() -> None:
    context = app_context(
        sequencer_column="size_sequencer", sequencer_ledger=LEDGER, reconcile=True
    )
    stack = SizeRecorderStack(App(context=context), "SizeRecorder")
    assert ledger_by_handler(stack) == dict.fromkeys(HANDLERS, LEDGER)


def test_ledger_prop_without_a_sequencer_column_is_refused_naming_the_props(stack: Stack) -> None:
    with pytest.raises(SizeRecorderConfigError) as caught:
        recorder(stack, sequencer_ledger=LEDGER)
    message = str(caught.value)
    assert "sequencer_ledger" in message
    assert "sequencer_column" in message
    assert f"{c.ENV_SEQUENCER_LEDGER} needs a sequencer column" in message


def test_ledger_context_key_without_a_sequencer_column_is_refused_naming_the_keys() -> None:
    context = app_context(sequencer_ledger=LEDGER)
    with pytest.raises(SizeRecorderConfigError) as caught:
        SizeRecorderStack(App(context=context), "SizeRecorder")
    message = str(caught.value)
    assert "'size-recorder:sequencerLedger'" in message
    assert "'size-recorder:sequencerColumn'" in message


@pytest.mark.parametrize(
    "ledger",
    ["public.size-recorder-sequencers", "a.b.c.d", "public.", '"sequencers"'],
)
def test_ledger_that_is_not_a_table_name_is_refused_naming_the_prop(
    stack: Stack, ledger: str
) -> None:
    with pytest.raises(SizeRecorderConfigError) as caught:
        recorder(stack, sequencer_column="size_sequencer", sequencer_ledger=ledger)
    assert f"- sequencer_ledger: the recorder rejects it: {c.ENV_SEQUENCER_LEDGER}=" in str(
        caught.value
    )
