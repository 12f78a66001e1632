"""The monitor as deployed (numpy's BLAS pool at one thread, template.yaml) forks its scan
workers from a process without other threads: with every warning an error, three workers
give exactly the report of one pass. Runs in a child process against moto's server, since
the test process itself has threads (it then scans in one process, tested elsewhere)."""

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
from modelops.registry import ModelRegistry
from tests.conftest import BUCKET
from tests.models import publish_trained
from tests.monitoring.conftest import WINDOW_EVENT, WINDOW_START, CaptureWriter, churn, truth

pytestmark = pytest.mark.integration

MONITOR = """
import json, os, sys, warnings
warnings.simplefilter("error")
# the same exception as pyproject's test settings: botocore's own deprecations
warnings.filterwarnings("ignore", category=DeprecationWarning, module="botocore.*")
from modelops.monitoring.monitor import Monitor, MonitorSettings
from modelops.monitoring.parallel import can_fork
from modelops.monitoring.window import Window
assert can_fork(), "the monitor process has another thread"
monitor = Monitor.from_settings(MonitorSettings.from_env())
report = monitor.run(Window.from_event(json.loads(sys.argv[1]), window_minutes=60))
print(json.dumps({"report": report, "forks": can_fork()}))
"""


def run_monitor(env: dict[str, str], workers: int, tmp_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", MONITOR, json.dumps(WINDOW_EVENT)],
        env={**env, "MONITOR_WORKERS": str(workers)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Warning" not in done.stderr, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])["report"]
    return report


def test_three_forked_workers_without_warnings_give_the_single_pass_report(
    on_moto_server: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    create_bucket(s3, BUCKET)
    registry = ModelRegistry(BUCKET, s3_client=s3)
    publish_trained(registry, "binary", promote=True)
    writer = CaptureWriter(s3, BUCKET, registry)
    frame = churn(900, seed=61, numeric_shift=10.0)
    ids = writer.predictions(frame, objects=5)
    writer.feedback(ids[::2], truth(frame)[::2], received=WINDOW_START + timedelta(hours=2))
    env = {
        **{k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"},
        "OPENBLAS_NUM_THREADS": "1",
        "MODELOPS_BUCKET": BUCKET,
        "MODEL_NAME": "churn",
        "RETRAINING_ENABLED": "false",
    }
    one = run_monitor(env, 1, tmp_path)
    three = run_monitor(env, 3, tmp_path)
    assert one["counts"] == three["counts"]
    assert one["counts"]["predictions"] == 900 and one["counts"]["labeled"] == 450
    assert one["counts"]["capture_objects"] == 5
    assert one["drift"] == three["drift"]
    # the same labeled rows; sums of per-row losses in another order round differently
    assert one["performance"]["metrics"] == pytest.approx(
        three["performance"]["metrics"], abs=1e-12
    )
    assert one["performance"]["labeled"] == three["performance"]["labeled"]
    assert one["estimated_performance"] == three["estimated_performance"]
    assert one["status"] == three["status"] == "DRIFT"
