"""The bundle `sam build` makes for PredictFunction is complete and lean: a fresh interpreter
whose sys.path is only the built function folder and the layers' python/ folders (Lambda's
/var/task and /opt/python), plus the boto3 the Lambda runtime provides, answers a request
against moto's server; and nothing from scikit-learn, scipy or pandas is in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from embedded_aws.provision import create_bucket
from embedded_aws.template import REPO_ROOT
from modelops.registry import ModelRegistry
from tests.conftest import BUCKET
from tests.models import publish_trained
from tests.sam_cli import FORBIDDEN_IN_SERVING, packages_in, tree_size
from tests.serving.conftest import template_environment

pytestmark = [pytest.mark.sam, pytest.mark.integration]

# What the python3.13 Lambda runtime provides besides the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py")
BUNDLE_LIMIT_MB = 150

RUN_BUILT_HANDLER = r"""
import importlib.util, json, sys, uuid
roots = json.loads(sys.argv[1])
sys.path[:0] = roots
spec = importlib.util.spec_from_file_location("app", roots[0] + "/app.py")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

class Context:
    function_name = "predict"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id = str(uuid.uuid4())

response = app.lambda_handler(json.load(open(sys.argv[2])), Context())
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print("RESULT " + json.dumps({"response": response, "modules": sorted(sys.modules), "files": files}))
"""


def runtime_provided_dir(tmp_path: Path) -> Path:
    """boto3 and its dependencies from the dev environment, alone in a folder."""
    site = Path(boto3.__file__).parent.parent
    folder = tmp_path / "lambda-runtime"
    folder.mkdir()
    for name in RUNTIME_PROVIDED:
        (folder / name).symlink_to(site / name)
    return folder


def test_built_predict_function_answers_from_its_artifacts_alone(
    sam_build_dir: Path, on_moto_server: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    create_bucket(s3, BUCKET)
    metadata = publish_trained(ModelRegistry(BUCKET, s3_client=s3), "binary")

    roots = [
        sam_build_dir / "PredictFunction",
        sam_build_dir / "RuntimeLayer" / "python",
        sam_build_dir / "ModelOpsLayer" / "python",
        runtime_provided_dir(tmp_path),
    ]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": on_moto_server,
        **{k: os.environ[k] for k in os.environ if k.startswith("AWS_") and "ENDPOINT" not in k},
        **template_environment(),
    }
    result = subprocess.run(
        # -I -S: no site-packages, no PYTHON* variables, no current directory on sys.path.
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            RUN_BUILT_HANDLER,
            json.dumps([str(r) for r in roots]),
            str(REPO_ROOT / "events" / "predict_api.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    run: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    assert run["response"]["statusCode"] == 200, run["response"]
    body = json.loads(run["response"]["body"])
    assert body["model"] == {"name": "churn", "version": metadata["version"]}
    assert [p["inference_id"] for p in body["predictions"]] == ["order-1234", "order-1235"]

    top_level = {name.split(".")[0] for name in run["modules"]}
    assert not top_level & {"sklearn", "scipy", "pandas", "skl2onnx", "onnx"}
    allowed = [str(r) for r in roots] + [sys.base_prefix]
    outside = [f for f in run["files"] if f and not any(f.startswith(a) for a in allowed)]
    assert outside == [], f"modules loaded from outside the bundle: {outside}"


def test_built_bundle_is_lean(sam_build_dir: Path) -> None:
    parts = [
        sam_build_dir / "PredictFunction",
        sam_build_dir / "RuntimeLayer" / "python",
        sam_build_dir / "ModelOpsLayer" / "python",
    ]
    for part in parts:
        assert not packages_in(part) & set(FORBIDDEN_IN_SERVING), part
    size_mb = sum(tree_size(p) for p in parts) / 1e6
    assert size_mb <= BUNDLE_LIMIT_MB, f"PredictFunction + layers are {size_mb:.1f} MB unzipped"
    assert (sam_build_dir / "PredictFunction" / "app.py").is_file()
