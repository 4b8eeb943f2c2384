"""Figure 5: cold start. Handler import in fresh interpreters, and the size of the Lambda asset.

Each run is a new `python` process (cwd an empty temp dir) that times `import
size_recorder.handler` with `perf_counter`, then invokes the handler once with a one-record SQS
event; the figure is the median over the runs. Four variants:

- the `DATABASE_URL` path, import only (the target), and boto3 must not be imported at all;
- the `DATABASE_URL` path, import plus the first invocation (connect, check the table, write);
- the secret path (`SIZE_RECORDER_DB_SECRET_ARN`, a secret on moto's Secrets Manager), import
  plus the first invocation, which is where boto3 gets imported;
- the import without `.pyc` files for the bundled packages (the handler's imports outside the
  standard library and the runtime's boto3/botocore, copied without `__pycache__` and first on
  the path), as the bundle built with pip `--no-compile` runs from Lambda's read-only /var/task:
  those modules are compiled from source on every cold start.

The baseline is the naive handler's module (benchmarks/naive.py: json, urllib, psycopg).
The asset is built by infra's own bundling (`PipLocalBundling`, the same pip command) into a temp
dir and zipped with deflate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.context import Bench, median
from benchmarks.environment import REPO, Batches, Documents
from benchmarks.report import Row

FIGURE = "5 cold start"
TARGET_IMPORT_MS = 150
# Lambda's limit for a zipped package; issue 14 withdrew the older 6 MB goal when the bundle
# began to ship compiled bytecode (a faster start for a larger zip).
TARGET_ASSET_MB = 50
ARCHITECTURE = "arm64"  # the stack's default

# Runs in the fresh interpreter. Timing starts before the first import of the project.
_CHILD = """
import sys, time
started = time.perf_counter()
import {module}
imported = time.perf_counter()
boto3_at_import = "boto3" in sys.modules
import json
with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
invoked = None
if event is not None:
    class Context:
        function_name = "size-recorder"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:size-recorder"
        aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"
        def get_remaining_time_in_millis(self):
            return 30_000
    before = time.perf_counter()
    response = {module}.lambda_handler(event, Context())
    invoked = time.perf_counter() - before
    assert response == {{"batchItemFailures": []}}, response
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump({{
        "import_ms": (imported - started) * 1000,
        "invoke_ms": invoked * 1000 if invoked is not None else None,
        "boto3_at_import": boto3_at_import,
        "boto3_at_end": "boto3" in sys.modules,
    }}, f)
"""


# Lists the packages outside the standard library that importing the handler loads.
_IMPORTED_PACKAGES = """
import json, sys, sysconfig
before = set(sys.modules)
import size_recorder.handler
stdlib = sysconfig.get_paths()["stdlib"]
roots = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and not path.startswith(stdlib) and "." not in name and name not in before:
        roots[name] = path
print(json.dumps(roots))
"""
# Provided, compiled, by the Lambda Python runtime: never in the bundle.
_RUNTIME_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six"})


def _bundle_without_pyc(env: dict[str, str], workdir: Path) -> Path:
    """The handler's imported packages, copied without .pyc files, as the zipped bundle has them."""
    listed = subprocess.run(
        [sys.executable, "-c", _IMPORTED_PACKAGES],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    bundle = workdir / "bundle"
    for name, path in json.loads(listed.stdout).items():
        if name in _RUNTIME_PACKAGES:
            continue
        source = Path(path)
        if source.name == "__init__.py":
            shutil.copytree(
                source.parent,
                bundle / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            bundle.mkdir(exist_ok=True)
            shutil.copy2(source, bundle / source.name)
    return bundle


def _fresh_run(
    module: str, env: dict[str, str], event: dict[str, Any] | None, *, no_pyc: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="size-recorder-cold-") as workdir:
        event_file, result_file = Path(workdir, "event.json"), Path(workdir, "result.json")
        event_file.write_text(json.dumps(event), encoding="utf-8")
        if no_pyc:  # the bundle's packages first on the path, compiled from source, none written
            bundle = _bundle_without_pyc(env, Path(workdir))
            env = {**env, "PYTHONPATH": str(bundle), "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD.format(module=module), event_file, result_file],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cold start run of {module} failed:\n{done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        return result


def _runs(
    bench: Bench, module: str, env: dict[str, str], event: dict[str, Any] | None, **kw: bool
) -> list[dict[str, Any]]:
    return [_fresh_run(module, env, event, **kw) for _ in range(bench.sizes.import_runs)]


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "SIZE_RECORDER_DB_SECRET_ARN", "AWS_ENDPOINT_URL")
    }
    return {**env, **extra}


def _secret_env(bench: Bench, documents: Documents) -> dict[str, str]:
    """A Secrets Manager secret (on moto) in the RDS shape, pointing at the same database."""
    import boto3
    from psycopg.conninfo import conninfo_to_dict

    endpoint = bench.moto()
    params = conninfo_to_dict(documents.url)
    secret = {
        "host": params.get("host") or "localhost",
        "port": int(params.get("port") or 5432),
        "username": params.get("user") or "postgres",
        # The secret must carry a password; pgserver's trust authentication ignores it.
        "password": params.get("password") or "unused-by-trust-auth",
        "dbname": params.get("dbname") or "postgres",
    }
    client = boto3.client("secretsmanager", endpoint_url=endpoint)
    arn = client.create_secret(
        Name=f"size-recorder-bench-{os.urandom(4).hex()}", SecretString=json.dumps(secret)
    )["ARN"]
    env = {k: v for k, v in documents.recorder_env().items() if k != "DATABASE_URL"}
    return {**env, "SIZE_RECORDER_DB_SECRET_ARN": arn, "AWS_ENDPOINT_URL": endpoint}


def _asset_size_mb() -> float:
    """Build the function's asset with infra's own bundling, zip it, and weigh the zip."""
    with tempfile.TemporaryDirectory(prefix="size-recorder-asset-") as workdir:
        asset, archive = Path(workdir, "asset"), Path(workdir, "asset.zip")
        asset.mkdir()
        code = (
            "import sys; from size_recorder_cdk.bundling import"
            " Bundle, PipLocalBundling, bundle_python;"
            f" bundle = Bundle({ARCHITECTURE!r}, python=bundle_python());"
            " PipLocalBundling(bundle).try_bundle(sys.argv[1])"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(asset)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bundling the asset failed:\n{done.stderr[-2000:]}")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in sorted(asset.rglob("*")):
                zf.write(path, path.relative_to(asset))
        return archive.stat().st_size / 1_000_000


def run(bench: Bench) -> list[Row]:
    with bench.documents(rows=10) as documents:
        url_env = _child_env(documents.recorder_env())
        events = Batches(1)
        naive = _runs(bench, "benchmarks.naive", {**url_env, "PYTHONPATH": str(REPO)}, None)
        url_import = _runs(bench, "size_recorder.handler", url_env, None)
        url_first = [
            _fresh_run("size_recorder.handler", url_env, events.next_event())
            for _ in range(bench.sizes.import_runs)
        ]
        secret_env = _child_env(_secret_env(bench, documents))
        secret_first = [
            _fresh_run("size_recorder.handler", secret_env, events.next_event())
            for _ in range(bench.sizes.import_runs)
        ]
        no_pyc = _runs(bench, "size_recorder.handler", url_env, None, no_pyc=True)

    def import_ms(runs: list[dict[str, Any]]) -> float:
        return median([r["import_ms"] for r in runs])

    def first_ms(runs: list[dict[str, Any]]) -> float:
        return median([r["import_ms"] + r["invoke_ms"] for r in runs])

    naive_ms = import_ms(naive)
    boto3_on_url_path = any(
        r["boto3_at_import"] or r["boto3_at_end"] for r in url_first + url_import
    )
    runs = bench.sizes.import_runs
    rows = [
        Row(
            figure=FIGURE,
            measure="handler import, DATABASE_URL path",
            value=import_ms(url_import),
            unit="ms",
            higher_is_better=False,
            baseline=naive_ms,
            baseline_label="naive module",
            target=TARGET_IMPORT_MS,
            note=f"median of {runs} fresh interpreters",
        ),
        Row(
            figure=FIGURE,
            measure="boto3 imported on the DATABASE_URL path",
            value=float(boto3_on_url_path),
            unit="(0 = no)",
            higher_is_better=False,
            target=0,
            note="checked after import and after the first invocation",
        ),
        Row(
            figure=FIGURE,
            measure="import + first invocation, DATABASE_URL path",
            value=first_ms(url_first),
            unit="ms",
            higher_is_better=False,
            note="connect, check the table, write one record",
        ),
        Row(
            figure=FIGURE,
            measure="import + first invocation, secret path",
            value=first_ms(secret_first),
            unit="ms",
            higher_is_better=False,
            baseline=first_ms(url_first),
            baseline_label="DATABASE_URL path",
            note="boto3 + Powertools parameters imported on first use; secret on moto",
        ),
        Row(
            figure=FIGURE,
            measure="handler import without .pyc files",
            value=import_ms(no_pyc),
            unit="ms",
            higher_is_better=False,
            baseline=import_ms(url_import),
            baseline_label="with .pyc",
            note="bundled packages compiled at import, as from read-only /var/task",
        ),
    ]
    if bench.build_asset:
        rows.append(
            Row(
                figure=FIGURE,
                measure=f"Lambda asset, zipped ({ARCHITECTURE})",
                value=_asset_size_mb(),
                unit="MB",
                higher_is_better=False,
                target=TARGET_ASSET_MB,
                note="infra's PipLocalBundling, deflate level 9",
            )
        )
    return rows
