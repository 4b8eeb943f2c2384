"""AWS CDK construct and stack for size-recorder (`pip install 'size-recorder[cdk]'`)."""

from __future__ import annotations

from size_recorder_cdk.construct import SizeRecorder
from size_recorder_cdk.errors import SizeRecorderConfigError
from size_recorder_cdk.props import EventSource, RecorderTarget, SizeRecorderProps
from size_recorder_cdk.stack import SizeRecorderStack

__all__ = [
    "EventSource",
    "RecorderTarget",
    "SizeRecorder",
    "SizeRecorderConfigError",
    "SizeRecorderProps",
    "SizeRecorderStack",
]
