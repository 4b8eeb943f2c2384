"""The function's code asset, bundled with pip on this machine: no Docker needed.

pip downloads wheels built for the function's platform instead of this machine's
(`--platform`, `--python-version`, `--only-binary=:all:`). psycopg-binary 3.3 publishes its
aarch64 wheels only as `manylinux_2_28`; with `manylinux2014` alone pip silently falls back to an
older release, so both tags are named. `--no-compile` keeps .pyc files built for this machine's
Python out of the bundle.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

import size_recorder

# What the Lambda runtime lacks (boto3 ships with it). Keep in step with pyproject's dependencies.
REQUIREMENTS: Final = ("psycopg[binary]>=3.2,<4", "aws-lambda-powertools>=3.10,<4")
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
PYTHON_VERSION: Final = "3.13"
PLATFORMS: Final[dict[str, tuple[str, ...]]] = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
PACKAGE_DIR: Final = Path(size_recorder.__file__).resolve().parent
_IGNORED: Final = ("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache")


def pip_arguments(architecture: str, target: str) -> list[str]:
    """The `pip install` arguments that fetch the function's dependencies for `architecture`."""
    platforms = [arg for tag in PLATFORMS[architecture] for arg in ("--platform", tag)]
    return [
        "install",
        "--target",
        target,
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *platforms,
        "--disable-pip-version-check",
        "--quiet",
        *REQUIREMENTS,
    ]


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Runs pip from the Python running the CDK app, then copies the `size_recorder` package."""

    def __init__(self, architecture: str, package_dir: Path = PACKAGE_DIR) -> None:
        self.architecture = architecture
        self.package_dir = package_dir

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        """Bundle into `output_dir`; a pip failure fails synth with pip's own message."""
        command = [sys.executable, "-m", "pip", *pip_arguments(self.architecture, output_dir)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv, no shell
        if done.returncode != 0:
            raise RuntimeError(
                f"bundling the size-recorder function failed ({' '.join(command)}):\n"
                f"{done.stdout}{done.stderr}"
            )
        # Console scripts (jmespath's jp.py) have no use in a function.
        shutil.rmtree(Path(output_dir) / "bin", ignore_errors=True)
        shutil.copytree(
            self.package_dir,
            Path(output_dir) / self.package_dir.name,
            ignore=shutil.ignore_patterns(*_IGNORED),
            dirs_exist_ok=True,
        )
        return True


def function_code(architecture: str, package_dir: Path = PACKAGE_DIR) -> lambda_.Code:
    """The asset, hashed from the package source and the bundling command (so the requirements
    and the platform too)."""
    return lambda_.Code.from_asset(
        str(package_dir),
        exclude=list(_IGNORED),
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or fails synth. It is what the command
            # would need if someone removed `local`, and it puts the command in the asset hash.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"),
            command=[
                "bash",
                "-c",
                shlex.join(["pip", *pip_arguments(architecture, "/asset-output")])
                + f" && cp -r /asset-input /asset-output/{package_dir.name}",
            ],
            local=PipLocalBundling(architecture, package_dir),
        ),
    )
