"""Benchmark-only virtual environments for the libraries we compare against.

Evidently 0.7 and NannyML need pandas<3 (and NannyML a Python below 3.13), which the
project's own environment and its Lambda bundles must never contain. A benchmark asks for
its environment here; it is created under /tmp on first use and reused while its package
list is unchanged. The benchmark then runs a child script in it and reads one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def find_python(version: str = "3.13") -> str:
    """An interpreter of `version` (scripts/find-python313.sh: PATH, then pyenv's versions)."""
    found = subprocess.run(
        [str(REPO / "scripts" / "find-python313.sh"), version],
        check=True,
        capture_output=True,
        text=True,
    )
    return found.stdout.strip()


def ensure_venv(path: Path, packages: Sequence[str], *, python: str = "3.13") -> Path:
    """The venv's interpreter, after creating it and installing `packages` if needed."""
    interpreter = path / "bin" / "python"
    marker = path / "benchmark-packages.txt"
    wanted = "\n".join(packages)
    if interpreter.exists() and marker.exists() and marker.read_text() == wanted:
        return interpreter
    if not interpreter.exists():
        subprocess.run([find_python(python), "-m", "venv", str(path)], check=True)
    subprocess.run([str(interpreter), "-m", "pip", "install", "--quiet", *packages], check=True)
    marker.write_text(wanted)
    return interpreter


def run_child(args: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child process (environment: ours plus `env`); its last stdout line, as JSON."""
    out = subprocess.run(
        args,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
