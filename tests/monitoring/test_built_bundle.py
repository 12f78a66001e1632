"""What `sam build` makes for MonitorFunction and FeedbackFunction: under 200 MB unzipped with
their layers, no scikit-learn, scipy or pandas, and the built monitor runs a window from its
artifacts alone (Lambda's /var/task and /opt/python, plus the runtime's boto3) against moto."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from embedded_aws.bundle import (
    FORBIDDEN_IN_SERVING,
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
from tests.monitoring.conftest import WINDOW_START, CaptureWriter, churn

pytestmark = [pytest.mark.sam, pytest.mark.integration]
BUNDLE_LIMIT_MB = 200


@pytest.mark.parametrize("function", ["MonitorFunction", "FeedbackFunction"])
def test_built_bundle_is_under_200_mb_without_training_libraries(
    sam_build_dir: Path, function: str
) -> None:
    for part in bundle_roots(sam_build_dir, function):
        assert not packages_in(part) & set(FORBIDDEN_IN_SERVING), part
    size_mb = bundle_size(sam_build_dir, function) / 1e6
    assert size_mb < BUNDLE_LIMIT_MB, f"{function} + layers are {size_mb:.1f} MB unzipped"
    assert (sam_build_dir / function / "app.py").is_file()
    assert "orjson" in packages_in(sam_build_dir / "RuntimeLayer" / "python")
    assert not any("onnxruntime" in packages_in(p) for p in bundle_roots(sam_build_dir, function))


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
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **template_env,
        "RETRAINING_ENABLED": "false",
    }
    run = run_built_handler(
        sam_build_dir,
        "MonitorFunction",
        REPO_ROOT / "events" / "monitor_window.json",
        env=env,
        workdir=tmp_path,
    )
    summary = run.result
    assert summary["status"] == "OK"
    assert summary["counts"]["predictions"] == 300 and summary["counts"]["labeled"] == 300
    assert summary["reports"]["html"].endswith("report.html")
    top_level = {name.split(".")[0] for name in run.modules}
    assert not top_level & {"sklearn", "scipy", "pandas", "onnxruntime"}
    assert unused_packages(sam_build_dir, "MonitorFunction", run.modules) == {}
