"""Local state that outlives one run of embedded AWS (moto keeps everything in memory).

`.modelops-local/` (under the repository, ignored by git) holds:
- `registry/`: a copy of the bucket's `models/` prefix (versions, aliases, history), saved
  after `make api` trains a model and when it stops, loaded into the next run's bucket, so
  a model trained once is served again without retraining;
- `stack.json`: the running `make api`'s endpoint and stack, so `make invoke` runs a
  function against the same embedded AWS the API is serving from.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedded_aws.provision import LocalStack
from embedded_aws.template import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / ".modelops-local"
REGISTRY_PREFIX = "models/"


def load_registry(s3: Any, bucket: str, directory: Path) -> int:
    """Upload the saved registry into `bucket`; returns the number of objects."""
    root = directory / "registry"
    if not root.is_dir():
        return 0
    count = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.put_object(
                Bucket=bucket, Key=path.relative_to(root).as_posix(), Body=path.read_bytes()
            )
            count += 1
    return count


def save_registry(s3: Any, bucket: str, directory: Path) -> int:
    """Replace the saved registry with the bucket's `models/` prefix; returns the number of
    objects. Written beside it first, then swapped, so an interrupted save loses nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="registry-", dir=directory))
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=REGISTRY_PREFIX):
        for item in page.get("Contents", []):
            target = staging / item["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            count += 1
    final = directory / "registry"
    previous = directory / f".old-{os.getpid()}"
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return count


def write_stack_file(directory: Path, stack: LocalStack, **extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "stack.json"
    path.write_text(json.dumps({"stack": asdict(stack), **extra}, indent=2, default=str))
    return path


def remove_stack_file(directory: Path) -> None:
    (directory / "stack.json").unlink(missing_ok=True)


def running_stack(directory: Path) -> LocalStack | None:
    """The stack of a `make api` still running (its endpoint answers), else None."""
    path = directory / "stack.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())["stack"]
    endpoint = saved.get("endpoint_url")
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2) as response:
            response.read(1)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return LocalStack(
        name=saved["name"],
        refs=saved["refs"],
        created=tuple(saved["created"]),
        not_created=tuple(saved["not_created"]),
        endpoint_url=endpoint,
    )
