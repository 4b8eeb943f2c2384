"""The style rules hold in CI, not only on a careful developer's machine: ruff, mypy --strict and
the import contracts that keep each package to what runs where it runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_no_lint() -> None:
    result = run(str(BIN / "ruff"), "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_package_and_the_stack() -> None:
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold() -> None:
    """pyproject's [tool.importlinter]: the layers, and no package imported where it is not
    installed (the Lambda bundle, the `django` extra)."""
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_test_module_imports_a_conftest() -> None:
    """A conftest.py holds fixtures and hooks, reached through pytest; helpers are imported from
    plain modules (tests/support/, or one beside the tests), fixtures several directories share
    are plugins in tests/plugins/ that the root conftest.py registers."""
    importing = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            importing.extend(f"{relative}: {name}" for name in names if name.endswith("conftest"))
    assert importing == []
