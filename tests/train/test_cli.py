"""`modelops train` through main([...]): files, S3, exit codes, messages, nothing published on error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelops.registry import ModelRegistry
from modelops_train import cli


@pytest.fixture
def env_bucket(bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    return bucket


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["train", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _published(registry: ModelRegistry) -> list[str]:
    listed = registry._s3.list_objects_v2(Bucket=registry.bucket, Prefix="models/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_csv_end_to_end(
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    env_bucket: str,
    registry: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "churn.csv"
    churn_frame.to_csv(path, index=False)
    code, out, err = run(
        capsys,
        "--data",
        str(path),
        "--target",
        "churned",
        "--model-name",
        "churn",
        "--estimator",
        "linear",
    )
    assert code == cli.EXIT_OK, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert (result["model"], result["version"], result["promoted"]) == ("churn", 1, True)
    assert set(result["metrics"]) == {"accuracy", "f1", "roc_auc", "log_loss", "brier_score"}
    assert result["location"] == f"s3://{env_bucket}/models/churn/v1/"
    assert registry.resolve("churn") == 1
    assert registry.get_metadata("churn", 1)["lineage"]["data_uri"] == str(path)
    for phase in ("load", "validate", "fit", "evaluate", "export", "parity", "publish", "promote"):
        assert f"{phase}: done in" in err


def test_parquet_with_explicit_spec(
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    env_bucket: str,
    registry: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "churn.parquet"
    churn_frame.to_parquet(path)
    code, out, err = run(
        capsys,
        "--data", str(path), "--target", "churned", "--model-name", "churn", "--task", "binary",
        "--features", "tenure_months,monthly_charges,plan,contract", "--categorical", "plan,contract",
        "--seed", "3", "--promote", "never", "--optional", "monthly_charges",
    )  # fmt: skip
    assert code == cli.EXIT_OK, err
    assert json.loads(out)["promoted"] is False
    metadata = registry.get_metadata("churn", 1)
    # Required: no missing value in the data and not declared --optional (contract has gaps).
    assert [(f["name"], f["kind"], f["required"]) for f in metadata["features"]] == [
        ("tenure_months", "numeric", True), ("monthly_charges", "numeric", False),
        ("plan", "categorical", True), ("contract", "categorical", False),
    ]  # fmt: skip
    assert registry.get_alias("churn") is None


def test_s3_uri(
    churn_frame: pd.DataFrame,
    s3: Any,
    env_bucket: str,
    registry: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3.put_object(
        Bucket=env_bucket,
        Key="datasets/churn/train.csv",
        Body=churn_frame.to_csv(index=False).encode(),
    )
    uri = f"s3://{env_bucket}/datasets/churn/train.csv"
    code, out, err = run(
        capsys,
        "--data",
        uri,
        "--target",
        "churned",
        "--model-name",
        "churn",
        "--estimator",
        "linear",
    )
    assert code == cli.EXIT_OK, err
    assert json.loads(out)["data"] == {"uri": uri, "rows": len(churn_frame)}
    code, _, err = run(
        capsys,
        "--data",
        f"s3://{env_bucket}/datasets/churn/none.csv",
        "--target",
        "churned",
        "--model-name",
        "churn",
    )
    assert code == cli.EXIT_INVALID_DATA and "NoSuchKey" in err


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _bad_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    bad = frame.copy()
    bad["tenure_months"] = bad["tenure_months"].astype(object)
    bad.loc[3, "tenure_months"] = "abc"
    bad.loc[17, "tenure_months"] = "twelve"
    return bad


@pytest.mark.parametrize(
    ("make", "args", "expected"),
    [
        (lambda f: f, ["--target", "churn"], ["'churn'", "target column is missing"]),
        (
            lambda f: f,
            ["--target", "churned", "--features", "tenure_months,nope"],
            ["'nope'", "feature column is missing"],
        ),
        (
            lambda f: f,
            ["--target", "churned", "--categorical", "plan,zip"],
            ["'zip'", "not one of the features"],
        ),
        (lambda f: f.assign(churned="yes"), ["--target", "churned"], ["one class ('yes')"]),
        (
            _bad_numeric,
            ["--target", "churned"],
            ["row 3, field 'tenure_months': expected a number, got 'abc'", "row 17"],
        ),
        (
            lambda f: f.assign(age="x"),
            ["--target", "churned", "--categorical", "plan,contract,payment_method"],
            ["row 0, field 'age'", "and 790 more rows"],
        ),
        (lambda f: f.head(0), ["--target", "churned"], ["the data has no rows"]),
        (lambda f: f.head(99), ["--target", "churned"], ["need at least 100 rows", "--min-rows"]),
        (
            lambda f: f.assign(churned=[None, *f["churned"][1:]]),
            ["--target", "churned"],
            ["row 0, field 'churned': the target is missing"],
        ),
        (
            lambda f: f,
            ["--target", "churned", "--task", "multiclass"],
            ["task multiclass needs at least 3 classes"],
        ),
        (
            lambda f: f,
            ["--target", "plan", "--task", "regression"],
            ["a regression target must be a number"],
        ),
    ],
    ids=[
        "no-target",
        "no-feature",
        "no-categorical",
        "one-class",
        "non-numeric",
        "many-bad-rows",
        "empty",
        "too-few",
        "target-missing",
        "wrong-task",
        "text-regression",
    ],
)
def test_invalid_data_exits_3_names_the_problem_and_publishes_nothing(
    make: Any,
    args: list[str],
    expected: list[str],
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    env_bucket: str,
    registry: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path, make(churn_frame.copy()))
    code, out, err = run(capsys, "--data", path, "--model-name", "churn", *args)
    assert code == cli.EXIT_INVALID_DATA, err
    assert out == ""
    assert "invalid training data" in err or "no rows" in err
    for text in expected:
        assert text in err
    assert _published(registry) == []


def test_unreadable_and_missing_files(
    tmp_path: Path, env_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "--data", str(tmp_path / "nope.csv"), "--target", "y", "--model-name", "churn"
    )
    assert code == cli.EXIT_INVALID_DATA and "does not exist" in err
    (tmp_path / "data.json").write_text("{}")
    code, _, err = run(
        capsys, "--data", str(tmp_path / "data.json"), "--target", "y", "--model-name", "churn"
    )
    assert code == cli.EXIT_INVALID_DATA and ".csv" in err
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    code, _, err = run(
        capsys, "--data", str(tmp_path / "broken.parquet"), "--target", "y", "--model-name", "churn"
    )
    assert code == cli.EXIT_INVALID_DATA and "as Parquet" in err


def test_usage_errors_exit_2(
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path, churn_frame)
    monkeypatch.delenv("MODELOPS_BUCKET", raising=False)
    code, _, err = run(capsys, "--data", path, "--target", "churned", "--model-name", "churn")
    assert code == cli.EXIT_USAGE and "MODELOPS_BUCKET is required" in err
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    assert (
        run(capsys, "--data", path, "--target", "churned", "--model-name", "Churn!")[0]
        == cli.EXIT_USAGE
    )
    assert (
        run(capsys, "--data", path, "--model-name", "churn", "--promote", "sometimes")[0]
        == cli.EXIT_USAGE
    )
    assert (
        run(capsys, "--model-name", "churn")[0] == cli.EXIT_USAGE
    )  # neither --data nor --from-feedback
    code, _, err = run(
        capsys, "--data", path, "--target", "churned", "--model-name", "churn", "--metric", "rmse"
    )
    assert code == cli.EXIT_USAGE and "'rmse' does not apply to a binary model" in err
    code, _, err = run(
        capsys,
        "--data",
        path,
        "--target",
        "churned",
        "--model-name",
        "churn",
        "--since",
        "2026-01-01",
    )
    assert code == cli.EXIT_USAGE and "--from-feedback" in err


def test_rejected_promotion_exits_5_but_stays_published(
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    env_bucket: str,
    registry: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path, churn_frame)
    assert (
        run(
            capsys,
            "--data",
            path,
            "--target",
            "churned",
            "--model-name",
            "churn",
            "--estimator",
            "linear",
        )[0]
        == 0
    )
    code, out, err = run(
        capsys,
        "--data",
        path,
        "--target",
        "churned",
        "--model-name",
        "churn",
        "--estimator",
        "linear",
        "--features",
        "age",
        "--promote",
        "auto",
    )
    assert code == cli.EXIT_PROMOTION_REJECTED
    assert json.loads(out)["version"] == 2 and "promotion rejected" in err
    assert registry.list_versions("churn") == [1, 2] and registry.resolve("churn") == 1


def test_parity_failure_exits_4(
    tmp_path: Path, env_bucket: str, registry: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_diabetes

    path = _write(tmp_path, load_diabetes(as_frame=True).frame)
    code, out, err = run(
        capsys,
        "--data",
        path,
        "--target",
        "target",
        "--model-name",
        "diabetes",
        "--parity-tolerance",
        "0",
    )
    assert code == cli.EXIT_PARITY and out == ""
    assert "ONNX parity check failed" in err and "nothing published" in err
    assert _published(registry) == []


def test_module_entry_point_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "5  promotion rejected" in out


@pytest.mark.integration
def test_cli_against_moto_server_through_the_endpoint_variable_only(
    churn_frame: pd.DataFrame,
    on_moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import boto3

    from embedded_aws.provision import create_bucket

    s3 = boto3.client("s3")  # reaches moto's server through AWS_ENDPOINT_URL
    bucket = create_bucket(s3, "modelops-train-integration")
    s3.put_object(
        Bucket=bucket, Key="datasets/churn/train.csv", Body=churn_frame.to_csv(index=False).encode()
    )
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    code, out, err = run(
        capsys,
        "--data",
        f"s3://{bucket}/datasets/churn/train.csv",
        "--target",
        "churned",
        "--model-name",
        "churn",
    )
    assert code == cli.EXIT_OK, err
    assert json.loads(out)["promoted"] is True
    registry = ModelRegistry(bucket, s3_client=s3)
    assert registry.resolve("churn") == 1
    assert registry.history("churn")[0]["version"] == 1


def test_concurrent_promotion_exits_6_and_corrupt_champion_exits_7(
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    env_bucket: str,
    registry: ModelRegistry,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path, churn_frame)
    args = ["--data", path, "--target", "churned", "--model-name", "churn", "--estimator", "linear"]
    assert run(capsys, *args)[0] == cli.EXIT_OK
    real_publish = ModelRegistry.publish

    def publish_while_someone_promotes(self: ModelRegistry, *a: Any, **kw: Any) -> Any:
        published = real_publish(self, *a, **kw)
        self.set_alias(
            "churn",
            "champion",
            1,
            expected=self.get_alias("churn"),
            reason="rollback by an operator",
        )
        return published

    monkeypatch.setattr(ModelRegistry, "publish", publish_while_someone_promotes)
    code, _, err = run(capsys, *args, "--promote", "force")
    assert code == cli.EXIT_STALE_ALIAS and "changed since it was read" in err
    monkeypatch.undo()
    monkeypatch.setenv("MODELOPS_BUCKET", env_bucket)
    assert registry.list_versions("churn") == [1, 2] and registry.resolve("churn") == 1
    # The champion's model.onnx no longer matches its recorded sha256: refuse to compare.
    s3.put_object(Bucket=env_bucket, Key="models/churn/v1/model.onnx", Body=b"tampered")
    code, _, err = run(capsys, *args)
    assert code == cli.EXIT_REGISTRY and "sha256" in err
    assert registry.list_versions("churn") == [1, 2]
