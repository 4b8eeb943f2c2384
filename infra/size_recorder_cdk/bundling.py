"""The function's code asset, bundled with pip on this machine: no Docker needed.

pip downloads wheels built for the function's platform instead of this machine's
(`--platform`, `--python-version`, `--only-binary=:all:`). psycopg-binary 3.3 publishes its
aarch64 wheels only as `manylinux_2_28`; with `manylinux2014` alone pip silently falls back to an
older release, so both tags are named. `--no-compile` keeps .pyc files built for this machine's
Python out of the bundle.

The bundle holds what runs in Lambda and nothing else: the `lambda` extra's requirements, read
from the installed project's metadata (so pyproject.toml is the one place they are written), and
the parts of `size_recorder` named in LAMBDA_PARTS. The operator's tools, the demo and the Django
integration (cli/, demo/, django/, ops/) are neither copied nor hashed, so editing them does not
redeploy the function. import-linter's contracts keep the Lambda parts from importing them.
"""

from __future__ import annotations

import importlib.metadata
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import jsii
from aws_cdk import BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from packaging.requirements import Requirement

import size_recorder

DISTRIBUTION: Final = "size-recorder"
# The extra that holds what the Lambda runtime lacks (boto3 ships with it).
LAMBDA_EXTRA: Final = "lambda"
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
PYTHON_VERSION: Final = "3.13"
PLATFORMS: Final[dict[str, tuple[str, ...]]] = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
PACKAGE_DIR: Final = Path(size_recorder.__file__).resolve().parent
# The package's top-level entries that run in Lambda: the public entry point, the core, the
# adapters and the Lambda package (see the layers in pyproject's import-linter contracts).
LAMBDA_PARTS: Final = (
    "__init__.py",
    "constants.py",
    "handler.py",
    "core",
    "adapters",
    "aws_lambda",
)
_IGNORED: Final = ("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache")
# What the asset hash reads, as gitignore lines: every top-level entry is out unless it is a
# Lambda part, the rule the copy follows, so a package added beside cli/ stays out of both.
ASSET_EXCLUDE: Final = ("/*", *(f"!/{part}" for part in LAMBDA_PARTS), *_IGNORED)
ASSET_IGNORE_MODE: Final = IgnoreMode.GIT


def lambda_requirements() -> list[str]:
    """The `lambda` extra's requirements as pip arguments, from the installed project's metadata
    (an editable install's is rewritten by `pip install -e`, which the Makefile reruns whenever
    pyproject.toml changes)."""
    try:
        declared = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError as error:
        raise RuntimeError(
            f"bundling reads the {LAMBDA_EXTRA!r} extra from the installed {DISTRIBUTION} project:"
            " install it first (make, or pip install -e '.[cdk]')"
        ) from error
    requirements = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": LAMBDA_EXTRA}):
            requirement.marker = None
            requirements.append(str(requirement))
    if not requirements:
        raise RuntimeError(f"{DISTRIBUTION} declares no {LAMBDA_EXTRA!r} extra to bundle")
    return requirements


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
        *lambda_requirements(),
    ]


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Runs pip from the Python running the CDK app, then copies the Lambda parts of the
    `size_recorder` package."""

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
        package = Path(output_dir) / self.package_dir.name
        package.mkdir(exist_ok=True)
        for part in LAMBDA_PARTS:
            source = self.package_dir / part
            if source.is_dir():
                shutil.copytree(
                    source,
                    package / part,
                    ignore=shutil.ignore_patterns(*_IGNORED),
                    dirs_exist_ok=True,
                )
            else:
                shutil.copy2(source, package / part)
        return True


def function_code(architecture: str, package_dir: Path = PACKAGE_DIR) -> lambda_.Code:
    """The asset, hashed from the Lambda parts of the package source and the bundling command (so
    the requirements and the platform too)."""
    output = f"/asset-output/{package_dir.name}"
    return lambda_.Code.from_asset(
        str(package_dir),
        exclude=list(ASSET_EXCLUDE),
        ignore_mode=ASSET_IGNORE_MODE,
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or fails synth. It is what the command
            # would need if someone removed `local`, and it puts the command in the asset hash.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"),
            command=[
                "bash",
                "-c",
                shlex.join(["pip", *pip_arguments(architecture, "/asset-output")])
                + f" && mkdir -p {output} && cd /asset-input && "
                + shlex.join(["cp", "-r", *LAMBDA_PARTS, output]),
            ],
            local=PipLocalBundling(architecture, package_dir),
        ),
    )
