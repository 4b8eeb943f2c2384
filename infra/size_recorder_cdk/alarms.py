"""Alarms that tell a topic when they fire and when they clear: the recorder's and the
reconciliation's."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

# (id, metric, threshold, description): an alarm at or above the threshold in one period.
AlarmSpec = tuple[str, cloudwatch.IMetric, float, str]


def topic_alarms(
    scope: Construct,
    specs: Iterable[AlarmSpec],
    *,
    topic: sns.ITopic,
    treat_missing_data: cloudwatch.TreatMissingData,
) -> dict[str, cloudwatch.Alarm]:
    """One alarm per spec in `scope`, by id, each notifying `topic` on ALARM and on OK."""
    action = cw_actions.SnsAction(topic)
    alarms: dict[str, cloudwatch.Alarm] = {}
    for name, metric, threshold, description in specs:
        alarm = cloudwatch.Alarm(
            scope,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=treat_missing_data,
            alarm_description=description,
        )
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        alarms[name] = alarm
    return alarms
