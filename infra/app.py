"""CDK app entry point: `cdk.json` runs `python3 infra/app.py` from the project root.

cdk-nag's AwsSolutions pack runs on every synth and deploy: a finding nobody acknowledged (with a
reason, next to the construct that causes it) stops the synth.
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from size_recorder_cdk.context import stack_name_from_context
from size_recorder_cdk.errors import SizeRecorderConfigError
from size_recorder_cdk.stack import SizeRecorderStack


def main() -> None:
    app = App()
    try:
        SizeRecorderStack(
            app,
            stack_name_from_context(app.node),
            env=Environment(
                account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
                region=os.environ.get("CDK_DEFAULT_REGION"),
            ),
        )
    except SizeRecorderConfigError as exc:
        # One readable message instead of a jsii traceback.
        sys.exit(f"size-recorder: {exc}")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
