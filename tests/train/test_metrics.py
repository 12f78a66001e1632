"""modelops.metrics against scikit-learn's definitions, on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from modelops import metrics
from modelops.schema import Task


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def test_regression_metrics_match_sklearn(rng: np.random.Generator) -> None:
    y = rng.normal(100, 20, 300)
    pred = y + rng.normal(0, 10, 300)
    assert metrics.mean_absolute_error(y, pred) == pytest.approx(sk.mean_absolute_error(y, pred))
    assert metrics.mean_squared_error(y, pred) == pytest.approx(sk.mean_squared_error(y, pred))
    assert metrics.root_mean_squared_error(y, pred) == pytest.approx(
        sk.root_mean_squared_error(y, pred)
    )
    assert metrics.r2_score(y, pred) == pytest.approx(sk.r2_score(y, pred))


def test_r2_of_constant_truth_is_finite() -> None:
    assert metrics.r2_score([3.0, 3.0], [3.0, 3.0]) == 1.0
    assert metrics.r2_score([3.0, 3.0], [2.0, 4.0]) == 0.0
    assert metrics.r2_score([3.0, 3.0], [2.0, 4.0]) == sk.r2_score([3.0, 3.0], [2.0, 4.0])


def test_binary_metrics_match_sklearn(rng: np.random.Generator) -> None:
    classes = ["no", "yes"]
    y = rng.choice(classes, 400)
    p_yes = np.clip((y == "yes") * 0.3 + rng.random(400) * 0.7, 0, 1)
    # Ties in the scores, which ROC AUC must count half.
    p_yes[:50] = 0.5
    proba = np.column_stack([1 - p_yes, p_yes])
    labels = np.where(p_yes >= 0.5, "yes", "no")
    assert metrics.accuracy_score(y, labels) == pytest.approx(sk.accuracy_score(y, labels))
    assert metrics.f1_score(y, labels, pos_label="yes") == pytest.approx(
        sk.f1_score(y, labels, pos_label="yes")
    )
    assert metrics.roc_auc_score(y, p_yes, pos_label="yes") == pytest.approx(
        sk.roc_auc_score(y == "yes", p_yes)
    )
    assert metrics.log_loss(y, proba, classes=classes) == pytest.approx(
        sk.log_loss(y, proba, labels=classes)
    )
    assert metrics.brier_score_loss(y, proba, classes=classes) == pytest.approx(
        sk.brier_score_loss(y, p_yes, pos_label="yes")
    )


def test_multiclass_metrics_match_sklearn(rng: np.random.Generator) -> None:
    classes = [0, 1, 2]
    y = rng.integers(0, 3, 300)
    raw = rng.random((300, 3)) + np.eye(3)[y] * 0.8
    proba = raw / raw.sum(axis=1, keepdims=True)
    labels = proba.argmax(axis=1)
    assert metrics.f1_score(y, labels, average="macro") == pytest.approx(
        sk.f1_score(y, labels, average="macro")
    )
    assert metrics.log_loss(y, proba, classes=classes) == pytest.approx(
        sk.log_loss(y, proba, labels=classes)
    )
    assert metrics.brier_score_loss(y, proba, classes=classes) == pytest.approx(
        sk.brier_score_loss(y, proba, labels=classes)
    )


def test_compute_metrics_per_task(rng: np.random.Generator) -> None:
    y = rng.choice(["a", "b"], 50)
    proba = rng.dirichlet([1, 1], 50)
    got = metrics.compute_metrics("binary", y, labels=y, probabilities=proba, classes=["a", "b"])
    assert set(got) == {"accuracy", "f1", "roc_auc", "log_loss", "brier_score"}
    assert got["accuracy"] == 1.0
    multi = metrics.compute_metrics(Task.MULTICLASS, [0, 1, 2], labels=[0, 1, 1], classes=[0, 1, 2])
    assert set(multi) == {"accuracy", "f1_macro"}
    assert multi["f1_macro"] == pytest.approx(sk.f1_score([0, 1, 2], [0, 1, 1], average="macro"))
    reg = metrics.compute_metrics("regression", [1.0, 2.0, 3.0], values=[1.0, 2.0, 4.0])
    assert set(reg) == {"rmse", "mae", "r2"}


def test_labels_compare_as_strings_like_json_feedback() -> None:
    # Feedback may carry "1" for the integer class 1.
    assert metrics.accuracy_score(["1", "0"], [1, 0]) == 1.0


def test_roc_auc_left_out_when_truth_has_one_class() -> None:
    got = metrics.compute_metrics(
        "binary",
        ["yes", "yes"],
        labels=["yes", "no"],
        probabilities=[[0.2, 0.8], [0.6, 0.4]],
        classes=["no", "yes"],
    )
    assert "roc_auc" not in got
    assert all(np.isfinite(v) for v in got.values())
    with pytest.raises(ValueError, match="one class"):
        metrics.roc_auc_score(["yes", "yes"], [0.1, 0.2], pos_label="yes")


def test_one_validator_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        metrics.accuracy_score([], [])
    with pytest.raises(ValueError, match="3 samples but y_pred has 2"):
        metrics.mean_absolute_error([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.r2_score([1.0, 2.0], [np.nan, 1.0])
    with pytest.raises(ValueError, match="2 classes"):
        metrics.log_loss(["a"], [[0.1, 0.2, 0.7]], classes=["a", "b"])


def test_primary_metric_and_direction() -> None:
    assert metrics.primary_metric("binary").name == "roc_auc"
    assert metrics.primary_metric(Task.MULTICLASS).name == "f1_macro"
    rmse = metrics.primary_metric("regression")
    assert (rmse.name, rmse.greater_is_better) == ("rmse", False)
    assert metrics.is_better_or_equal(rmse, 10.0, 9.5, tolerance=0.5)
    assert not metrics.is_better_or_equal(rmse, 10.0, 9.0, tolerance=0.5)
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.metric_direction("precision")


def test_module_imports_no_sklearn_or_scipy() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(metrics.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"sklearn", "scipy", "pandas"}}
