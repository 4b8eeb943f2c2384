"""The compiled bundle's gain: `import size_recorder.handler` from the unzipped x86_64 asset,
without and with the bytecode bundling now compiles, and the asset's zipped size both ways.

    python -m benchmarks.bundle_import [--runs 9] [--json PATH]

The asset is built once by infra's own bundling (pip from the lock, sources only), then copied
and compiled exactly as bundling compiles it (`Interpreter.compile_arguments`: CPython 3.13,
`unchecked-hash`). Each variant is zipped with deflate (as the CDK zips assets) and unzipped,
which drops the mtimes as Lambda's unpacking does. Each run is a fresh CPython 3.13 (`-I`, cwd
an empty directory) with the unzipped asset first on `sys.path`, timing the import with
`perf_counter` (wall) and `process_time` (CPU); the runs of the two variants alternate, so a
busy machine slows both alike. The asset directory is read-only, as /var/task is: as root,
through a read-only bind mount in a private mount namespace (`unshare -m`), since root ignores
permission bits; otherwise by `chmod -R a-w`. Without `unshare`, root runs with `-B` instead
(no bytecode written, the same effect on the timing). The sources-only variant must leave no
`__pycache__` behind, or the figure would be a lie: that is checked. A yardstick (standard-
library imports, same rounds) tells how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from size_recorder_cdk.bundling import Bundle, Interpreter, PipLocalBundling, bundle_python

ARCHITECTURE = "x86_64"  # what this machine's CPython 3.13 can load
TARGET_IMPORT_MS = 110
RUNS = 9

_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
import {modules}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({{"wall_ms": wall * 1000, "cpu_ms": cpu * 1000}}))
"""
HANDLER = "size_recorder.handler"
# A scale for a shared machine: standard-library modules from the interpreter's own bytecode,
# timed in the same rounds. A quiet machine imports them in a few tens of milliseconds; when
# this reads several times that, so do the figures beside it.
YARDSTICK = "asyncio, email.message, decimal"


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    zipped_bytes: int
    directory: Path


def build(workdir: Path, python: Interpreter) -> tuple[Path, Path]:
    """(sources only, compiled): the asset as bundling builds it without and with a Python 3.13."""
    sources, compiled = workdir / "sources", workdir / "compiled"
    sources.mkdir()
    PipLocalBundling(Bundle(ARCHITECTURE)).try_bundle(str(sources))
    shutil.copytree(sources, compiled)
    subprocess.run(python.compile_arguments(str(compiled)), check=True, capture_output=True)
    return sources, compiled


def zip_and_unzip(asset: Path, workdir: Path, name: str) -> Variant:
    archive = workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(asset.rglob("*")):
            zf.write(path, path.relative_to(asset))
    task = workdir / f"{name}-task"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(task)
    for path in [task, *task.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    return Variant(name, archive.stat().st_size, task)


def read_only_mode(directory: Path) -> str:
    """How runs keep the asset read-only: `mount`, `chmod` or (root without unshare) `-B`."""
    if os.geteuid() != 0:
        return "chmod"
    probe = subprocess.run(
        ["unshare", "-m", "mount", "--bind", "-o", "ro", str(directory), str(directory)],
        capture_output=True,
        check=False,
    )
    return "mount" if probe.returncode == 0 else "-B"


def run_once(
    python: Interpreter, variant: Variant, mode: str, cwd: Path, modules: str = HANDLER
) -> dict[str, float]:
    flags = ["-I", "-B"] if mode == "-B" else ["-I"]
    child = _CHILD.format(modules=modules)
    argv = [python.path, *flags, "-c", child, str(variant.directory)]
    if mode == "mount":
        task = str(variant.directory)
        script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
        argv = ["unshare", "-m", "sh", "-c", script, "sh", task, *argv]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"importing the handler failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def measure(runs: int) -> dict[str, object]:
    python = bundle_python()
    if python is None:
        raise SystemExit("needs CPython 3.13: set SIZE_RECORDER_BUNDLE_PYTHON or install it")
    with tempfile.TemporaryDirectory(prefix="size-recorder-bundle-import-") as tmp:
        workdir = Path(tmp)
        mode = read_only_mode(workdir)
        sources, compiled = build(workdir, python)
        variants = [
            zip_and_unzip(sources, workdir, "sources-only"),
            zip_and_unzip(compiled, workdir, "compiled"),
        ]
        empty = workdir / "cwd"
        empty.mkdir()
        samples: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
        yardstick: list[dict[str, float]] = []
        for _ in range(runs):
            for variant in variants:
                samples[variant.name].append(run_once(python, variant, mode, empty))
            yardstick.append(run_once(python, variants[1], mode, empty, YARDSTICK))
        left = [str(p) for p in variants[0].directory.rglob("__pycache__")]
        if left:
            raise RuntimeError(f"the sources-only asset was written to: {left[:3]}")
        for path in [workdir, *workdir.rglob("*")]:  # let the temporary directory go
            path.chmod(path.stat().st_mode | 0o200)
    return {
        "python": f"CPython {python.version}",
        "architecture": ARCHITECTURE,
        "runs": runs,
        "read_only": mode,
        "cpu_count": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "yardstick": {
            "modules": YARDSTICK,
            "import_wall_ms_median": round(statistics.median(s["wall_ms"] for s in yardstick), 1),
            "import_cpu_ms_median": round(statistics.median(s["cpu_ms"] for s in yardstick), 1),
        },
        "variants": {
            variant.name: {
                "zipped_bytes": variant.zipped_bytes,
                "import_wall_ms_median": round(
                    statistics.median(s["wall_ms"] for s in samples[variant.name]), 1
                ),
                "import_cpu_ms_median": round(
                    statistics.median(s["cpu_ms"] for s in samples[variant.name]), 1
                ),
            }
            for variant in variants
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bundle_import", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"interpreters per variant ({RUNS})")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    variants: dict[str, dict[str, float]] = figures["variants"]  # type: ignore[assignment]
    print(
        f"{figures['python']}, {ARCHITECTURE} asset, median of {args.runs} fresh interpreters,"
        f" read-only by {figures['read_only']}, load average {figures['load_average']}"
        f" on {figures['cpu_count']} CPUs"
    )
    print(f"{'variant':<14}{'import wall ms':>16}{'import CPU ms':>15}{'zipped MB':>11}")
    for name, figure in variants.items():
        print(
            f"{name:<14}{figure['import_wall_ms_median']:>16.1f}"
            f"{figure['import_cpu_ms_median']:>15.1f}{figure['zipped_bytes'] / 1e6:>11.2f}"
        )
    yardstick: dict[str, float] = figures["yardstick"]  # type: ignore[assignment]
    print(
        f"{'yardstick':<14}{yardstick['import_wall_ms_median']:>16.1f}"
        f"{yardstick['import_cpu_ms_median']:>15.1f}   (stdlib: {YARDSTICK})"
    )
    compiled = variants["compiled"]["import_wall_ms_median"]
    verdict = "meets" if compiled <= TARGET_IMPORT_MS else "misses"
    print(f"compiled import {compiled:.1f} ms {verdict} the {TARGET_IMPORT_MS} ms target")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
