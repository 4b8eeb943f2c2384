"""The real thing: `npx cdk synth` from the project root with the project's cdk.json, bundling
the function with pip for its architecture (no Docker), what the bundle holds and what its hash
reads, and the app's own error path."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from packaging.requirements import Requirement

from size_recorder import constants as c
from size_recorder_cdk.bundling import (
    PACKAGE_DIR,
    PipLocalBundling,
    function_code,
    lambda_requirements,
)
from tests.infra.conftest import ROOT, SECRET_ARN

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
# What runs only in a terminal, on a laptop or in the app: never in the function.
NOT_IN_LAMBDA = ("cli", "demo", "django", "ops")
IN_LAMBDA = ["__init__.py", "adapters", "aws_lambda", "constants.py", "core", "handler.py"]


def package_entries(bundle: Path) -> list[str]:
    return sorted(entry.name for entry in (bundle / "size_recorder").iterdir())


def cli_env() -> dict[str, str]:
    """This venv's python3 first on PATH (cdk.json runs `python3 infra/app.py`), and no way to
    reach a real AWS account: synth needs none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    return env


@pytest.fixture(scope="module")
def cli_synth(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    if not (ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("the AWS CDK CLI is not installed: run `make node_modules/.installed` (npm ci)")
    npx = shutil.which("npx")
    assert npx is not None, "npx (Node.js) is required for the CDK CLI"
    outdir = tmp_path_factory.mktemp("cdk.out")
    done = subprocess.run(
        [
            npx, "--no", "cdk", "synth", "--no-notices", "--output", str(outdir),
            "-c", "size-recorder:table=public.documents_document",
            "-c", f"size-recorder:dbSecretArn={SECRET_ARN}",
        ],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    return done, outdir


def function_asset(outdir: Path) -> Path:
    template = json.loads((outdir / "SizeRecorder.template.json").read_text())
    paths = [
        r["Metadata"]["aws:asset:path"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == c.HANDLER
    ]
    assert len(paths) == 1
    return outdir / paths[0]


def test_cli_synth_succeeds_with_project_cdk_json(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, outdir = cli_synth
    assert done.returncode == 0, done.stderr[-4000:]
    template = json.loads((outdir / "SizeRecorder.template.json").read_text())
    assert c.OUTPUT_DLQ_URL in template["Outputs"]


def test_cli_synth_bundles_the_handler(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    asset = function_asset(cli_synth[1])
    assert (asset / "size_recorder" / "handler.py").is_file()
    assert not list(asset.rglob("__pycache__")), "--no-compile: no bytecode from this machine"


def test_cli_synth_asset_holds_only_what_runs_in_lambda(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    asset = function_asset(cli_synth[1])
    assert not [part for part in NOT_IN_LAMBDA if (asset / "size_recorder" / part).exists()]
    assert package_entries(asset) == IN_LAMBDA


def test_cli_synth_bundles_psycopg_binary_for_arm64_python_313(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    asset = function_asset(cli_synth[1])
    assert list((asset / "psycopg_binary").glob("_psycopg.cpython-313-aarch64-linux-gnu.so"))
    wheel = next(asset.glob("psycopg_binary-*.dist-info")) / "WHEEL"
    tags = [line for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
    assert tags
    assert all("cp313" in tag and "aarch64" in tag for tag in tags)
    version = next(asset.glob("psycopg_binary-*.dist-info")).name.split("-")[1]
    assert tuple(map(int, version.split(".")[:2])) >= (3, 3), "pip fell back to an old psycopg"


@pytest.fixture(scope="module")
def x86_64_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("x86_64-bundle")
    assert PipLocalBundling("x86_64").try_bundle(str(bundle)) is True
    return bundle


def test_bundling_for_x86_64_fetches_x86_64_wheels(x86_64_bundle: Path) -> None:
    assert list((x86_64_bundle / "psycopg_binary").glob("_psycopg.cpython-313-x86_64-linux-gnu.so"))
    assert (x86_64_bundle / "size_recorder" / "handler.py").is_file()
    assert (x86_64_bundle / "aws_lambda_powertools").is_dir()
    assert not (x86_64_bundle / "bin").exists()


def test_bundle_holds_no_cli_demo_django_or_ops_code(x86_64_bundle: Path) -> None:
    assert not [part for part in NOT_IN_LAMBDA if (x86_64_bundle / "size_recorder" / part).exists()]
    assert package_entries(x86_64_bundle) == IN_LAMBDA
    assert not list(x86_64_bundle.rglob("__pycache__"))


def test_bundle_installs_the_lambda_extra_as_pyproject_writes_it() -> None:
    """The installed metadata bundling reads is pyproject's `lambda` extra, not a stale copy."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["optional-dependencies"]["lambda"]
    assert sorted(map(str, map(Requirement, declared))) == sorted(lambda_requirements())


def asset_hash(package_dir: Path) -> str:
    """The function asset's hash as synth computes it, bundling skipped (it hashes the source
    and the bundling command either way)."""
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "AssetHash")
    location = function_code("arm64", package_dir).bind(stack).s3_location
    assert location is not None
    return location.object_key


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    copy = tmp_path / PACKAGE_DIR.name
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_asset_hash_ignores_edits_to_code_that_does_not_run_in_lambda(package_copy: Path) -> None:
    before = asset_hash(package_copy)
    for part in NOT_IN_LAMBDA:
        with (package_copy / part / "__init__.py").open("a") as module:
            module.write("# edited\n")
    assert asset_hash(package_copy) == before


def test_asset_hash_follows_edits_to_the_lambda_code(package_copy: Path) -> None:
    before = asset_hash(package_copy)
    with (package_copy / "core" / "__init__.py").open("a") as module:
        module.write("# edited\n")
    assert asset_hash(package_copy) != before


def python_313() -> str | None:
    """A working CPython 3.13 on this machine (pyenv's shim exits 127 when it is not active)."""
    candidates = [
        shutil.which("python3.13"),
        *map(str, Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")),
    ]
    for candidate in filter(None, candidates):
        version = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0:
            return candidate
    return None


def test_bundle_imports_the_handler_on_python_313_alone(x86_64_bundle: Path) -> None:
    """What the Lambda runtime does: the bundle alone (plus the stdlib) imports the handler, with
    psycopg's compiled implementation; boto3, which the runtime would supply, is not needed; and
    the package comes from the bundle, not from this checkout."""
    interpreter = python_313()
    if interpreter is None or platform.machine() != "x86_64":
        pytest.skip("needs CPython 3.13 on x86_64 to load the x86_64/cp313 bundle")
    probe = (
        f"import sys; sys.path.insert(0, {str(x86_64_bundle)!r});"
        " import size_recorder.handler, psycopg;"
        " print(psycopg.pq.__impl__, 'boto3' in sys.modules, size_recorder.__file__)"
    )
    done = subprocess.run(
        [interpreter, "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "binary",
        "False",
        str(x86_64_bundle / "size_recorder" / "__init__.py"),
    ]


def test_app_bad_context_exits_naming_the_key() -> None:
    """infra/app.py as the CLI runs it, with cdk.json's context lacking the secret."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["size-recorder:table"] = "documents_document"
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "app.py")],
        cwd=ROOT,
        env={**cli_env(), "CDK_CONTEXT_JSON": json.dumps(context)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "'size-recorder:dbSecretArn'" in done.stderr
    assert "Traceback" not in done.stderr
