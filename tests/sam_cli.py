"""Running the real SAM CLI from tests: `sam validate --lint` and `sam build` (no container)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from embedded_aws.template import REPO_ROOT

FORBIDDEN_IN_SERVING = ("sklearn", "scikit_learn", "scipy", "pandas")


def sam_executable() -> str:
    """The SAM CLI of the project's tool environment (the Makefile passes it as SAM_CLI)."""
    path = os.environ.get("SAM_CLI") or str(REPO_ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(path).exists():
        raise FileNotFoundError(f"SAM CLI not found at {path}: run the tests through `make test`")
    return path


def sam_environment(home: Path) -> dict[str, str]:
    """The runtime's python3.13 on PATH (aws-lambda-builders needs it), no telemetry, a writable HOME."""
    python313 = subprocess.run(
        [str(REPO_ROOT / "scripts" / "find-python313.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    env = dict(os.environ)
    env["PATH"] = f"{Path(python313).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    env["HOME"] = str(home)
    return env


def run_sam(args: list[str], home: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sam_executable(), *args],
        cwd=REPO_ROOT,
        env=sam_environment(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tree_size(path: Path) -> int:
    """Unzipped size in bytes of everything under `path` (what Lambda's 250 MB limit counts)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def packages_in(path: Path) -> set[str]:
    """Top-level importable names and distributions found in a built folder."""
    names: set[str] = set()
    for child in path.iterdir():
        name = child.name
        if name.endswith(".dist-info"):
            name = name.split("-")[0]
        names.add(name.lower().removesuffix(".py"))
    return names
