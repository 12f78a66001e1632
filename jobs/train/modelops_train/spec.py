"""The dataset spec (target, task, features and their kinds) and validation before training.

`resolve_spec` infers what the flags leave out and checks the data against it, collecting
every problem (missing columns, a one-class target, non-numeric values in numeric columns,
empty data, ...) into one InvalidTrainingData, so a user fixes them all in one go.
`feature_frame` then turns raw columns into what the model sees, the same way serving does:
numeric float32 (missing = NaN), categorical strings (missing = MISSING_CATEGORY).
Rows in messages are 0-based data rows (the header is not a row).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelops.errors import Problem
from modelops.schema import (
    MISSING_CATEGORY,
    FeatureKind,
    FeatureSpec,
    ModelSchema,
    Task,
    categorical_token,
)
from modelops_train.errors import InvalidTrainingData

# An integer target with at most this many distinct values is read as class labels.
MAX_INFERRED_CLASSES = 20
# A text column is numeric with bad values when at least this share of it parses as numbers
# (a few typos or "n/a" in a numeric column is an error, not a silently categorical column).
NUMERIC_MAJORITY = 0.5
# Defaults of --min-rows and --min-rows-per-class: below them a holdout of 20 % cannot tell
# a model from a coin (25 rows once made a champion with ROC AUC 0.5).
MIN_ROWS = 100
MIN_ROWS_PER_CLASS = 10
# The least either flag may be: stratified splitting needs every class on both sides.
MIN_ROWS_FLOOR, MIN_ROWS_PER_CLASS_FLOOR = 10, 2
# Numeric inputs reach the model as float32 (serving feeds float32 too): larger magnitudes
# would become infinity, and metrics and baselines would not be JSON.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Row problems listed per column before summarising the rest.
MAX_ROWS_REPORTED = 10


@dataclass(frozen=True)
class DatasetSpec:
    target: str
    task: Task
    features: tuple[FeatureSpec, ...]
    classes: tuple[Any, ...] | None

    @property
    def schema(self) -> ModelSchema:
        return ModelSchema(features=self.features, task=self.task, classes=self.classes)


def resolve_spec(
    frame: pd.DataFrame,
    *,
    target: str | None,
    task: Task | str | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    optional: Sequence[str] | None = None,
    min_rows: int = MIN_ROWS,
    min_rows_per_class: int = MIN_ROWS_PER_CLASS,
) -> DatasetSpec:
    """Infer and validate the spec; raise InvalidTrainingData listing every problem."""
    problems: list[Problem] = []
    if target is None or not str(target).strip():
        raise InvalidTrainingData(
            "no target column given", [Problem("say which column to predict (--target)")]
        )
    if task is not None:
        try:
            task = Task(task)
        except ValueError:
            raise InvalidTrainingData(
                f"unknown task {task!r}",
                [Problem(f"task must be one of {', '.join(t.value for t in Task)}")],
            ) from None
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    for name in duplicated:
        problems.append(Problem("the column appears more than once", field=name))
    if len(frame) == 0:
        problems.append(Problem("the data has no rows"))
    if target not in columns:
        problems.append(Problem("target column is missing from the data", field=target))
    feature_names = list(features) if features is not None else [c for c in columns if c != target]
    for name in feature_names:
        if name not in columns:
            problems.append(Problem("feature column is missing from the data", field=name))
    if target in feature_names:
        problems.append(Problem("the target cannot also be a feature", field=target))
    for name in categorical or ():
        if name not in feature_names:
            problems.append(Problem("categorical column is not one of the features", field=name))
    for name in optional or ():
        if name not in feature_names:
            problems.append(Problem("optional column is not one of the features", field=name))
    if not feature_names:
        problems.append(Problem("there are no feature columns"))
    if problems or len(frame) == 0:
        raise _invalid(problems)

    specs = tuple(
        _feature_spec(frame, name, categorical, problems, optional=name in (optional or ()))
        for name in feature_names
    )
    resolved_task, classes = _target(frame[target], target, task, problems, min_rows_per_class)
    if len(frame) < min_rows:
        problems.append(
            Problem(
                f"need at least {min_rows} rows to train and evaluate, got {len(frame)} "
                "(--min-rows)"
            )
        )
    if problems:
        raise _invalid(problems)
    return DatasetSpec(target=target, task=resolved_task, features=specs, classes=classes)


def _invalid(problems: list[Problem]) -> InvalidTrainingData:
    n = len(problems)
    return InvalidTrainingData(
        f"invalid training data: {n} problem{'s' if n != 1 else ''}", problems
    )


def _feature_spec(
    frame: pd.DataFrame,
    name: str,
    categorical: Sequence[str] | None,
    problems: list[Problem],
    *,
    optional: bool = False,
) -> FeatureSpec:
    """The feature's kind, and whether requests must send it: required unless declared
    optional or the training data itself had missing values (then the model learnt them)."""
    column = frame[name]
    if categorical is not None:
        kind = FeatureKind.CATEGORICAL if name in categorical else FeatureKind.NUMERIC
    elif pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        # Text columns are categorical unless nearly all of their values are numbers:
        # then it is a numeric column with a few bad values, which is worth an error.
        # Parse each distinct value once: text columns are mostly a few categories.
        counts = column.value_counts(dropna=True)
        parses = (
            pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").notna().to_numpy()
        )
        total = int(counts.sum())
        looks_numeric = (
            total > 0
            and counts.to_numpy()[parses].sum() / total >= NUMERIC_MAJORITY
            and not pd.api.types.is_bool_dtype(column)
        )
        kind = FeatureKind.NUMERIC if looks_numeric else FeatureKind.CATEGORICAL
    else:
        kind = FeatureKind.NUMERIC
    if kind is FeatureKind.NUMERIC:
        _check_numeric(column, name, problems)
    elif column.isna().all():
        problems.append(Problem("the categorical column has no values at all", field=name))
    required = not optional and not bool(column.isna().any())
    return FeatureSpec(name=name, kind=kind, required=required)


def _check_numeric(column: pd.Series, name: str, problems: list[Problem]) -> None:
    values = numeric_values(column)
    bad = np.flatnonzero(np.isnan(values) & column.notna().to_numpy())
    _report_rows(problems, name, bad, lambda i: f"expected a number, got {column.iloc[i]!r}")
    if bad.size:
        problems.append(
            Problem(
                f"{bad.size} of {int(column.notna().sum())} values are not numbers; "
                "if the column is categorical, declare it with --categorical",
                field=name,
            )
        )
    _check_finite(values, name, problems)
    if not bad.size and np.isnan(values).all():
        problems.append(Problem("the numeric column has no values at all", field=name))


def _check_finite(values: np.ndarray, name: str, problems: list[Problem]) -> None:
    infinite = np.flatnonzero(np.isinf(values))
    _report_rows(
        problems,
        name,
        infinite,
        lambda i: "infinite values are not allowed (use an empty cell for missing)",
    )
    with np.errstate(invalid="ignore"):
        huge = np.flatnonzero(np.isfinite(values) & (np.abs(values) > FLOAT32_MAX))
    _report_rows(
        problems,
        name,
        huge,
        lambda i: f"{values[i]:g} is beyond the model's float32 range (at most ±{FLOAT32_MAX:.3g})",
    )


def _report_rows(problems: list[Problem], name: str, rows: np.ndarray, describe: Any) -> None:
    for i in rows[:MAX_ROWS_REPORTED]:
        problems.append(Problem(describe(int(i)), row=int(i), field=name))
    if rows.size > MAX_ROWS_REPORTED:
        problems.append(
            Problem(f"and {rows.size - MAX_ROWS_REPORTED} more rows like these", field=name)
        )


def numeric_values(column: pd.Series) -> np.ndarray:
    """float64 values of a column; anything that is not a number becomes NaN."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _target(
    column: pd.Series,
    name: str,
    task: Task | None,
    problems: list[Problem],
    min_rows_per_class: int = MIN_ROWS_PER_CLASS,
) -> tuple[Task, tuple[Any, ...] | None]:
    missing = np.flatnonzero(column.isna().to_numpy())
    _report_rows(problems, name, missing, lambda i: "the target is missing")
    present = column.dropna()
    is_numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if task is None:
        task = _infer_task(present, is_numeric)
    if task is Task.REGRESSION:
        if not is_numeric:
            values = pd.to_numeric(present, errors="coerce")
            bad = present.index[values.isna().to_numpy()]
            positions = np.flatnonzero(column.index.isin(bad))
            _report_rows(
                problems,
                name,
                positions,
                lambda i: f"a regression target must be a number, got {column.iloc[i]!r}",
            )
        _check_finite(numeric_values(column), name, problems)
        if is_numeric and present.nunique() < 2:
            problems.append(
                Problem(
                    "the regression target has a single value; there is nothing to learn",
                    field=name,
                )
            )
        return task, None
    labels = _class_labels(present, name, problems)
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        shown = repr(classes[0]) if classes else "none"
        problems.append(
            Problem(
                f"the target has one class ({shown}); a classifier needs at least two", field=name
            )
        )
    elif task is Task.BINARY and len(classes) != 2:
        problems.append(
            Problem(
                f"task binary needs exactly 2 classes, the target has {len(classes)}: {list(classes)[:10]}",
                field=name,
            )
        )
    elif task is Task.MULTICLASS and len(classes) < 3:
        problems.append(
            Problem(
                f"task multiclass needs at least 3 classes, the target has {len(classes)} (use binary)",
                field=name,
            )
        )
    counts = pd.Series(labels).value_counts()
    for label, count in counts[counts < min_rows_per_class].items():
        problems.append(
            Problem(
                f"class {label!r} has only {count} row{'s' if count != 1 else ''}; every class "
                f"needs at least {min_rows_per_class} (--min-rows-per-class)",
                field=name,
            )
        )
    return task, classes


def _infer_task(present: pd.Series, is_numeric: bool) -> Task:
    n_unique = present.nunique()
    if is_numeric:
        values = present.to_numpy(dtype=np.float64)
        integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
        if not (integral and n_unique <= MAX_INFERRED_CLASSES):
            return Task.REGRESSION
    return Task.BINARY if n_unique <= 2 else Task.MULTICLASS


def _class_labels(present: pd.Series, name: str, problems: list[Problem]) -> list[Any]:
    """Class labels as JSON-friendly Python values: str, or int for integral numbers."""
    if pd.api.types.is_bool_dtype(present):
        return [str(v) for v in present.tolist()]
    if pd.api.types.is_numeric_dtype(present):
        values = present.to_numpy(dtype=np.float64)
        if not np.all(values == np.round(values)):
            problems.append(
                Problem(
                    "class labels must be strings or whole numbers, got fractional numbers",
                    field=name,
                )
            )
            return [str(v) for v in present.tolist()]
        return [int(v) for v in values]
    return [str(v) for v in present.tolist()]


def target_values(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """The target as the model learns it: float64 (regression) or the class labels."""
    column = frame[spec.target]
    if spec.task is Task.REGRESSION:
        return numeric_values(column)
    labels = _class_labels(column, spec.target, [])
    # scikit-learn needs integer classes as an integer array ("unknown" label type otherwise).
    if all(isinstance(v, int) for v in labels):
        return np.asarray(labels, dtype=np.int64)
    return np.asarray(labels, dtype=object)


def feature_frame(frame: pd.DataFrame, schema: ModelSchema) -> pd.DataFrame:
    """The model's input columns, converted exactly as serving's ModelSchema.to_onnx_feeds does."""
    out: dict[str, Any] = {}
    for spec in schema.features:
        column = frame[spec.name]
        if spec.kind is FeatureKind.NUMERIC:
            out[spec.name] = numeric_values(column).astype(np.float32)
        elif isinstance(column.dtype, pd.StringDtype):
            # Text only (the common case): the token is the text, missing is MISSING_CATEGORY.
            out[spec.name] = (
                column.astype(object).where(column.notna(), MISSING_CATEGORY).to_numpy(dtype=object)
            )
        else:
            out[spec.name] = np.asarray(
                [categorical_token(_plain(v)) for v in column.tolist()], dtype=object
            )
    return pd.DataFrame(out, index=frame.index)


def _plain(value: Any) -> Any:
    # A categorical code read from CSV as 3.0 (the column had gaps) means the category "3",
    # as a client would send it in JSON.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fingerprint(features: pd.DataFrame, target: np.ndarray) -> str:
    """sha256 of the data as the model learns it (feature_frame's columns and the target), so
    the same rows give the same fingerprint whether they came from CSV or Parquet."""
    digest = hashlib.sha256()
    columns = {**{name: features[name] for name in features.columns}, "\0target": pd.Series(target)}
    for name, column in columns.items():
        digest.update(name.encode() + b"\0")
        digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return digest.hexdigest()
