"""Training input that must be refused before anything is published: text in a numeric
column, repeated headers, too few rows or rows per class, numbers beyond float32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelops.registry import ModelRegistry
from modelops.schema import FeatureKind
from modelops_train import cli
from modelops_train.data import read_table
from modelops_train.errors import InvalidTrainingData
from modelops_train.spec import (
    FLOAT32_MAX,
    MIN_ROWS,
    MIN_ROWS_PER_CLASS,
    NUMERIC_MAJORITY,
    resolve_spec,
)


def frame(n: int = 200, *, seed: int, minority: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minority = n // 2 if minority is None else minority
    return pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n).round(2),
            "plan": rng.choice(["basic", "pro"], n),
            "label": ["yes"] * minority + ["no"] * (n - minority),
        }
    )


def problems(exc: pytest.ExceptionInfo[InvalidTrainingData]) -> list[dict[str, Any]]:
    return exc.value.details()


def with_text(data: pd.DataFrame, rows: list[int], column: str = "amount") -> pd.DataFrame:
    out = data.copy()
    out[column] = out[column].astype(object)
    for i in rows:
        out.loc[i, column] = f"n/a-{i}"
    return out


def test_a_numeric_column_with_a_few_text_values_is_an_error_naming_column_and_rows() -> None:
    data = with_text(frame(seed=1), list(range(5, 200, 10)))  # 10 % text
    with pytest.raises(InvalidTrainingData) as exc:
        resolve_spec(data, target="label")
    listed = problems(exc)
    assert listed[0] == {"row": 5, "field": "amount", "problem": "expected a number, got 'n/a-5'"}
    assert [p.get("row") for p in listed[:10]] == list(range(5, 100, 10))
    assert any("declare it with --categorical" in p["problem"] for p in listed)
    assert all(p["field"] == "amount" for p in listed)


def test_declared_categorical_the_same_column_is_accepted() -> None:
    data = with_text(frame(seed=1), list(range(5, 200, 10)))
    spec = resolve_spec(data, target="label", categorical=["plan", "amount"])
    assert {f.name: f.kind for f in spec.features}["amount"] is FeatureKind.CATEGORICAL


def test_the_numeric_majority_boundary() -> None:
    """At NUMERIC_MAJORITY numbers the column is numeric (an error); just below, categorical."""
    n = 200
    at = int(n * NUMERIC_MAJORITY)  # this many numbers, the rest text
    with pytest.raises(InvalidTrainingData):
        resolve_spec(with_text(frame(n, seed=2), list(range(at, n))), target="label")
    below = resolve_spec(with_text(frame(n, seed=2), list(range(at - 1, n))), target="label")
    assert {f.name: f.kind for f in below.features}["amount"] is FeatureKind.CATEGORICAL


def test_repeated_header_names_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text('amount,"a,b",amount,label\n1,2,3,yes\n')
    with pytest.raises(InvalidTrainingData) as exc:
        read_table(str(path))
    assert problems(exc) == [
        {
            "field": "amount",
            "problem": "the column name appears 2 times (columns 1, 3); every column needs its own name",
        }
    ]
    # A quoted name holding a comma is one column, not a repeat.
    fine = tmp_path / "fine.csv"
    fine.write_text('amount,"a,b",label\n1,2,yes\n')
    assert list(read_table(str(fine)).columns) == ["amount", "a,b", "label"]


def test_repeated_headers_in_gzip_csv_from_s3_are_refused_too(s3: Any, bucket: str) -> None:
    import gzip

    body = gzip.compress(b"x,y,x\n1,2,3\n")
    s3.put_object(Bucket=bucket, Key="datasets/d.csv.gz", Body=body)
    with pytest.raises(InvalidTrainingData, match="duplicate column names"):
        read_table(f"s3://{bucket}/datasets/d.csv.gz", s3_client=s3)


def test_minimum_rows_boundary() -> None:
    resolve_spec(frame(MIN_ROWS, seed=3), target="label")
    with pytest.raises(InvalidTrainingData) as exc:
        resolve_spec(frame(MIN_ROWS - 1, seed=3), target="label")
    assert problems(exc) == [
        {
            "problem": f"need at least {MIN_ROWS} rows to train and evaluate, got {MIN_ROWS - 1} (--min-rows)"
        }
    ]
    resolve_spec(frame(30, seed=3), target="label", min_rows=30)


def test_minimum_rows_per_class_boundary() -> None:
    resolve_spec(frame(200, seed=4, minority=MIN_ROWS_PER_CLASS), target="label")
    with pytest.raises(InvalidTrainingData) as exc:
        resolve_spec(frame(200, seed=4, minority=MIN_ROWS_PER_CLASS - 1), target="label")
    assert problems(exc) == [
        {
            "field": "label",
            "problem": f"class 'yes' has only {MIN_ROWS_PER_CLASS - 1} rows; every class needs "
            f"at least {MIN_ROWS_PER_CLASS} (--min-rows-per-class)",
        }
    ]


def test_numbers_beyond_float32_are_caught_in_validation() -> None:
    data = frame(seed=5)
    data.loc[7, "amount"] = 1e300
    data.loc[8, "amount"] = -FLOAT32_MAX * 1.01
    data.loc[9, "amount"] = FLOAT32_MAX  # the largest float32 itself is fine
    with pytest.raises(InvalidTrainingData) as exc:
        resolve_spec(data, target="label")
    assert [(p["row"], p["field"]) for p in problems(exc)] == [(7, "amount"), (8, "amount")]
    assert "float32 range" in problems(exc)[0]["problem"]


def test_a_regression_target_beyond_float32_is_caught() -> None:
    data = frame(seed=6).assign(value=np.linspace(0, 1, 200)).drop(columns="label")
    data.loc[3, "value"] = 1e300
    with pytest.raises(InvalidTrainingData) as exc:
        resolve_spec(data, target="value", task="regression")
    assert [(p["row"], p["field"]) for p in problems(exc)] == [(3, "value")]


def test_the_cli_refuses_1e300_before_reserving_a_version(
    tmp_path: Path,
    bucket: str,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    s3: Any,
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    data = frame(seed=7)
    data.loc[11, "amount"] = 1e300
    path = tmp_path / "big.csv"
    data.to_csv(path, index=False)
    code = cli.main(["train", "--data", str(path), "--target", "label", "--model-name", "churn"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INVALID_DATA, err
    assert "row 11, field 'amount'" in err
    assert s3.list_objects_v2(Bucket=bucket, Prefix="models/").get("KeyCount") == 0


@pytest.mark.parametrize(
    "flags", [["--min-rows", "9"], ["--min-rows-per-class", "1"]], ids=["rows", "per-class"]
)
def test_minimums_below_their_floor_are_usage_errors(
    flags: list[str], bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    path = tmp_path / "d.csv"
    frame(seed=8).to_csv(path, index=False)
    args = ["train", "--data", str(path), "--target", "label", "--model-name", "m", *flags]
    assert cli.main(args) == cli.EXIT_USAGE


def test_a_feature_is_required_unless_the_data_misses_a_value_or_it_is_declared_optional() -> None:
    data = frame(seed=5)
    data["age"] = np.arange(len(data), dtype=float)
    data["city"] = ["a", "b"] * (len(data) // 2)
    data.loc[7, "age"] = np.nan  # one missing value is enough: the model learnt "missing"
    data.loc[3, "plan"] = None
    spec = resolve_spec(data, target="label", optional=["amount"])
    required = {f.name: f.required for f in spec.features}
    assert required == {"amount": False, "plan": False, "age": False, "city": True}
    assert resolve_spec(data, target="label").schema.required_names == ("amount", "city")


def test_an_optional_name_that_is_not_a_feature_is_invalid_data() -> None:
    with pytest.raises(InvalidTrainingData) as caught:
        resolve_spec(frame(seed=6), target="label", features=["amount"], optional=["plan", "x"])
    assert problems(caught) == [
        {"field": "plan", "problem": "optional column is not one of the features"},
        {"field": "x", "problem": "optional column is not one of the features"},
    ]


def classes_target(
    distinct: int, *, seed: int, offset: float = 0.0, text: bool = False
) -> pd.DataFrame:
    """`distinct` target values, MIN_ROWS_PER_CLASS rows each (at least MIN_ROWS rows)."""
    per_class = max(MIN_ROWS_PER_CLASS, -(-MIN_ROWS // distinct))
    values: list[Any] = [
        f"class-{v}" if text else v + offset for v in range(distinct) for _ in range(per_class)
    ]
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": rng.normal(50, 10, len(values)).round(2), "label": values})


@pytest.mark.parametrize(
    ("data", "task"),
    [
        (classes_target(2, seed=21), "binary"),
        (classes_target(3, seed=22), "multiclass"),
        (classes_target(20, seed=23), "multiclass"),  # at most 20 whole numbers: classes
        (classes_target(21, seed=24), "regression"),  # one more: a quantity
        (classes_target(20, seed=25, offset=0.0).astype({"label": float}), "multiclass"),
        (classes_target(3, seed=26, offset=0.5), "regression"),  # not whole numbers
        (classes_target(25, seed=27, text=True), "multiclass"),  # any text target
    ],
    ids=["2", "3", "20", "21", "20-as-floats", "fractions", "25-texts"],
)
def test_the_task_is_inferred_from_the_target_as_documented(data: pd.DataFrame, task: str) -> None:
    """docs/TRAINING.md, `--task`: a numeric target of whole numbers with at most 20 distinct
    values, or any text target, is classification (binary if 2 classes); anything else
    numeric is regression."""
    assert resolve_spec(data, target="label").task.value == task
