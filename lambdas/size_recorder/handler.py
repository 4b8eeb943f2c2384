"""The public entry point deployed functions name: `size_recorder.handler.lambda_handler`."""

from size_recorder.aws_lambda.handler import lambda_handler

__all__ = ["lambda_handler"]
