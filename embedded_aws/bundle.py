"""The SAM CLI and what `sam build` produces: build, measure, and run a function from its
built artifacts alone, as Lambda does (the function folder as /var/task, the layers'
`python/` folders as /opt/python, plus what the runtime itself provides).

Shared by the SAM tests, the bundle tests of each function and the serving benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from embedded_aws.template import REPO_ROOT, load_template, resolve, resource

FORBIDDEN_IN_SERVING = ("sklearn", "scikit_learn", "scipy", "pandas")
# What the python3.13 Lambda runtime provides besides the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py")

# Imports the handler from the first root, calls it with the event file (none: initialisation
# only), says ANSWERED on stderr the moment it returns (for cold-start timing), then prints
# what it returned and every module it loaded, with the files they came from.
_RUN_HANDLER = r"""
import importlib.util, json, sys, uuid
roots = json.loads(sys.argv[1])
sys.path[:0] = roots
spec = importlib.util.spec_from_file_location("app", roots[0] + "/app.py")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

class Context:
    function_name = sys.argv[3]
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[3]
    aws_request_id = str(uuid.uuid4())

result = app.lambda_handler(json.load(open(sys.argv[2])), Context()) if sys.argv[2] else None
sys.stderr.write("ANSWERED\n"); sys.stderr.flush()
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print("RESULT " + json.dumps({"result": result, "modules": sorted(sys.modules), "files": files}))
"""


def sam_executable() -> str:
    """The SAM CLI of the project's tool environment (the Makefile passes it as SAM_CLI)."""
    path = os.environ.get("SAM_CLI") or str(REPO_ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(path).exists():
        raise FileNotFoundError(f"SAM CLI not found at {path}: run `make setup` first")
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


def function_layers(function: str, parameters: Mapping[str, str] | None = None) -> list[str]:
    """The logical ids of a function's layers, as template.yaml gives them for these parameter
    values (defaults otherwise: tracing off, so no TracingLayer)."""
    layers = resource(function)["Properties"].get("Layers", [])
    doc = load_template()
    refs: dict[str, Any] = {
        name: name
        for name, res in doc["Resources"].items()
        if res["Type"] == "AWS::Serverless::LayerVersion"
    }
    refs.update(parameters or {})
    return [str(layer) for layer in resolve(layers, refs)]


def bundle_roots(build_dir: Path, function: str) -> list[Path]:
    """A built function's code folder first, then its layers' python/ folders."""
    return [
        build_dir / function,
        *(build_dir / layer / "python" for layer in function_layers(function)),
    ]


def importable_names(folder: Path) -> set[str]:
    """Top-level names a folder on sys.path makes importable (packages, modules, extension
    modules), without the metadata, bytecode and vendored-library folders beside them."""
    names: set[str] = set()
    for child in folder.iterdir():
        name = child.name
        if name.startswith(("_", ".")) or name.endswith((".dist-info", ".libs", ".pth")):
            continue
        if child.is_dir() or name.endswith(".py"):
            names.add(name.removesuffix(".py"))
        elif ".cpython-" in name or name.endswith(".so"):
            names.add(name.split(".")[0])
    return names


def unused_packages(build_dir: Path, function: str, modules: Sequence[str]) -> dict[str, set[str]]:
    """Per layer of the function, what it carries that the run never imported (`modules`:
    every module name the run loaded). Empty when the function carries nothing in vain."""
    imported = {name.split(".")[0] for name in modules}
    unused = {}
    for layer in function_layers(function):
        extra = importable_names(build_dir / layer / "python") - imported
        if extra:
            unused[layer] = extra
    return unused


def bundle_size(build_dir: Path, function: str) -> int:
    """Unzipped bytes of a built function plus its layers."""
    return sum(tree_size(root) for root in bundle_roots(build_dir, function))


def runtime_provided_dir(folder: Path) -> Path:
    """boto3 and its dependencies from this environment, alone in `folder` (as Lambda's
    runtime provides them), so nothing else of site-packages is importable."""
    site = Path(boto3.__file__).parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        if not (folder / name).exists():
            (folder / name).symlink_to(site / name)
    return folder


@dataclass(frozen=True)
class BuiltRun:
    result: Any  # what lambda_handler returned
    modules: list[str]  # every module imported
    files: list[str]  # the files those modules were loaded from


def built_handler_command(
    build_dir: Path, function: str, event_path: Path | None, workdir: Path
) -> list[str]:
    """The command that runs one invocation of a built function in a fresh interpreter with
    nothing but the bundle and the runtime's own packages importable (-I -S: no
    site-packages, no PYTHON* variables, no current directory on sys.path), writing no
    bytecode (-B), as Lambda's read-only /var/task and /opt cannot keep any."""
    roots = [*bundle_roots(build_dir, function), runtime_provided_dir(workdir / "lambda-runtime")]
    return [
        sys.executable,
        "-I",
        "-S",
        "-B",
        "-c",
        _RUN_HANDLER,
        json.dumps([str(r) for r in roots]),
        str(event_path) if event_path is not None else "",
        function,
    ]


def run_built_handler(
    build_dir: Path,
    function: str,
    event_path: Path | None,
    *,
    env: Mapping[str, str],
    workdir: Path,
    timeout: int = 180,
) -> BuiltRun:
    """Invoke a built function once (event_path None: only initialise it), from its artifacts
    alone; raise with its stderr if it fails."""
    command = built_handler_command(build_dir, function, event_path, workdir)
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
        cwd=workdir,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{function} failed from its built artifacts:\n{completed.stderr}")
    lines: Sequence[str] = [ln for ln in completed.stdout.splitlines() if ln.startswith("RESULT ")]
    if len(lines) != 1:
        raise RuntimeError(f"{function} printed no result:\n{completed.stdout}\n{completed.stderr}")
    run = json.loads(lines[0].removeprefix("RESULT "))
    return BuiltRun(run["result"], run["modules"], run["files"])


def allowed_origins(build_dir: Path, function: str, workdir: Path) -> list[str]:
    """Where a built function's modules may come from: its bundle, the runtime's packages
    and the standard library."""
    roots = [*bundle_roots(build_dir, function), workdir / "lambda-runtime"]
    return [str(r) for r in roots] + [sys.base_prefix]
