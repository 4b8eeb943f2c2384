"""The alarm topic the stack creates lets this account's alarms publish, and nobody else.

`enforce_ssl=True` gives a topic a policy whose only statement is a Deny, and a topic policy
replaces SNS's default one, which is what lets CloudWatch publish: until the stack added an Allow
for CloudWatch, no alarm reached a subscriber. Each test reads the policy the new-bucket stack
synthesizes, with its intrinsics resolved for one account and region.

moto neither evaluates topic policies nor runs alarm actions (`set_alarm_state` only records the
state: moto/cloudwatch/models.py), so the delivery test does both of CloudWatch's steps itself:
ask the topic's policy, as SNS would, then publish the alarm's message to each alarm action.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra.apps import Synthesized
from tests.infra.policy import allows, resolve

ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
TOPIC_NAME = "size-recorder-alarms"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:DeadLetterQueueNotEmpty"


def topic_policy(s: Synthesized, topic_arn: str = TOPIC_ARN) -> dict[str, Any]:
    (topic_id,) = s.of_type("AWS::SNS::Topic")
    refs = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        topic_id: topic_arn,
    }
    policy: dict[str, Any] = resolve(s.one("AWS::SNS::TopicPolicy")["PolicyDocument"], refs)
    return policy


def cloudwatch_may_publish(
    policy: dict[str, Any],
    *,
    topic_arn: str = TOPIC_ARN,
    alarm_arn: str = ALARM_ARN,
    account: str = ACCOUNT,
    tls: bool = True,
) -> bool:
    """What SNS asks of the topic's policy when an alarm action publishes."""
    return allows(
        policy,
        service="cloudwatch.amazonaws.com",
        action="sns:Publish",
        resource=topic_arn,
        context={
            "aws:SourceAccount": account,
            "aws:SourceArn": alarm_arn,
            "aws:SecureTransport": str(tls).lower(),
        },
    )


def test_topic_policy_lets_this_accounts_alarms_publish(new_bucket: Synthesized) -> None:
    assert cloudwatch_may_publish(topic_policy(new_bucket))


def test_topic_policy_allow_is_scoped_to_this_accounts_alarms(new_bucket: Synthesized) -> None:
    (allow,) = [
        st
        for st in new_bucket.one("AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
        if st["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":cloudwatch:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":alarm:*",
                    ],
                ]
            }
        },
    }


def test_ssl_only_policy_alone_would_keep_every_alarm_from_the_topic(
    new_bucket: Synthesized,
) -> None:
    """What CDK's enforce_ssl writes by itself: the regression this policy fixes."""
    policy = topic_policy(new_bucket)
    ssl_only = {**policy, "Statement": [st for st in policy["Statement"] if st["Effect"] == "Deny"]}
    assert not cloudwatch_may_publish(ssl_only)


def test_topic_refuses_another_accounts_alarms(new_bucket: Synthesized) -> None:
    other = "210987654321"
    assert not cloudwatch_may_publish(
        topic_policy(new_bucket),
        account=other,
        alarm_arn=ALARM_ARN.replace(ACCOUNT, other),
    )


def test_topic_refuses_a_publish_without_tls(new_bucket: Synthesized) -> None:
    assert not cloudwatch_may_publish(topic_policy(new_bucket), tls=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.mark.usefixtures("aws")
def test_an_alarm_on_the_stacks_own_topic_reaches_its_subscriber(new_bucket: Synthesized) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic_arn,
        AttributeName="Policy",
        AttributeValue=json.dumps(topic_policy(new_bucket, topic_arn)),
    )
    queue_url = sqs.create_queue(QueueName="on-call")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    # The stack's DLQ alarm, its action resolved to this topic.
    (alarm,) = [
        a["Properties"]
        for k, a in new_bucket.of_type("AWS::CloudWatch::Alarm").items()
        if "DeadLetterQueueNotEmpty" in k
    ]
    (topic_id,) = new_bucket.of_type("AWS::SNS::Topic")
    cloudwatch.put_metric_alarm(
        AlarmName="DeadLetterQueueNotEmpty",
        AlarmActions=resolve(alarm["AlarmActions"], {topic_id: topic_arn}),
        MetricName=alarm["MetricName"],
        Namespace=alarm["Namespace"],
        Statistic=alarm["Statistic"],
        Period=alarm["Period"],
        EvaluationPeriods=alarm["EvaluationPeriods"],
        Threshold=alarm["Threshold"],
        ComparisonOperator=alarm["ComparisonOperator"],
    )
    cloudwatch.set_alarm_state(
        AlarmName="DeadLetterQueueNotEmpty", StateValue="ALARM", StateReason="a dead letter"
    )

    # CloudWatch's part, which moto does not play: publish to each action the policy admits.
    (fired,) = cloudwatch.describe_alarms(AlarmNames=["DeadLetterQueueNotEmpty"])["MetricAlarms"]
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    for action in fired["AlarmActions"]:
        assert cloudwatch_may_publish(policy, topic_arn=action, alarm_arn=fired["AlarmArn"])
        sns.publish(
            TopicArn=action,
            Subject=f'ALARM: "{fired["AlarmName"]}"',
            Message=json.dumps(
                {
                    "AlarmName": fired["AlarmName"],
                    "AlarmArn": fired["AlarmArn"],
                    "NewStateValue": fired["StateValue"],
                    "NewStateReason": fired["StateReason"],
                }
            ),
        )

    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    assert [json.loads(m["Body"])["NewStateValue"] for m in messages] == ["ALARM"]
    assert json.loads(messages[0]["Body"])["AlarmName"] == "DeadLetterQueueNotEmpty"
