"""`modelops train` checks the bucket and credentials before it trains, and says what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from embedded_aws.server import free_port
from modelops_train import cli
from modelops_train.errors import UsageError
from modelops_train.preflight import check_bucket


def train(capsys: pytest.CaptureFixture[str], data: str) -> tuple[int, str]:
    code = cli.main(["train", "--data", data, "--target", "y", "--model-name", "m"])
    return code, capsys.readouterr().err


def test_a_missing_bucket_is_reported_before_the_data_is_even_read(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", "no-such-bucket")
    # The data file does not exist either: the bucket's error comes first, so the check ran
    # before anything else of the job.
    code, err = train(capsys, "/nonexistent/data.csv")
    assert code == cli.EXIT_USAGE
    assert "bucket 'no-such-bucket' (MODELOPS_BUCKET) does not exist" in err
    assert "Traceback" not in err


def test_an_existing_bucket_passes_and_the_job_goes_on(
    bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    code, err = train(capsys, "/nonexistent/data.csv")
    assert code == cli.EXIT_INVALID_DATA  # past the check: the data's own error
    assert "bucket" not in err


def test_no_credentials_says_how_to_configure_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # not loopback (TEST-NET-1): no fake credentials are supplied; signing fails first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://192.0.2.1:9")
    monkeypatch.setenv("MODELOPS_BUCKET", "b")
    code, err = train(capsys, "/nonexistent/data.csv")
    assert code == cli.EXIT_USAGE
    assert "no AWS credentials found" in err and "AWS_ENDPOINT_URL" in err


def test_an_unreachable_endpoint_is_named() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s3: Any = boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(UsageError, match=r"cannot reach .*127\.0\.0\.1"):
        check_bucket("b", s3_client=s3)
