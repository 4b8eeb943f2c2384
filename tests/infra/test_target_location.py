"""A target's `location` (several Django fields under one storage location) from the construct's
typed targets and from cdk.json to SIZE_RECORDER_TARGETS, and a location outside its prefix
refused at synth, naming the entry. No synthesis here."""

from __future__ import annotations

import json

from aws_cdk import App, Stack

from size_recorder import constants as c
from size_recorder_cdk import RecorderTarget, SizeRecorderProps
from size_recorder_cdk.context import context_key, recorder_props, settings_from_mapping
from size_recorder_cdk.props import problems, target_variables

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/documents-db-AbCdEf"
FILES_AND_IMAGES = [
    {"prefix": "media/uploads/", "location": "media/", "table": "documents_document"},
    {
        "prefix": "media/photos/",
        "location": "media/",
        "table": "documents_photo",
        "key_column": "image",
    },
]


def test_targets_sharing_a_storage_location_pass_it_to_the_recorder() -> None:
    props = SizeRecorderProps(targets=[RecorderTarget(**target) for target in FILES_AND_IMAGES])

    variables = target_variables(props)

    assert json.loads(variables[c.ENV_TARGETS]) == FILES_AND_IMAGES


def test_target_without_a_location_leaves_it_to_the_recorders_default() -> None:
    props = SizeRecorderProps(targets=[RecorderTarget(table="t", prefix="media/")])

    assert "location" not in target_variables(props)[c.ENV_TARGETS]


def test_location_outside_its_prefix_fails_synth_naming_the_targets_entry() -> None:
    props = SizeRecorderProps(
        targets=[RecorderTarget(table="t", prefix="media/photos/", location="static/")]
    )

    (problem,) = [p for p in problems(props) if "location" in str(p)]

    assert "SIZE_RECORDER_TARGETS[0].location='static/' is not a leading part" in str(problem)


def test_cdk_json_targets_take_a_location() -> None:
    context = {
        context_key("db_secret_arn"): SECRET_ARN,
        context_key("targets"): FILES_AND_IMAGES,
    }

    found = recorder_props(Stack(App(), "Located"), settings_from_mapping(context))

    assert [t.location for t in found["targets"]] == ["media/", "media/"]
