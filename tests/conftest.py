"""Shared fixtures. Tiers (docs/ARCHITECTURE.md): unit tests run on moto's in-process
`mock_aws`; `integration` tests on moto's server on 127.0.0.1; `sam` tests run the SAM CLI;
`e2e` runs the whole loop. No test reaches the network except `sam build` fetching wheels."""

from __future__ import annotations

import fcntl
import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from moto import mock_aws

from embedded_aws.bundle import run_sam
from embedded_aws.provision import create_bucket
from embedded_aws.server import FAKE_CREDENTIALS, embedded_aws
from modelops import aws
from modelops.registry import ModelRegistry

BUCKET = "modelops-test-bucket"

# Property-based tests: a fixed, small set of examples in `make test` (derandomized, so a run
# is reproducible), many fresh ones in `make fuzz` (HYPOTHESIS_PROFILE=fuzz). No example
# database: nothing is written into the checkout.
settings.register_profile(
    "default",
    max_examples=80,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, a fixed region and no real endpoint for every test."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "1")
    # In-process moto answers botocore's requests only: the light S3 reader (plain HTTP)
    # serves on moto's server (on_moto_server), and in its own tests.
    monkeypatch.setenv("MODELOPS_LIGHT_S3", "0")
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator of the test's own: seeded from its id (with parameters), so each test draws
    the same numbers whatever runs before it, and two tests never share a stream."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(mocked_aws: None) -> Any:
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    """ModelOpsBucket, created as template.yaml declares it."""
    return create_bucket(s3, BUCKET)


@pytest.fixture
def registry(s3: Any, bucket: str) -> ModelRegistry:
    return ModelRegistry(bucket, s3_client=s3)


# Real trained ONNX models (tests/models.py: trained once per session), published into the
# test's registry as champion; each fixture returns that version's metadata.json.
@pytest.fixture
def binary_champion(registry: ModelRegistry) -> dict[str, Any]:
    """The demo churn model ("churn"; classes "no"/"yes")."""
    from tests.models import publish_trained

    return publish_trained(registry, "binary", promote=True)


@pytest.fixture
def multiclass_champion(registry: ModelRegistry) -> dict[str, Any]:
    """load_wine ("wine"; classes 0, 1, 2)."""
    from tests.models import publish_trained

    return publish_trained(registry, "multiclass", promote=True)


@pytest.fixture
def regression_champion(registry: ModelRegistry) -> dict[str, Any]:
    """load_diabetes ("diabetes")."""
    from tests.models import publish_trained

    return publish_trained(registry, "regression", promote=True)


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1, for the whole session (integration tier)."""
    with embedded_aws(set_environment=False) as endpoint:
        yield endpoint


@pytest.fixture
def on_moto_server(moto_server_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 client at moto's server through AWS_ENDPOINT_URL only."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server_endpoint)
    monkeypatch.delenv("MODELOPS_LIGHT_S3", raising=False)
    aws.reset_clients()
    return moto_server_endpoint


@pytest.fixture(scope="session")
def sam_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` of the whole template, once per run; tests read the built artifacts.

    `make test` runs on every core (pytest-xdist): the workers share one build in the run's
    common temporary directory, made by the first worker that needs it while the others wait
    on a lock (a build costs tens of seconds of CPU; two would only slow each other)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this run's directory, above each worker's own
    build_dir, built = root / "sam-build", root / "sam-build.ok"
    with (root / "sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(build_dir, ignore_errors=True)  # what a failed build left
            home = root / "sam-home"
            home.mkdir(exist_ok=True)
            result = run_sam(["build", "--build-dir", str(build_dir)], home)
            assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
            built.touch()
    return build_dir
