"""Regenerate the bundle's lock (bundle-requirements.txt): the `lambda` extra resolved by pip for
the function's Python on each architecture, every package pinned with the hash of the wheel
that architecture installs.

Run it after changing the `lambda` extra in pyproject.toml (synth refuses a lock that no longer
satisfies it), or to take newer releases, and commit the result:

    python -m size_recorder_cdk.lock
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from size_recorder_cdk.bundling import (
    LAMBDA_EXTRA,
    LOCK_FILE,
    PLATFORMS,
    PYTHON_VERSION,
    lambda_requirements,
    platform_arguments,
)

HEADER = f"""\
# The function bundle's packages, pinned with their wheels' hashes. Bundling installs exactly
# these (pip --require-hashes), and the asset hash covers this file.
# Generated from pyproject's `{LAMBDA_EXTRA}` extra for CPython {PYTHON_VERSION} on \
{" and ".join(PLATFORMS)}; do not edit, run:
#   python -m size_recorder_cdk.lock
"""


@dataclass(slots=True)
class Locked:
    """One package as resolved for every architecture."""

    name: str
    version: str
    extras: frozenset[str]
    hashes: set[str] = field(default_factory=set)

    def line(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        hashes = "".join(f" \\\n    --hash=sha256:{digest}" for digest in sorted(self.hashes))
        return f"{self.name}{extras}=={self.version}{hashes}\n"


def resolve(architecture: str) -> list[dict[str, Any]]:
    """pip's installation report for the extra on `architecture` (a dry run: nothing installed)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        "-",
        *platform_arguments(architecture),
        *map(str, lambda_requirements()),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if done.returncode != 0:
        raise RuntimeError(f"pip could not resolve the {LAMBDA_EXTRA!r} extra:\n{done.stderr}")
    installs: list[dict[str, Any]] = json.loads(done.stdout)["install"]
    return installs


def lock(architectures: tuple[str, ...] = tuple(PLATFORMS)) -> str:
    """The lock's text; raises RuntimeError when two architectures resolve different versions."""
    locked: dict[str, Locked] = {}
    for architecture in architectures:
        for item in resolve(architecture):
            metadata, download = item["metadata"], item["download_info"]
            name = canonicalize_name(metadata["name"])
            digest = download.get("archive_info", {}).get("hashes", {}).get("sha256")
            if digest is None:
                raise RuntimeError(f"pip reported no sha256 for {download['url']}")
            entry = locked.setdefault(
                name,
                Locked(name, metadata["version"], frozenset(item.get("requested_extras", ()))),
            )
            if entry.version != metadata["version"]:
                raise RuntimeError(
                    f"{name} resolves to {entry.version} on one architecture and"
                    f" {metadata['version']} on {architecture}: pin it in the extra"
                )
            entry.hashes.add(digest)
    return HEADER + "".join(locked[name].line() for name in sorted(locked))


def main(path: Path = LOCK_FILE) -> None:
    path.write_text(lock(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
