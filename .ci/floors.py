"""The `cdk` extra at its floors: pyproject.toml's lower bounds are the one place they are written.

`pins` prints `name==floor` for each of the extra's requirements (what `make synth-floor`
installs); `synth --python PY` synthesizes infra/app.py with that interpreter, quietly, and fails
with the app's own output.

The app runs as the CDK CLI runs it (`CDK_CONTEXT_JSON`, `CDK_OUTDIR`), cdk.json's context
included, but with bundling skipped (`aws:cdk:bundling-stacks` = [], as tests/infra does): the
CLI always sets that key itself for `cdk synth`, and bundling would fetch wheels from PyPI and
compile them with CPython 3.13, neither of which the floors decide. No AWS credentials, account
or region reach the app, so nothing is looked up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
EXTRA = "cdk"
# The two settings cdk.json leaves empty (see docs/deploy.md, "Synth and deploy"), and the
# nightly reconciliation on, so the one synth builds its Step Functions state machine too.
SETTINGS = {
    "size-recorder:table": "public.documents_document",
    "size-recorder:dbSecretArn": (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/documents-db-AbCdEf"
    ),
    "size-recorder:reconcile": True,
}


def floor_pins(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """`name[extras]==floor` for each requirement of the extra; exits naming a requirement that
    has no single `>=` lower bound (it could not be installed at its floor)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    pins = []
    for line in project["optional-dependencies"][EXTRA]:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            sys.exit(f"floors: {line!r} in the {EXTRA!r} extra needs exactly one '>=' bound")
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pins.append(f"{requirement.name}{extras}=={floors[0]}")
    return pins


def app_environment(outdir: str) -> dict[str, str]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    context.update(SETTINGS)
    context["aws:cdk:bundling-stacks"] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        CDK_CONTEXT_JSON=json.dumps(context),
        CDK_OUTDIR=outdir,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def synth(python: str) -> int:
    with tempfile.TemporaryDirectory(prefix="size-recorder-floor-") as outdir:
        done = subprocess.run(  # noqa: S603 - the floor venv's interpreter, fixed arguments
            [python, str(ROOT / "infra" / "app.py")],
            cwd=ROOT,
            env=app_environment(outdir),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        written = (Path(outdir) / "manifest.json").is_file()
    if done.returncode != 0 or not written:
        sys.stderr.write(done.stdout + done.stderr)
        print(f"floors: synth at the {EXTRA} extra's floors failed ({python})", file=sys.stderr)
        return done.returncode or 1
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="floors.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pins", help="print name==floor for each requirement of the extra")
    synth_parser = commands.add_parser("synth", help="synthesize infra/app.py with --python")
    synth_parser.add_argument("--python", required=True, help="the floor venv's interpreter")
    args = parser.parse_args(argv)
    if args.command == "pins":
        print("\n".join(floor_pins()))
        return 0
    return synth(args.python)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
