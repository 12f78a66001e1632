"""The bundle `sam build` makes for PredictFunction is complete and lean: a fresh interpreter
whose sys.path is only the built function folder and the layers' python/ folders (Lambda's
/var/task and /opt/python), plus the boto3 the Lambda runtime provides, answers a request
against moto's server; and nothing from scikit-learn, scipy or pandas is in it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from embedded_aws.bundle import (
    FORBIDDEN_IN_SERVING,
    allowed_origins,
    bundle_roots,
    bundle_size,
    packages_in,
    run_built_handler,
    unused_packages,
)
from embedded_aws.provision import create_bucket
from embedded_aws.template import REPO_ROOT, function_environment, resolve
from modelops.registry import ModelRegistry
from tests.conftest import BUCKET
from tests.models import publish_trained
from tests.serving.conftest import template_environment

pytestmark = [pytest.mark.sam, pytest.mark.integration]

BUNDLE_LIMIT_MB = 150


def test_built_predict_function_answers_from_its_artifacts_alone(
    sam_build_dir: Path, on_moto_server: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    create_bucket(s3, BUCKET)
    metadata = publish_trained(ModelRegistry(BUCKET, s3_client=s3), "binary")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **template_environment(),
    }

    run = run_built_handler(
        sam_build_dir,
        "PredictFunction",
        REPO_ROOT / "events" / "predict_api.json",
        env=env,
        workdir=tmp_path,
    )

    assert run.result["statusCode"] == 200, run.result
    body = json.loads(run.result["body"])
    assert body["model"] == {"name": "churn", "version": metadata["version"]}
    assert [p["inference_id"] for p in body["predictions"]] == ["order-1234", "order-1235"]
    top_level = {name.split(".")[0] for name in run.modules}
    assert not top_level & {"sklearn", "scipy", "pandas", "skl2onnx", "onnx"}
    allowed = allowed_origins(sam_build_dir, "PredictFunction", tmp_path)
    outside = [f for f in run.files if f and not any(f.startswith(a) for a in allowed)]
    assert outside == [], f"modules loaded from outside the bundle: {outside}"
    assert unused_packages(sam_build_dir, "PredictFunction", run.modules) == {}
    # The model came through the light reader: botocore's client machinery (about half a
    # cold start) was never imported on the way to the first answer.
    assert not {"botocore.client", "botocore.session", "urllib3"} & set(run.modules)


def _aws_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
    }


def test_built_feedback_function_imports_everything_it_carries(
    sam_build_dir: Path, on_moto_server: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    create_bucket(s3, BUCKET)
    publish_trained(ModelRegistry(BUCKET, s3_client=s3), "binary")
    refs = {"ModelOpsBucket": BUCKET}
    env = {
        **_aws_env(tmp_path),
        **{k: str(v) for k, v in resolve(function_environment("FeedbackFunction"), refs).items()},
    }
    run = run_built_handler(
        sam_build_dir,
        "FeedbackFunction",
        REPO_ROOT / "events" / "feedback_api.json",
        env=env,
        workdir=tmp_path,
    )
    assert run.result["statusCode"] == 202, run.result
    assert unused_packages(sam_build_dir, "FeedbackFunction", run.modules) == {}


def test_built_pretraffic_hook_imports_everything_it_carries(
    sam_build_dir: Path, on_moto_server: str, tmp_path: Path
) -> None:
    """Initialisation only: a real check needs CodeDeploy to call it, and every module the
    hook uses is imported when it loads."""
    refs = {
        "ModelOpsBucket": BUCKET,
        "PredictFunction": "predict",
        "FeedbackFunction": "feedback",
        "MonitorFunction": "monitor",
    }
    environment = function_environment("PreTrafficHookFunction")
    env = {**_aws_env(tmp_path), **{k: str(v) for k, v in resolve(environment, refs).items()}}
    run = run_built_handler(
        sam_build_dir, "PreTrafficHookFunction", None, env=env, workdir=tmp_path
    )
    assert "onnxruntime" in {name.split(".")[0] for name in run.modules}
    assert unused_packages(sam_build_dir, "PreTrafficHookFunction", run.modules) == {}


def test_built_bundle_is_lean(sam_build_dir: Path) -> None:
    for part in bundle_roots(sam_build_dir, "PredictFunction"):
        assert not packages_in(part) & set(FORBIDDEN_IN_SERVING), part
    size_mb = bundle_size(sam_build_dir, "PredictFunction") / 1e6
    assert size_mb <= BUNDLE_LIMIT_MB, f"PredictFunction + layers are {size_mb:.1f} MB unzipped"
    assert (sam_build_dir / "PredictFunction" / "app.py").is_file()
