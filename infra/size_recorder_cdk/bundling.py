"""The function's code asset, bundled with pip on this machine: no Docker needed.

pip downloads wheels built for the function's platform instead of this machine's
(`--platform`, `--python-version`, `--only-binary=:all:`). psycopg-binary 3.3 publishes its
aarch64 wheels only as `manylinux_2_28`; with `manylinux2014` alone pip silently falls back to an
older release, so both tags are named.

What pip installs is the lock, `bundle-requirements.txt`: every package the `lambda` extra
resolves to, pinned, with the hash of each wheel (`--require-hashes`, so a package missing from
the lock or a wheel that differs fails the synth). The lock's text is part of the bundling
command, so the asset hash covers it: two machines cannot ship different dependencies under one
hash. `python -m size_recorder_cdk.lock` regenerates it; synth refuses a lock that no longer
satisfies the extra in pyproject.toml.

The bundle holds what runs in Lambda and nothing else: the locked dependencies and the parts of
`size_recorder` named in LAMBDA_PARTS. The operator's tools, the demo and the Django integration
(cli/, demo/, django/, ops/) are neither copied nor hashed, so editing them does not redeploy the
function. import-linter's contracts keep the Lambda parts from importing them. A function that
runs operator code (the nightly reconciliation runs ops/) names those parts as `extra_parts`: its
own asset, while the recorder's stays as it is.

`/var/task` is read-only, so a bundle without bytecode compiles every module it imports on every
cold start (the project measured 233 ms against 99 ms with bytecode). The bundle is therefore
compiled with the runtime's own Python (3.13), found by `bundle_python`, into `unchecked-hash`
pycs (PEP 552): asset zips keep no mtimes, so timestamp pycs would be rejected, and the sources
never change under a deployed function. The compiling interpreter's exact version is part of the
bundling command, hence of the asset hash. Without that interpreter, synth warns and ships the
sources alone, as before.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsii
from aws_cdk import Annotations, BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
LOCK_FILE: Final = Path(__file__).resolve().with_name("bundle-requirements.txt")
# A CPython 3.13 to compile the bundle with, when the machine's is not where we look.
BUNDLE_PYTHON_VARIABLE: Final = "SIZE_RECORDER_BUNDLE_PYTHON"
# Where Lambda unpacks the bundle: the pycs name their sources there, whatever this machine's
# temporary directory was, so tracebacks point at real paths and the bytes never vary.
TASK_ROOT: Final = "/var/task"
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


def asset_exclude(parts: tuple[str, ...]) -> tuple[str, ...]:
    """What the asset hash reads, as gitignore lines: every top-level entry is out unless it is
    one of `parts`, the rule the copy follows, so a package added beside cli/ stays out of both."""
    return ("/*", *(f"!/{part}" for part in parts), *_IGNORED)


ASSET_EXCLUDE: Final = asset_exclude(LAMBDA_PARTS)
ASSET_IGNORE_MODE: Final = IgnoreMode.GIT
UNCOMPILED_WARNING_ID: Final = "size-recorder:bundleNotCompiled"


def lambda_requirements() -> list[Requirement]:
    """The `lambda` extra's requirements, from the installed project's metadata (an editable
    install's is rewritten by `pip install -e`, which the Makefile reruns whenever
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
            requirements.append(requirement)
    if not requirements:
        raise RuntimeError(f"{DISTRIBUTION} declares no {LAMBDA_EXTRA!r} extra to bundle")
    return requirements


# --- The lock -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pin:
    """One line of the lock: `name[extras]==version` and the hashes of its wheels."""

    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str:
        (specifier,) = self.requirement.specifier
        return specifier.version


def read_lock(path: Path = LOCK_FILE) -> list[Pin]:
    """The lock's pins; raises RuntimeError on a line that is not `name==version --hash=...`."""
    logical = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins = []
    for line in logical.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        requirement = Requirement(words[0])
        specifiers = list(requirement.specifier)
        options = words[1:]
        if (
            len(specifiers) != 1
            or specifiers[0].operator != "=="
            or not options
            or not all(option.startswith("--hash=sha256:") for option in options)
        ):
            raise RuntimeError(f"{path.name}: expected 'name==version --hash=...', got {line!r}")
        pins.append(Pin(requirement, tuple(option.removeprefix("--hash=") for option in options)))
    return pins


def check_lock(pins: list[Pin], requirements: list[Requirement], path: Path = LOCK_FILE) -> None:
    """Raise RuntimeError unless every requirement is pinned, with its extras, to a version it
    allows: pyproject's extra changed and the lock did not follow."""
    by_name = {pin.name: pin for pin in pins}
    stale = []
    for requirement in requirements:
        pin = by_name.get(canonicalize_name(requirement.name))
        if (
            pin is None
            or not requirement.specifier.contains(pin.version, prereleases=True)
            or not requirement.extras <= pin.requirement.extras
        ):
            stale.append(str(requirement))
    if stale:
        raise RuntimeError(
            f"{path.name} does not satisfy the {LAMBDA_EXTRA!r} extra ({', '.join(stale)}):"
            " regenerate it with `python -m size_recorder_cdk.lock`"
        )


def platform_arguments(architecture: str) -> list[str]:
    """pip arguments that choose wheels for the function's Python on `architecture`."""
    platforms = [arg for tag in PLATFORMS[architecture] for arg in ("--platform", tag)]
    return [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *platforms,
        "--disable-pip-version-check",
    ]


def pip_arguments(architecture: str, target: str, lock: str) -> list[str]:
    """The `pip install` arguments that fetch the locked dependencies for `architecture`.

    Not `--no-deps`: pip then checks that every dependency is in the lock, hashed.
    """
    return [
        "install",
        "--target",
        target,
        # Bytecode for this machine's Python is of no use; the runtime's is compiled after.
        "--no-compile",
        *platform_arguments(architecture),
        "--quiet",
        "--require-hashes",
        "--requirement",
        lock,
    ]


# --- The compiling interpreter --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A CPython of the runtime's minor version, and its exact version."""

    path: str
    version: str

    def compile_arguments(self, bundle: str) -> list[str]:
        """Compile every module of `bundle` in place, as `unchecked-hash` pycs naming their
        sources under /var/task; `-j 0` uses every core."""
        return [
            self.path,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-j",
            "0",
            "-s",
            bundle,
            "-p",
            TASK_ROOT,
            bundle,
        ]


def bundle_python(env: Mapping[str, str] = os.environ) -> Interpreter | None:
    """The CPython 3.13 that compiles the bundle, or None when this machine has none.

    In order: the path in SIZE_RECORDER_BUNDLE_PYTHON (which must work: a wrong setting fails
    synth rather than silently shipping sources), `python3.13` on PATH, pyenv's 3.13 installs
    (newest first; pyenv's shim refuses python3.13 unless PYENV_VERSION names it, so the install
    itself is run).
    """
    configured = env.get(BUNDLE_PYTHON_VARIABLE)
    if configured:
        found = _probe(configured)
        if found is None:
            raise RuntimeError(
                f"{BUNDLE_PYTHON_VARIABLE}={configured!r} is not a working CPython"
                f" {PYTHON_VERSION}: point it at the interpreter that compiles the bundle"
            )
        return found
    candidates = [
        shutil.which(f"python{PYTHON_VERSION}", path=env.get("PATH")),
        *sorted(
            map(
                str,
                _pyenv_root(env).glob(f"versions/{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}"),
            ),
            key=_version_key,
            reverse=True,
        ),
    ]
    for candidate in filter(None, candidates):
        found = _probe(candidate)
        if found is not None:
            return found
    return None


def _pyenv_root(env: Mapping[str, str]) -> Path:
    """Where pyenv keeps its versions: PYENV_ROOT, `pyenv root`, or its default."""
    if env.get("PYENV_ROOT"):
        return Path(env["PYENV_ROOT"])
    pyenv = shutil.which("pyenv", path=env.get("PATH"))
    if pyenv is not None:
        done = subprocess.run(  # noqa: S603 - the pyenv found on PATH, fixed arguments
            [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    return Path.home() / ".pyenv"


def _version_key(path: str) -> tuple[int, ...]:
    """3.13.10 after 3.13.9: the numbers in the pyenv version directory's name."""
    return tuple(int(part) for part in re.findall(r"\d+", Path(path).parents[1].name))


def _probe(path: str) -> Interpreter | None:
    """The interpreter at `path` if it runs and is CPython of the runtime's minor version."""
    probe = "import platform; print(platform.python_implementation(), platform.python_version())"
    try:
        done = subprocess.run(  # noqa: S603 - a candidate interpreter, fixed arguments
            [path, "-I", "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    implementation, _, version = done.stdout.strip().partition(" ")
    if done.returncode != 0 or implementation != "CPython":
        return None
    if version.rsplit(".", 1)[0] != PYTHON_VERSION:
        return None
    return Interpreter(path=path, version=version)


# --- The asset ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """How one function asset is built: for which architecture, from which package and lock,
    compiled by which interpreter (None: sources only), with which package parts besides
    LAMBDA_PARTS (`extra_parts`: top-level entries of the package, such as "ops")."""

    architecture: str
    package_dir: Path = PACKAGE_DIR
    lock: Path = LOCK_FILE
    python: Interpreter | None = None
    extra_parts: tuple[str, ...] = ()
    # The lock's text, read once: the hashed command and the install use this same text.
    locked: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [
            part
            for part in self.extra_parts
            if part in LAMBDA_PARTS or not (self.package_dir / part).exists()
        ]
        if unknown:
            raise ValueError(
                f"extra_parts {unknown} are not entries of {self.package_dir} beside"
                f" {', '.join(LAMBDA_PARTS)}"
            )
        check_lock(read_lock(self.lock), lambda_requirements(), self.lock)
        object.__setattr__(self, "locked", self.lock.read_text(encoding="utf-8"))

    @property
    def parts(self) -> tuple[str, ...]:
        """The package's top-level entries the bundle holds."""
        return (*LAMBDA_PARTS, *self.extra_parts)

    def command(self) -> list[str]:
        """The bundling as a shell command in the SAM build image. Never run (local bundling
        always succeeds or fails synth), but what it would need if someone removed `local`, and
        the asset hash covers it: the lock's text, the platform, the compiling Python."""
        output = f"/asset-output/{self.package_dir.name}"
        requirements = "/tmp/bundle-requirements.txt"  # noqa: S108 - inside the build container
        steps = [
            f"printf %s {shlex.quote(self.locked)} > {requirements}",
            shlex.join(["pip", *pip_arguments(self.architecture, "/asset-output", requirements)]),
            f"mkdir -p {output}",
            "cd /asset-input",
            shlex.join(["cp", "-r", *self.parts, output]),
        ]
        if self.python is not None:
            python = f"python{PYTHON_VERSION}"
            steps += [
                # The pycs are this exact version's: another one would be another asset.
                f"test \"$({python} -c 'import platform; print(platform.python_version())')\""
                f" = {self.python.version}",
                shlex.join(
                    Interpreter(python, self.python.version).compile_arguments("/asset-output")
                ),
            ]
        return ["bash", "-c", " && ".join(steps)]

    def code(self) -> lambda_.Code:
        """The asset, hashed from the bundle's parts of the package source and `command()`."""
        return lambda_.Code.from_asset(
            str(self.package_dir),
            exclude=list(asset_exclude(self.parts)),
            ignore_mode=ASSET_IGNORE_MODE,
            bundling=BundlingOptions(
                # Never pulled: see `command`.
                image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"),
                command=self.command(),
                local=PipLocalBundling(self),
            ),
        )


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Runs pip from the Python running the CDK app, copies the bundle's parts of the
    `size_recorder` package, then compiles the whole bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        """Bundle into `output_dir`; a pip or compile failure fails synth with its message."""
        bundle = self.bundle
        with tempfile.TemporaryDirectory(prefix="size-recorder-lock-") as workdir:
            # The text the asset hash covers, not the file as it may be by now.
            lock = Path(workdir, bundle.lock.name)
            lock.write_text(bundle.locked, encoding="utf-8")
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    *pip_arguments(bundle.architecture, output_dir, str(lock)),
                ]
            )
        # Console scripts (jmespath's jp.py) have no use in a function.
        shutil.rmtree(Path(output_dir) / "bin", ignore_errors=True)
        package = Path(output_dir) / bundle.package_dir.name
        package.mkdir(exist_ok=True)
        for part in bundle.parts:
            source = bundle.package_dir / part
            if source.is_dir():
                shutil.copytree(
                    source,
                    package / part,
                    ignore=shutil.ignore_patterns(*_IGNORED),
                    dirs_exist_ok=True,
                )
            else:
                shutil.copy2(source, package / part)
        if bundle.python is not None:
            _run(bundle.python.compile_arguments(output_dir))
        return True


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv, no shell
    if done.returncode != 0:
        raise RuntimeError(
            f"bundling the size-recorder function failed ({shlex.join(command)}):\n"
            f"{done.stdout}{done.stderr}"
        )


def function_code(
    architecture: str,
    package_dir: Path = PACKAGE_DIR,
    *,
    scope: IConstruct | None = None,
    extra_parts: tuple[str, ...] = (),
) -> lambda_.Code:
    """The function's asset for `architecture`, holding `extra_parts` besides LAMBDA_PARTS:
    compiled when this machine has CPython 3.13, otherwise sources only, with a warning on
    `scope` (or on stderr without one)."""
    python = bundle_python()
    if python is None:
        message = (
            f"no CPython {PYTHON_VERSION} found (set {BUNDLE_PYTHON_VARIABLE}, or install it with"
            " pyenv): the function's bundle ships without bytecode, and every cold start compiles"
            " what it imports"
        )
        if scope is not None:
            Annotations.of(scope).add_warning_v2(UNCOMPILED_WARNING_ID, message)
        else:
            print(f"[Warning] {message}", file=sys.stderr)
    return Bundle(architecture, package_dir, python=python, extra_parts=extra_parts).code()
