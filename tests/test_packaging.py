"""Dependencies by use: each extra brings what its code imports and nothing more, read from the
installed project's metadata (what pip itself reads), and the console script says which extra
it lacks instead of printing a traceback."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

DISTRIBUTION = canonicalize_name("size-recorder")
LAMBDA_AND_CLI_ONLY = {
    canonicalize_name(name)
    for name in ("psycopg", "psycopg-binary", "aws-lambda-powertools", "rich")
}


def closure(extras: frozenset[str]) -> set[NormalizedName]:
    """Every distribution `pip install 'size-recorder[extras]'` brings, walking the requirements
    of the installed distributions and their markers as this interpreter evaluates them."""
    brought: set[NormalizedName] = set()
    pending = [(DISTRIBUTION, extras)]
    walked: set[tuple[NormalizedName, frozenset[str]]] = set()
    while pending:
        name, wanted = pending.pop()
        if (name, wanted) in walked:
            continue
        walked.add((name, wanted))
        # A requirement with no extra marker holds for every choice, so "" stands for none.
        environments = [{"extra": extra} for extra in wanted or {""}]
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate(env) for env in environments):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency != DISTRIBUTION:
                brought.add(dependency)
            pending.append((dependency, frozenset(requirement.extras)))
    return brought


def test_base_install_pulls_nothing() -> None:
    assert closure(frozenset()) == set()


def test_django_extra_pulls_no_psycopg_powertools_or_rich() -> None:
    brought = closure(frozenset({"django"}))
    assert {"django", "django-storages", "boto3"} <= brought
    assert brought.isdisjoint(LAMBDA_AND_CLI_ONLY), sorted(brought & LAMBDA_AND_CLI_ONLY)


def test_cli_extra_pulls_what_the_lambda_runs_plus_boto3_and_rich() -> None:
    brought = closure(frozenset({"cli"}))
    assert {"aws-lambda-powertools", "psycopg", "psycopg-binary", "boto3", "rich"} <= brought


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("rich", ["--version"]),
        ("psycopg", ["--version"]),
        ("aws_lambda_powertools", ["--version"]),
        # boto3 loads when a command first talks to AWS; a dry-run replay does so first.
        ("boto3", ["replay", "--dlq-url", "http://127.0.0.1:9/dlq", "--dry-run"]),
    ],
)
def test_console_script_without_the_cli_extra_names_it(module: str, argv: list[str]) -> None:
    """`None` in sys.modules makes `import module` fail as it does when it is not installed."""
    script = (
        f"import sys; sys.modules[{module!r}] = None;"
        " from size_recorder.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"size-recorder: {module} is not installed;"
        " install the cli extra: pip install 'size-recorder[cli]'"
    ]


# --- The cdk extra at its floors (`make synth-floor`, run by `make test` after pytest) ---------

ROOT = Path(__file__).resolve().parent.parent
FLOORS_SCRIPT = ROOT / ".ci" / "floors.py"


def load_floors() -> ModuleType:
    spec = importlib.util.spec_from_file_location("floors", FLOORS_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floor_synth_pins_each_cdk_requirement_at_the_lower_bound_pyproject_writes() -> None:
    """What `floors.py pins` prints (what the floor venv installs) is pyproject's cdk extra, each
    requirement at its `>=` bound, and every pin satisfies the whole requirement."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["cdk"]
    done = subprocess.run(
        [sys.executable, str(FLOORS_SCRIPT), "pins"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pins = {
        canonicalize_name(Requirement(pin).name): Requirement(pin) for pin in done.stdout.split()
    }
    assert sorted(pins) == sorted(canonicalize_name(Requirement(line).name) for line in declared)
    for line in map(Requirement, declared):
        (pin,) = pins[canonicalize_name(line.name)].specifier
        assert pin.operator == "=="
        assert f">={pin.version}" in [str(spec) for spec in line.specifier], line
        assert line.specifier.contains(pin.version), line


def test_floor_venv_installs_what_floors_py_prints_and_nothing_written_in_the_makefile() -> None:
    """The Makefile's floor venv takes its pins from `floors.py pins` and spells no version of
    its own, so raising a floor in pyproject.toml is the whole change."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", ".venv-floor/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    recipe = done.stdout[done.stdout.index(".ci/floors.py pins") :]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert [line for line in installs if line.endswith("$pins && \\")], installs
    assert "==" not in recipe


def test_floor_pins_refuse_a_cdk_requirement_without_a_lower_bound(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\noptional-dependencies = { cdk = ["aws-cdk-lib>=2.269,<3", "cdk-nag<4"] }\n'
    )
    with pytest.raises(SystemExit, match="'cdk-nag<4' in the 'cdk' extra needs exactly one '>='"):
        load_floors().floor_pins(pyproject)
