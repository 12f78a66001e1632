"""What `sam build` makes for MonitorFunction and FeedbackFunction: under 200 MB unzipped with
their layers, no scikit-learn, scipy or pandas, and the built monitor runs a window from its
artifacts alone (Lambda's /var/task and /opt/python, plus the runtime's boto3) against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from embedded_aws.provision import create_bucket
from embedded_aws.template import REPO_ROOT, function_environment, resolve
from modelops.registry import ModelRegistry
from tests.conftest import BUCKET
from tests.models import publish_trained
from tests.monitoring.conftest import WINDOW_START, CaptureWriter, churn
from tests.sam_cli import FORBIDDEN_IN_SERVING, packages_in, tree_size
from tests.serving.test_built_bundle import runtime_provided_dir

pytestmark = [pytest.mark.sam, pytest.mark.integration]
BUNDLE_LIMIT_MB = 200
LAYERS = ("RuntimeLayer", "ModelOpsLayer")

RUN_BUILT_HANDLER = r"""
import importlib.util, json, sys, uuid
roots = json.loads(sys.argv[1])
sys.path[:0] = roots
spec = importlib.util.spec_from_file_location("app", roots[0] + "/app.py")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

class Context:
    function_name = "monitor"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:monitor"
    aws_request_id = str(uuid.uuid4())

summary = app.lambda_handler(json.load(open(sys.argv[2])), Context())
print("RESULT " + json.dumps({"summary": summary, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("function", ["MonitorFunction", "FeedbackFunction"])
def test_built_bundle_is_under_200_mb_without_training_libraries(
    sam_build_dir: Path, function: str
) -> None:
    parts = [sam_build_dir / function, *(sam_build_dir / layer / "python" for layer in LAYERS)]
    for part in parts:
        assert not packages_in(part) & set(FORBIDDEN_IN_SERVING), part
    size_mb = sum(tree_size(p) for p in parts) / 1e6
    assert size_mb < BUNDLE_LIMIT_MB, f"{function} + layers are {size_mb:.1f} MB unzipped"
    assert (sam_build_dir / function / "app.py").is_file()
    assert "orjson" in packages_in(sam_build_dir / "RuntimeLayer" / "python")


def test_built_monitor_function_runs_a_window_from_its_artifacts_alone(
    sam_build_dir: Path, on_moto_server: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    create_bucket(s3, BUCKET)
    registry = ModelRegistry(BUCKET, s3_client=s3)
    publish_trained(registry, "binary")
    writer = CaptureWriter(s3, BUCKET, registry)
    frame = churn(300, seed=90)
    ids = writer.predictions(frame, compress=True)
    writer.feedback(ids, frame["churned"].tolist(), received=WINDOW_START + timedelta(hours=1))

    refs = {
        "ModelOpsBucket": BUCKET,
        "TrainingJobQueue": "unused",
        "TrainingJobDefinition": "unused",
    }
    template_env = {
        k: str(v) for k, v in resolve(function_environment("MonitorFunction"), refs).items()
    }
    roots = [
        sam_build_dir / "MonitorFunction",
        *(sam_build_dir / layer / "python" for layer in LAYERS),
    ]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": on_moto_server,
        **{k: os.environ[k] for k in os.environ if k.startswith("AWS_") and "ENDPOINT" not in k},
        **template_env,
        "RETRAINING_ENABLED": "false",
    }
    result = subprocess.run(
        [
            sys.executable, "-I", "-S", "-c", RUN_BUILT_HANDLER,
            json.dumps([str(r) for r in [*roots, runtime_provided_dir(tmp_path)]]),
            str(REPO_ROOT / "events" / "monitor_window.json"),
        ],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    run: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    summary = run["summary"]
    assert summary["status"] == "OK"
    assert summary["counts"]["predictions"] == 300 and summary["counts"]["labeled"] == 300
    assert summary["reports"]["html"].endswith("report.html")
    top_level = {name.split(".")[0] for name in run["modules"]}
    assert not top_level & {"sklearn", "scipy", "pandas", "onnxruntime"}
