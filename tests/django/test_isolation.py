"""The Lambda never needs Django: only size_recorder.django, never the rest, loads it."""

from __future__ import annotations

import subprocess
import sys

# Imports every module of the package except the Django integration, then reports whether any
# of them pulled Django in. A fresh interpreter, because this one has Django loaded already.
PROBE = """
import importlib, pkgutil, sys

def walk(package):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name == "size_recorder.django":
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            walk(module)

walk(importlib.import_module("size_recorder"))
print(sorted(name for name in sys.modules if name == "django" or name.startswith("django.")))
"""


def test_package_modules_never_import_django() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip() == "[]"
