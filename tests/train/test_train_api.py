"""train_and_publish end to end on moto: tasks, metadata, parity gate, promotion gate."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from modelops.errors import ConfigurationError, StaleAliasError
from modelops.inference import OnnxModel
from modelops.registry import ModelRegistry
from modelops.schema import MISSING_CATEGORY, ModelSchema
from modelops_train import api
from modelops_train.api import TrainOptions, train_and_publish
from modelops_train.errors import ParityError, UsageError
from modelops_train.progress import Progress


def _objects(registry: ModelRegistry, name: str) -> list[str]:
    listed = registry._s3.list_objects_v2(Bucket=registry.bucket, Prefix=f"models/{name}/")
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.parametrize(
    ("loader", "task", "primary", "estimator"),
    [
        (load_breast_cancer, "binary", "roc_auc", "hgb"),
        (load_wine, "multiclass", "f1_macro", "hgb"),
        (load_diabetes, "regression", "rmse", "hgb"),
        (load_breast_cancer, "binary", "roc_auc", "linear"),
        (load_wine, "multiclass", "f1_macro", "linear"),
        (load_diabetes, "regression", "rmse", "linear"),
    ],
)
def test_sklearn_datasets_train_publish_and_serve(
    loader: Any, task: str, primary: str, estimator: str, registry: ModelRegistry, quiet: Progress
) -> None:
    frame = loader(as_frame=True).frame
    result = train_and_publish(
        TrainOptions(data=frame, target="target", model_name="toy", estimator=estimator),
        registry=registry,
        progress=quiet,
    )
    assert (result.version, result.promoted) == (1, True)
    metadata = registry.get_metadata("toy", 1)
    assert metadata["task"] == task
    assert metadata["primary_metric"]["name"] == primary
    assert metadata["metrics"] == result.metrics
    parity = metadata["parity"]
    assert (
        parity["passed"] and parity["rows_over_tolerance"] == 0 and parity["label_mismatches"] == 0
    )
    assert parity["rows"] == metadata["lineage"]["holdout_rows"] and parity["synthetic_rows"] > 0
    # The published model is what serving would load, and it is a real, useful model.
    model = OnnxModel(
        registry.get_model_bytes("toy", 1, expected_sha256=metadata["model_file"]["sha256"]),
        ModelSchema.from_metadata(metadata),
    )
    assert [i.name for i in model.session.get_inputs()] == [
        c for c in frame.columns if c != "target"
    ]
    if task == "regression":
        assert result.metrics["r2"] > 0.1
    else:
        assert metadata["classes"] == sorted(set(frame["target"].tolist()))
        assert result.metrics["accuracy"] > 0.85


def test_metadata_carries_everything_the_stack_needs(
    churn_frame: pd.DataFrame, registry: ModelRegistry, quiet: Progress
) -> None:
    result = train_and_publish(
        TrainOptions(data=churn_frame, target="churned", model_name="churn", seed=5),
        registry=registry,
        progress=quiet,
    )
    metadata = registry.get_metadata("churn", result.version)
    json.dumps(metadata, allow_nan=False)  # no NaN anywhere
    assert metadata["classes"] == ["no", "yes"]
    kinds = {f["name"]: f["kind"] for f in metadata["features"]}
    assert kinds["plan"] == "categorical" and kinds["tenure_months"] == "numeric"
    assert metadata["target"] == "churned"
    lineage = metadata["lineage"]
    assert (lineage["rows"], lineage["train_rows"] + lineage["holdout_rows"], lineage["seed"]) == (
        800,
        800,
        5,
    )
    assert len(lineage["data_sha256"]) == 64
    assert metadata["libraries"]["scikit-learn"] and metadata["libraries"]["onnxruntime"]
    assert metadata["parameters"]["model"]["class"] == "HistGradientBoostingClassifier"
    assert set(metadata["training"]["phase_seconds"]) >= {
        "load",
        "validate",
        "fit",
        "evaluate",
        "export",
        "parity",
    }
    baseline = metadata["baseline"]
    assert baseline["rows"] == lineage["train_rows"]
    assert baseline["features"]["total_charges"]["missing_share"] > 0
    assert set(baseline["features"]["plan"]["category_shares"]) == {"basic", "standard", "premium"}
    assert MISSING_CATEGORY not in baseline["features"]["payment_method"]["category_shares"]
    assert set(baseline["prediction"]["category_shares"]) <= {"no", "yes"}
    assert baseline["performance"] == result.metrics
    assert metadata["promotion_decision"]["promote"] is True


def test_same_data_and_seed_give_the_same_model(churn_frame: pd.DataFrame, quiet: Progress) -> None:
    options = TrainOptions(data=churn_frame, target="churned", model_name="churn", seed=1)
    first, second = api.train(options, progress=quiet), api.train(options, progress=quiet)
    assert first.metrics == second.metrics
    assert first.holdout.index.equals(second.holdout.index)
    other = api.train(
        TrainOptions(data=churn_frame, target="churned", model_name="churn", seed=2), progress=quiet
    )
    assert not other.holdout.index.equals(first.holdout.index)


def test_injected_parity_failure_publishes_nothing(
    churn_frame: pd.DataFrame,
    registry: ModelRegistry,
    quiet: Progress,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_export = api.export_onnx

    def export_a_different_model(pipeline: Any, schema: ModelSchema) -> bytes:
        # An exporter bug, simulated: the ONNX model comes from a pipeline fit on other labels.
        other = api.build_pipeline(schema, seed=0)
        x = api.feature_frame(churn_frame, schema)
        other.fit(x, np.where(churn_frame["tenure_months"] > 20, "yes", "no"))
        return real_export(other, schema)

    monkeypatch.setattr(api, "export_onnx", export_a_different_model)
    with pytest.raises(ParityError, match=r"label mismatches; nothing published") as info:
        train_and_publish(
            TrainOptions(data=churn_frame, target="churned", model_name="churn"),
            registry=registry,
            progress=quiet,
        )
    assert "max abs difference" in str(info.value)
    assert _objects(registry, "churn") == []


def test_zero_parity_tolerance_fails_on_float32_rounding(
    registry: ModelRegistry, quiet: Progress
) -> None:
    frame = load_diabetes(as_frame=True).frame
    with pytest.raises(ParityError, match=r"tolerance 0\)"):
        train_and_publish(
            TrainOptions(data=frame, target="target", model_name="diabetes", parity_tolerance=0.0),
            registry=registry,
            progress=quiet,
        )
    assert registry.list_versions("diabetes") == []


def test_promotion_gate_auto_force_never(
    churn_frame: pd.DataFrame, registry: ModelRegistry, quiet: Progress
) -> None:
    def run(**kwargs: Any) -> api.TrainResult:
        kwargs.setdefault("promote", "auto")
        options = TrainOptions(
            data=churn_frame, target="churned", model_name="churn", estimator="linear", **kwargs
        )
        return train_and_publish(options, registry=registry, progress=quiet)

    first = run()
    assert (first.version, first.promoted, first.promotion_rejected) == (1, True, False)
    assert "first version" in first.promotion.reason
    # A model on one uninformative feature loses to the champion on the same holdout.
    weak = run(features=["age"])
    assert (weak.version, weak.promoted, weak.promotion_rejected) == (2, False, True)
    assert "worse than the champion" in weak.promotion.reason
    assert (
        weak.promotion.champion_score is not None
        and weak.promotion.champion_score > weak.metrics["roc_auc"]
    )
    assert registry.resolve("churn") == 1
    assert registry.list_versions("churn") == [1, 2]  # stays published, not champion
    assert registry.get_metadata("churn", 2)["promotion_decision"]["promote"] is False
    # A big enough tolerance lets it through; force and never do what they say.
    tolerant = run(features=["age"], promotion_tolerance=1.0)
    assert tolerant.promoted and registry.resolve("churn") == 3
    never = run(promote="never")
    assert (never.promoted, never.promotion_rejected, registry.resolve("churn")) == (
        False,
        False,
        3,
    )
    forced = run(features=["age"], promote="force", seed=9)
    assert forced.promoted and registry.resolve("churn") == 5
    history = registry.history("churn", "champion")
    assert [h["version"] for h in history] == [1, 3, 5]
    assert history[1]["previous_version"] == 1 and "tolerance 1" in history[1]["reason"]


def test_champion_changed_meanwhile_is_a_stale_alias(
    churn_frame: pd.DataFrame,
    registry: ModelRegistry,
    quiet: Progress,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train_and_publish(
        TrainOptions(data=churn_frame, target="churned", model_name="churn"),
        registry=registry,
        progress=quiet,
    )
    real_publish = registry.publish

    def publish_then_someone_else_promotes(*args: Any, **kwargs: Any) -> Any:
        published = real_publish(*args, **kwargs)
        # Another operator promotes the new version first, by CAS, while this job is between
        # reading the champion and swapping it.
        registry.set_alias(
            "churn",
            "champion",
            published.version,
            expected=registry.get_alias("churn"),
            reason="manual",
        )
        return published

    monkeypatch.setattr(registry, "publish", publish_then_someone_else_promotes)
    with pytest.raises(StaleAliasError, match="changed since it was read"):
        train_and_publish(
            TrainOptions(data=churn_frame, target="churned", model_name="churn", promote="force"),
            registry=registry,
            progress=quiet,
        )
    assert [h["reason"] for h in registry.history("churn", "champion")] == [
        "first version of the model: no champion yet",
        "manual",
    ]


def test_progress_reports_every_phase(
    churn_frame: pd.DataFrame, registry: ModelRegistry, quiet: Progress
) -> None:
    train_and_publish(
        TrainOptions(data=churn_frame, target="churned", model_name="churn"),
        registry=registry,
        progress=quiet,
    )
    text = quiet._stream.getvalue()  # type: ignore[union-attr]
    for phase in ("load", "validate", "fit", "evaluate", "export", "parity", "publish", "promote"):
        assert f"modelops train: {phase}: done in " in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_name": "Bad Name"}, "model name 'Bad Name' is invalid"),
        ({"task": "ranking"}, "task must be one of"),
        ({"promote": "maybe"}, "promote must be one of"),
        ({"estimator": "xgboost"}, "estimator must be one of"),
        ({"holdout_fraction": 0.9}, "holdout fraction"),
        ({"primary_metric": "precision"}, "unknown metric 'precision'"),
    ],
)
def test_bad_options_fail_before_reading_data(
    change: dict[str, Any], message: str, quiet: Progress
) -> None:
    options = TrainOptions(
        **{"data": "/nonexistent.csv", "target": "y", "model_name": "churn", **change}
    )
    with pytest.raises((UsageError, ConfigurationError), match=message):
        api.train(options, progress=quiet)
    assert quiet._stream.getvalue() == ""  # type: ignore[union-attr]  # not even the load phase started


def test_data_fingerprint_is_the_content_not_the_file_format(
    churn_frame: pd.DataFrame, tmp_path: Any, quiet: Progress
) -> None:
    churn_frame.to_csv(tmp_path / "d.csv", index=False)
    churn_frame.to_parquet(tmp_path / "d.parquet")

    def sha(data: Any) -> str:
        options = TrainOptions(data=data, target="churned", model_name="churn", estimator="linear")
        return str(api.train(options, progress=quiet).metadata["lineage"]["data_sha256"])

    from_csv = sha(str(tmp_path / "d.csv"))
    assert from_csv == sha(str(tmp_path / "d.parquet"))
    changed = churn_frame.copy()
    changed.loc[0, "age"] = 99.0
    assert sha(changed) != from_csv


def test_onnx_interface_is_the_serving_contract(churn_frame: pd.DataFrame, quiet: Progress) -> None:
    import onnx

    trained = api.train(
        TrainOptions(data=churn_frame, target="churned", model_name="churn"), progress=quiet
    )
    graph = onnx.load_from_string(trained.onnx_bytes).graph
    kinds = {f.name: f.kind.value for f in trained.schema.features}
    element = {"numeric": onnx.TensorProto.FLOAT, "categorical": onnx.TensorProto.STRING}
    assert [i.name for i in graph.input] == list(trained.schema.feature_names)
    for tensor in graph.input:
        assert tensor.type.tensor_type.elem_type == element[kinds[tensor.name]]
        dims = tensor.type.tensor_type.shape.dim
        assert (dims[0].dim_value, dims[1].dim_value) == (0, 1)  # [None, 1]
    assert [o.name for o in graph.output] == ["label", "probabilities"]
    assert "ZipMap" not in {node.op_type for node in graph.node}
