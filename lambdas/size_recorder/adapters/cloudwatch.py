"""CloudWatch reads for `size-recorder status`: a metric's latest value, and alarms' states.

boto3 is imported on first use; the client honours boto3's standard settings
(`AWS_ENDPOINT_URL`, profiles, region), as the SQS adapter's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def cloudwatch_client() -> Any:
    import boto3

    return boto3.client("cloudwatch")


@dataclass(frozen=True, slots=True)
class Datapoint:
    value: float
    at: datetime  # the start of the minute it summarises


def latest_maximum(
    client: Any,
    *,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    window: timedelta,
    now: datetime,
) -> Datapoint | None:
    """The newest one-minute Maximum of a metric within `window` before `now`; None when
    CloudWatch holds no datapoint there (an idle queue publishes none after a few hours, and
    emulators publish none at all)."""
    response = client.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": name, "Value": value} for name, value in dimensions.items()],
        StartTime=now - window,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = response.get("Datapoints", [])
    if not points:
        return None
    newest = max(points, key=lambda point: point["Timestamp"])
    return Datapoint(value=float(newest["Maximum"]), at=newest["Timestamp"])


@dataclass(frozen=True, slots=True)
class AlarmState:
    """One alarm as DescribeAlarms reports it."""

    name: str
    state: str  # OK, ALARM or INSUFFICIENT_DATA
    reason: str
    updated: datetime | None
    namespace: str | None  # None for a composite alarm
    metric: str | None
    actions: frozenset[str]  # the ARNs notified on ALARM, OK and INSUFFICIENT_DATA


def alarms(client: Any, *, name_prefix: str) -> list[AlarmState]:
    """Every metric and composite alarm whose name starts with `name_prefix`."""
    found: list[AlarmState] = []
    paginator = client.get_paginator("describe_alarms")
    pages = paginator.paginate(
        AlarmNamePrefix=name_prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    for page in pages:
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            found.append(
                AlarmState(
                    name=str(alarm["AlarmName"]),
                    state=str(alarm.get("StateValue", "INSUFFICIENT_DATA")),
                    reason=str(alarm.get("StateReason", "")),
                    updated=alarm.get("StateUpdatedTimestamp"),
                    namespace=alarm.get("Namespace"),
                    metric=alarm.get("MetricName"),
                    actions=frozenset(
                        [
                            *alarm.get("AlarmActions", []),
                            *alarm.get("OKActions", []),
                            *alarm.get("InsufficientDataActions", []),
                        ]
                    ),
                )
            )
    return found
