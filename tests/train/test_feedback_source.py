"""--from-feedback: captured inputs joined with feedback labels, read from the bucket's partitions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.churn_data import as_instances, generate_churn
from modelops.registry import ModelRegistry
from modelops_train import cli
from modelops_train.feedback import FeedbackDataSource


def _put_lines(
    s3: Any, bucket: str, key: str, records: list[Any], *, compress: bool = False
) -> None:
    body = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode() + b"\n"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body) if compress else body)


def _capture(inference_id: str, instance: dict[str, Any], when: str) -> dict[str, Any]:
    return {
        "eventVersion": "1",
        "eventMetadata": {
            "eventId": f"e-{inference_id}",
            "inferenceId": inference_id,
            "inferenceTime": when,
            "requestId": "r",
            "source": "api",
        },
        "model": {"name": "churn", "version": 1},
        "input": instance,
        "output": {"label": "no", "probabilities": {"no": 0.6, "yes": 0.4}},
    }


@pytest.fixture
def production_traffic(s3: Any, bucket: str, binary_champion: dict[str, Any]) -> dict[str, int]:
    """300 captured predictions over two hours; 240 of them labeled (some twice), some noise."""
    frame = generate_churn(300, seed=21)
    instances, labels = as_instances(frame), frame["churned"].tolist()
    hours = ["2026/11/26/10", "2026/11/26/11"]
    for part, hour in enumerate(hours):
        rows = range(part * 150, (part + 1) * 150)
        records: list[Any] = [
            _capture(f"id-{i}", instances[i], f"2026-11-26T{10 + part}:05:00Z") for i in rows
        ]
        records.append("{not json")
        _put_lines(
            s3, bucket, f"capture/churn/{hour}/batch-{part}.jsonl.gz", records, compress=part == 1
        )
    feedback = [
        {
            "eventVersion": "1",
            "inferenceId": f"id-{i}",
            "label": labels[i],
            "receivedTime": "2026-11-26T14:00:00Z",
        }
        for i in range(240)
    ]
    # A correction that arrives later wins over the first label.
    feedback.append(
        {
            "eventVersion": "1",
            "inferenceId": "id-0",
            "label": "yes" if labels[0] == "no" else "no",
            "receivedTime": "2026-11-26T15:00:00Z",
        }
    )
    feedback.append(
        {
            "eventVersion": "1",
            "inferenceId": "id-unknown",
            "label": "yes",
            "receivedTime": "2026-11-26T15:00:00Z",
        }
    )
    _put_lines(s3, bucket, "feedback/churn/2026/11/26/14/feedback.jsonl", feedback)
    return {"captured": 300, "labeled": 241, "joined": 240, "malformed": 2}


def test_joins_captures_with_latest_feedback(
    registry: ModelRegistry, production_traffic: dict[str, int]
) -> None:
    data = FeedbackDataSource(registry=registry, model_name="churn").load()
    assert len(data.frame) == production_traffic["joined"]
    assert data.target == "churned" and data.categorical == ("plan", "contract", "payment_method")
    assert list(data.frame.columns) == [*data.features, "churned"]  # type: ignore[misc]
    assert data.details is not None
    assert (
        data.details["captured"],
        data.details["labeled"],
        data.details["malformed_records"],
    ) == (300, 241, 2)
    first_label = generate_churn(300, seed=21)["churned"][0]
    joined_first = data.frame.iloc[0]  # id-0: captures keep their order
    assert joined_first["churned"] != first_label  # the correction won


def test_since_and_until_select_hour_partitions(
    registry: ModelRegistry, production_traffic: dict[str, int]
) -> None:
    from datetime import UTC, datetime

    later = FeedbackDataSource(
        registry=registry, model_name="churn", since=datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    ).load()
    assert later.details is not None and later.details["captured"] == 150
    assert len(later.frame) == 90  # ids 150..239 are labeled
    earlier = FeedbackDataSource(
        registry=registry, model_name="churn", until=datetime(2026, 11, 26, 11, tzinfo=UTC)
    ).load()
    assert len(earlier.frame) == 150


def test_cli_retrains_from_feedback_plus_earlier_data(
    registry: ModelRegistry,
    production_traffic: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    earlier = tmp_path / "earlier.csv"
    generate_churn(400, seed=22).to_csv(earlier, index=False)
    code = cli.main(
        [
            "train",
            "--from-feedback",
            "--model-name",
            "churn",
            "--include-data",
            str(earlier),
            "--promote",
            "never",
        ]
    )
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    result = json.loads(out)
    assert result["version"] == 2 and result["data"]["rows"] == 640
    source = registry.get_metadata("churn", 2)["lineage"]["source"]
    assert (
        source["kind"] == "feedback" and source["joined"] == 240 and source["included_rows"] == 400
    )


def test_nothing_to_train_on_is_invalid_data(
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    code = cli.main(["train", "--from-feedback", "--model-name", "churn"])
    assert code == cli.EXIT_INVALID_DATA
    assert "no captured predictions of 'churn' have feedback labels yet" in capsys.readouterr().err
    assert registry.list_versions("churn") == [1]


def test_needs_a_champion(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    assert cli.main(["train", "--from-feedback", "--model-name", "churn"]) == cli.EXIT_INVALID_DATA
    assert "needs a champion" in capsys.readouterr().err


def test_regression_takes_values_and_counts_labels_as_malformed(
    s3: Any, bucket: str, registry: ModelRegistry, regression_champion: dict[str, Any]
) -> None:
    from tests.models import sample_rows

    instances, truth = sample_rows("regression", 30)
    captures = [
        {
            **_capture(f"r-{i}", row, "2026-11-26T10:00:00Z"),
            "model": {"name": "diabetes", "version": 1},
        }
        for i, row in enumerate(instances)
    ]
    _put_lines(s3, bucket, "capture/diabetes/2026/11/26/10/part.jsonl", captures)
    feedback: list[Any] = [
        {
            "eventVersion": "1",
            "inferenceId": f"r-{i}",
            "value": truth[i],
            "receivedTime": "2026-11-26T12:00:00Z",
        }
        for i in range(25)
    ]
    feedback.append(
        {
            "eventVersion": "1",
            "inferenceId": "r-29",
            "label": "high",
            "receivedTime": "2026-11-26T12:00:00Z",
        }
    )
    _put_lines(s3, bucket, "feedback/diabetes/2026/11/26/12/part.jsonl", feedback)
    data = FeedbackDataSource(registry=registry, model_name="diabetes").load()
    assert data.target == "target" and len(data.frame) == 25
    assert data.frame["target"].tolist() == [float(v) for v in truth[:25]]
    assert data.details is not None and data.details["malformed_records"] == 1
