"""The real thing: `npx cdk synth` from the project root with the project's cdk.json, bundling
the function with pip for its architecture (no Docker) from the lock, compiled by CPython 3.13,
what the bundle holds and what its hash reads, and the app's own error path."""

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
from packaging.utils import canonicalize_name

from size_recorder import constants as c
from size_recorder_cdk.bundling import (
    LOCK_FILE,
    PACKAGE_DIR,
    PLATFORMS,
    TASK_ROOT,
    Bundle,
    Interpreter,
    PipLocalBundling,
    bundle_python,
    function_code,
    lambda_requirements,
    pip_arguments,
    read_lock,
)
from tests.infra.apps import ROOT, SECRET_ARN

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
# What runs only in a terminal, on a laptop or in the app: never in the function.
NOT_IN_LAMBDA = ("cli", "demo", "django", "ops")
IN_LAMBDA = ["__init__.py", "adapters", "aws_lambda", "constants.py", "core", "handler.py"]


def package_entries(bundle: Path) -> list[str]:
    """The package's top-level entries, bytecode aside."""
    return sorted(e.name for e in (bundle / "size_recorder").iterdir() if e.name != "__pycache__")


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


def runtime_bytecode_only(bundle: Path) -> None:
    """Every module has its CPython 3.13 pyc beside it, and there is no other bytecode (pip's
    --no-compile kept this machine's Python out)."""
    sources = {path for path in bundle.rglob("*.py")}
    pycs = set(bundle.rglob("*.pyc"))
    assert sources
    assert {pyc for pyc in pycs if not pyc.name.endswith(".cpython-313.pyc")} == set()
    compiled = {pyc.parent.parent / f"{pyc.name.split('.')[0]}.py" for pyc in pycs}
    assert sources - compiled == set()


def test_cli_synth_bundles_the_handler_compiled_for_python_313(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    asset = function_asset(cli_synth[1])
    assert (asset / "size_recorder" / "handler.py").is_file()
    runtime_bytecode_only(asset)


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
def python_313() -> Interpreter:
    found = bundle_python()
    if found is None:
        pytest.skip("needs CPython 3.13 (pyenv's, or SIZE_RECORDER_BUNDLE_PYTHON) to compile")
    return found


@pytest.fixture(scope="module")
def x86_64_bundle(tmp_path_factory: pytest.TempPathFactory, python_313: Interpreter) -> Path:
    bundle = tmp_path_factory.mktemp("x86_64-bundle")
    assert PipLocalBundling(Bundle("x86_64", python=python_313)).try_bundle(str(bundle)) is True
    return bundle


def test_bundling_for_x86_64_fetches_x86_64_wheels(x86_64_bundle: Path) -> None:
    assert list((x86_64_bundle / "psycopg_binary").glob("_psycopg.cpython-313-x86_64-linux-gnu.so"))
    assert (x86_64_bundle / "size_recorder" / "handler.py").is_file()
    assert (x86_64_bundle / "aws_lambda_powertools").is_dir()
    assert not (x86_64_bundle / "bin").exists()


def test_bundle_holds_no_cli_demo_django_or_ops_code(x86_64_bundle: Path) -> None:
    assert not [part for part in NOT_IN_LAMBDA if (x86_64_bundle / "size_recorder" / part).exists()]
    assert package_entries(x86_64_bundle) == IN_LAMBDA


def test_bundle_holds_python_313_bytecode_for_every_module(x86_64_bundle: Path) -> None:
    runtime_bytecode_only(x86_64_bundle)


def test_bundle_bytecode_is_unchecked_hash_based(x86_64_bundle: Path) -> None:
    """PEP 552 flags word 0b01: hash-based, source never checked, so the zip's lost mtimes (and
    the read-only /var/task) cannot make Python recompile."""
    flags = {
        int.from_bytes(pyc.read_bytes()[4:8], "little") for pyc in x86_64_bundle.rglob("*.pyc")
    }
    assert flags == {0b01}


def test_bundle_bytecode_does_not_depend_on_where_it_was_built(
    x86_64_bundle: Path, python_313: Interpreter, tmp_path: Path
) -> None:
    """Compiled again under another directory, every pyc is byte for byte the same: the pycs
    name their sources under /var/task, not under the build's temporary directory."""
    again = tmp_path / "elsewhere"
    shutil.copytree(x86_64_bundle, again, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(python_313.compile_arguments(str(again)), check=True, timeout=300)
    pycs = sorted(pyc.relative_to(x86_64_bundle) for pyc in x86_64_bundle.rglob("*.pyc"))
    assert pycs == sorted(pyc.relative_to(again) for pyc in again.rglob("*.pyc"))
    differing = [p for p in pycs if (x86_64_bundle / p).read_bytes() != (again / p).read_bytes()]
    assert differing == []
    assert (
        TASK_ROOT.encode()
        in (x86_64_bundle / "size_recorder/__pycache__/handler.cpython-313.pyc").read_bytes()
    )


def test_bundle_installs_the_lambda_extra_as_pyproject_writes_it() -> None:
    """The installed metadata bundling reads is pyproject's `lambda` extra, not a stale copy."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["optional-dependencies"]["lambda"]
    assert sorted(map(str, map(Requirement, declared))) == sorted(map(str, lambda_requirements()))


@pytest.mark.parametrize("architecture", sorted(PLATFORMS))
def test_lock_holds_every_package_the_lambda_extra_resolves_to(architecture: str) -> None:
    """pip resolves the lock (a dry run) as bundling installs it, dependencies included: in
    --require-hashes mode it refuses any dependency the lock does not pin with a hash, and what
    it would install is exactly the lock, nothing more."""
    arguments = pip_arguments(architecture, "/nonexistent", str(LOCK_FILE))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            *arguments,
            "--dry-run",
            "--ignore-installed",
            "--report",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = {
        (canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"])
        for item in json.loads(done.stdout)["install"]
    }
    assert resolved == {(pin.name, pin.version) for pin in read_lock()}


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


def on_x86_64() -> None:
    if platform.machine() != "x86_64":
        pytest.skip("needs an x86_64 machine to load the x86_64/cp313 bundle")


def test_bundle_imports_the_handler_on_python_313_alone(
    x86_64_bundle: Path, python_313: Interpreter
) -> None:
    """What the Lambda runtime does: the bundle alone (plus the stdlib) imports the handler, with
    psycopg's compiled implementation; boto3, which the runtime would supply, is not needed; and
    the package comes from the bundle, not from this checkout."""
    on_x86_64()
    probe = (
        f"import sys; sys.path.insert(0, {str(x86_64_bundle)!r});"
        " import size_recorder.handler, psycopg;"
        " print(psycopg.pq.__impl__, 'boto3' in sys.modules, size_recorder.__file__)"
    )
    done = subprocess.run(
        [python_313.path, "-I", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "binary",
        "False",
        str(x86_64_bundle / "size_recorder" / "__init__.py"),
    ]


def test_bundle_imports_every_module_from_its_bytecode_whatever_the_mtimes(
    x86_64_bundle: Path, python_313: Interpreter, tmp_path: Path
) -> None:
    """Sources newer than their pycs (as a zip's mtimes may make them) still load from the pycs,
    and nothing is compiled or written: Python's -v log names a pyc for every bundle module."""
    on_x86_64()
    copy = tmp_path / "task"
    shutil.copytree(x86_64_bundle, copy)
    for source in copy.rglob("*.py"):
        os.utime(source, (2_000_000_000, 2_000_000_000))
    done = subprocess.run(
        [
            python_313.path,
            "-I",
            "-v",
            "-c",
            f"import sys; sys.path.insert(0, {str(copy)!r}); import size_recorder.handler",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = [line for line in done.stderr.splitlines() if f"code object from {copy}" in line]
    from_pyc = [line for line in done.stderr.splitlines() if f"code object from '{copy}" in line]
    assert loaded == []
    assert len(from_pyc) > 100  # the handler, psycopg and Powertools: hundreds of modules
    assert f"created '{copy}" not in done.stderr


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
