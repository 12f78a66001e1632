"""Fake credentials for a local endpoint come from one place (modelops.aws), only when the
endpoint is on loopback and nothing is configured; real AWS never gets them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelops.aws import LOCAL_CREDENTIALS, is_local_endpoint, local_defaults


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "http://127.255.255.254:1",
        "http://localhost:3000",
        "http://[::1]:4566",
        "127.0.0.1:5000",
    ],
)
def test_loopback_endpoints_are_local(url: str) -> None:
    assert is_local_endpoint(url)


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://s3.us-east-1.amazonaws.com",
        "http://128.0.0.1:5000",  # just past 127.0.0.0/8
        "http://126.255.255.255:5000",  # just before it
        "http://localhost.example.com",
        "http://10.0.0.5:4566",
    ],
)
def test_other_endpoints_are_not_local(url: str | None) -> None:
    assert not is_local_endpoint(url)


def test_local_endpoint_without_credentials_gets_fake_ones_and_a_region() -> None:
    defaults = local_defaults({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert {k: defaults[k] for k in LOCAL_CREDENTIALS} == LOCAL_CREDENTIALS
    assert defaults["AWS_DEFAULT_REGION"] == defaults["AWS_REGION"] == "us-east-1"


@pytest.mark.parametrize(
    "configured",
    [{"AWS_ACCESS_KEY_ID": "AKIAREAL"}, {"AWS_PROFILE": "localstack"}],
)
def test_configured_credentials_are_left_alone(configured: dict[str, str]) -> None:
    defaults = local_defaults({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", **configured})
    assert not set(defaults) & set(LOCAL_CREDENTIALS)


def test_a_configured_region_is_kept() -> None:
    env = {"AWS_ENDPOINT_URL": "http://localhost:1", "AWS_REGION": "eu-west-1"}
    assert "AWS_REGION" not in local_defaults(env)
    assert "AWS_DEFAULT_REGION" not in local_defaults(env)


def test_real_aws_never_gets_fake_credentials() -> None:
    assert local_defaults({}) == {}
    assert local_defaults({"AWS_ENDPOINT_URL": "https://vpce-1.s3.amazonaws.com"}) == {}


def bare_environment(endpoint: str, tmp_path: object) -> dict[str, str]:
    """A shell with no AWS settings but the endpoint: what the docs tell a user to set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("MODELOPS_BUCKET",)
    }
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=f"{tmp_path}/none",
        AWS_SHARED_CREDENTIALS_FILE=f"{tmp_path}/none",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.mark.integration
def test_the_cli_reaches_embedded_aws_with_only_the_endpoint_set(
    moto_server_endpoint: str, tmp_path: object
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server_endpoint)
    s3.create_bucket(Bucket="creds-free-bucket")
    env = bare_environment(moto_server_endpoint, tmp_path) | {
        "MODELOPS_BUCKET": "creds-free-bucket"
    }
    result = subprocess.run(
        [sys.executable, "-m", "modelops_train", "models", "history", "--model-name", "nosuch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "NoCredentialsError" not in result.stderr and "Traceback" not in result.stderr
    assert "credentials" not in result.stderr.lower()
