"""What the function asset is made of, without building it: the lock pins what the `lambda` extra
needs, the asset hash covers the lock and the compiling Python, and that Python is found where
this machine keeps it (or its absence is announced)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from packaging.requirements import Requirement

from size_recorder_cdk.bundling import (
    BUNDLE_PYTHON_VARIABLE,
    LOCK_FILE,
    UNCOMPILED_WARNING_ID,
    Bundle,
    Interpreter,
    bundle_python,
    check_lock,
    function_code,
    lambda_requirements,
    read_lock,
)

PYTHON_313 = Interpreter("/opt/python3.13", "3.13.0")


def asset_hash(bundle: Bundle) -> str:
    """The asset's hash as synth computes it, bundling skipped (it hashes the source and the
    bundling command either way)."""
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "AssetHash")
    location = bundle.code().bind(stack).s3_location
    assert location is not None
    return location.object_key


def test_lock_satisfies_the_lambda_extra() -> None:
    check_lock(read_lock(), lambda_requirements())


def test_lock_pins_every_package_to_one_version_with_its_hashes() -> None:
    pins = read_lock()
    assert len({pin.name for pin in pins}) == len(pins)
    assert all(pin.hashes and all(h.startswith("sha256:") for h in pin.hashes) for pin in pins)


def test_lock_keeps_the_extras_the_lambda_extra_asks_for() -> None:
    """`psycopg[binary]`: with the extra in the lock, pip requires psycopg-binary pinned too."""
    pins = {pin.name: pin for pin in read_lock()}
    assert pins["psycopg"].requirement.extras == {"binary"}
    assert "psycopg-binary" in pins


def test_lock_behind_the_extra_is_refused_naming_the_command() -> None:
    newer = [*lambda_requirements(), Requirement("psycopg[binary]>=99")]
    with pytest.raises(RuntimeError, match=r"psycopg\[binary\]>=99.*python -m size_recorder_cdk"):
        check_lock(read_lock(), newer)


def test_lock_without_a_requirement_of_the_extra_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "psycopg[binary]==3.3.9 --hash=sha256:00\npsycopg-binary==3.3.9 --hash=sha256:00\n"
    )
    with pytest.raises(RuntimeError, match="aws-lambda-powertools"):
        check_lock(read_lock(lock), lambda_requirements(), lock)


def test_lock_line_without_a_hash_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("jmespath==1.1.0\n")
    with pytest.raises(RuntimeError, match=r"expected 'name==version --hash=\.\.\.'"):
        read_lock(lock)


def test_asset_hash_is_the_same_for_the_same_inputs() -> None:
    assert asset_hash(Bundle("arm64", python=PYTHON_313)) == asset_hash(
        Bundle("arm64", python=PYTHON_313)
    )


def test_asset_hash_tells_a_compiled_bundle_from_sources_only() -> None:
    assert asset_hash(Bundle("arm64", python=PYTHON_313)) != asset_hash(Bundle("arm64"))


def test_asset_hash_names_the_exact_compiling_python() -> None:
    other = Interpreter(PYTHON_313.path, "3.13.1")
    assert asset_hash(Bundle("arm64", python=PYTHON_313)) != asset_hash(
        Bundle("arm64", python=other)
    )


def test_asset_hash_ignores_where_the_compiling_python_lives() -> None:
    """Two machines with CPython 3.13.0 in different places build the same pycs."""
    moved = Interpreter("/usr/local/bin/python3.13", PYTHON_313.version)
    assert asset_hash(Bundle("arm64", python=PYTHON_313)) == asset_hash(
        Bundle("arm64", python=moved)
    )


def test_asset_hash_follows_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "bundle-requirements.txt"
    lock.write_text(LOCK_FILE.read_text().replace("--hash=sha256:", "--hash=sha256:0", 1))
    assert asset_hash(Bundle("arm64", lock=lock)) != asset_hash(Bundle("arm64"))


def test_asset_hash_follows_the_architecture() -> None:
    assert asset_hash(Bundle("arm64")) != asset_hash(Bundle("x86_64"))


def fake_python(directory: Path, name: str, *, version: str, exit_code: int = 0) -> Path:
    """An executable that answers the version probe as CPython `version` would."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(f"#!/bin/sh\necho CPython {version}\nexit {exit_code}\n")
    script.chmod(0o755)
    return script


def test_bundle_python_takes_the_configured_interpreter(tmp_path: Path) -> None:
    python = fake_python(tmp_path / "bin", "python", version="3.13.4")
    assert bundle_python({BUNDLE_PYTHON_VARIABLE: str(python)}) == Interpreter(
        str(python), "3.13.4"
    )


def test_bundle_python_refuses_a_configured_interpreter_of_another_version() -> None:
    with pytest.raises(RuntimeError, match=f"{BUNDLE_PYTHON_VARIABLE}=.*not a working CPython"):
        bundle_python({BUNDLE_PYTHON_VARIABLE: sys.executable})  # this venv's 3.11


def test_bundle_python_looks_past_pyenvs_shim_into_its_versions(tmp_path: Path) -> None:
    """The shim on PATH exits 127 for python3.13; the install under PYENV_ROOT runs, newest
    patch release first."""
    shims = tmp_path / "shims"
    fake_python(shims, "python3.13", version="3.13.0", exit_code=127)
    root = tmp_path / "pyenv"
    for version in ("3.13.0", "3.13.10", "3.13.9"):
        fake_python(root / "versions" / version / "bin", "python3.13", version=version)
    found = bundle_python({"PATH": str(shims), "PYENV_ROOT": str(root)})
    assert found == Interpreter(str(root / "versions/3.13.10/bin/python3.13"), "3.13.10")


def test_bundle_python_is_none_without_any_python_313(tmp_path: Path) -> None:
    assert bundle_python({"PATH": str(tmp_path), "PYENV_ROOT": str(tmp_path)}) is None


def test_this_machines_pyenv_python_313_is_found() -> None:
    """The field note's interpreter, `$(pyenv root)/versions/3.13.0/bin/python3.13`."""
    if shutil.which("pyenv") is None:
        pytest.skip("no pyenv on this machine")
    found = bundle_python({"PATH": os.environ["PATH"]})
    assert found is not None
    assert found.version.startswith("3.13.")


def test_no_python_313_means_sources_only_and_a_warning_on_the_construct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BUNDLE_PYTHON_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Uncompiled")
    code = function_code("arm64", scope=stack)
    location = code.bind(stack).s3_location
    assert location is not None
    assert location.object_key == asset_hash(Bundle("arm64"))
    # Read from the construct's metadata: synthesizing an empty stack costs seconds here.
    (warning,) = [entry.data for entry in stack.node.metadata if entry.type == "aws:cdk:warning"]
    assert warning.startswith("no CPython 3.13 found")
    assert UNCOMPILED_WARNING_ID in warning
