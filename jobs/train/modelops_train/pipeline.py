"""The scikit-learn pipeline the job fits, and its ONNX export.

Inputs arrive as `spec.feature_frame` makes them (numeric float32 with NaN, categorical
strings with MISSING_CATEGORY), the same values serving feeds the ONNX model, so the parity
gate compares like with like.

- "hgb" (default): numeric passthrough (HistGradientBoosting handles NaN natively),
  categorical one-hot with handle_unknown="ignore", HistGradientBoosting{Classifier,Regressor}.
- "linear": numeric median-imputed and standardised, categorical one-hot,
  LogisticRegression or Ridge.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelops.schema import FeatureKind, ModelSchema, Task

ESTIMATORS = ("hgb", "linear")


def build_pipeline(schema: ModelSchema, *, estimator: str = "hgb", seed: int = 0) -> Pipeline:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    numeric = [f.name for f in schema.features if f.kind is FeatureKind.NUMERIC]
    categorical = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
    numeric_step: Any = (
        "passthrough"
        if estimator == "hgb"
        else Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", numeric_step, numeric))
    if categorical:
        transformers.append(
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
                categorical,
            )
        )
    model: Any
    if estimator == "hgb":
        model = (
            HistGradientBoostingRegressor(random_state=seed)
            if schema.task is Task.REGRESSION
            else HistGradientBoostingClassifier(random_state=seed)
        )
    else:
        model = (
            Ridge(alpha=1.0)
            if schema.task is Task.REGRESSION
            else LogisticRegression(max_iter=2000, random_state=seed)
        )
    return Pipeline(
        [("features", ColumnTransformer(transformers, remainder="drop")), ("model", model)]
    )


def align_thresholds_to_float32(pipeline: Pipeline) -> int:
    """Make a fitted HistGradientBoosting model's split thresholds exact in float32.

    scikit-learn splits at float64 midpoints between two training values; the ONNX tree
    ensemble stores thresholds as float32, rounded to nearest. When the rounding goes up, a
    float32 input lying between the two (a holdout price of 53.46 between training prices
    53.45 and 53.47, say) goes left in ONNX and right in scikit-learn, and the parity gate
    fails on that one row. Replacing each threshold t by the largest float32 <= t changes no
    decision for float32 inputs (x <= t  <=>  x <= that float32), which are all the model ever
    sees (spec.feature_frame casts numerics to float32, serving feeds float32), and makes the
    ONNX threshold exact. Returns how many thresholds moved; 0 for other estimators.
    """
    model = pipeline.named_steps["model"]
    predictors = getattr(model, "_predictors", None)
    if predictors is None:
        return 0
    moved = 0
    for per_iteration in predictors:
        for predictor in per_iteration:
            nodes = predictor.nodes
            splits = nodes["is_leaf"] == 0
            thresholds = nodes["num_threshold"][splits]
            nearest = thresholds.astype(np.float32)
            down = np.where(
                nearest.astype(np.float64) > thresholds,
                np.nextafter(nearest, np.float32(-np.inf)),
                nearest,
            ).astype(np.float64)
            moved += int(np.count_nonzero(down != thresholds))
            nodes["num_threshold"][splits] = down
    return moved


def estimator_parameters(pipeline: Pipeline) -> dict[str, Any]:
    """The fitted estimator's parameters, JSON-safe (metadata.json forbids NaN)."""
    model = pipeline.named_steps["model"]
    params: dict[str, Any] = {"class": type(model).__name__}
    for key, value in sorted(model.get_params(deep=False).items()):
        if value is None or isinstance(value, (bool, int, str)):
            params[key] = value
        elif isinstance(value, float):
            params[key] = value if math.isfinite(value) else str(value)
        else:
            params[key] = repr(value)
    return params


def export_onnx(pipeline: Pipeline, schema: ModelSchema) -> bytes:
    """ONNX with one [None, 1] input per feature (float or string) and the outputs
    modelops.inference expects: label + probabilities (no ZipMap), or one value column."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [
        (
            f.name,
            FloatTensorType([None, 1])
            if f.kind is FeatureKind.NUMERIC
            else StringTensorType([None, 1]),
        )
        for f in schema.features
    ]
    options: dict[Any, Any] | None = {"zipmap": False} if schema.task.is_classification else None
    with warnings.catch_warnings():
        # skl2onnx 1.20 passes booleans where onnx wants ints for HistGradientBoosting
        # (harmless with the pinned protobuf<7, see jobs/train/requirements.txt).
        warnings.filterwarnings(
            "ignore", message=".*Expected an int, got a boolean.*", category=DeprecationWarning
        )
        onnx_model = convert_sklearn(pipeline, initial_types=initial_types, options=options)
    _restore_input_names(onnx_model, [f.name for f in schema.features])
    data: bytes = onnx_model.SerializeToString()
    return data


def _restore_input_names(onnx_model: Any, names: list[str]) -> None:
    """skl2onnx turns names like "od280/od315" into identifiers; the contract names each
    input exactly after its feature, so rename the graph inputs (and their uses) back."""
    renames = {
        inp.name: name
        for inp, name in zip(onnx_model.graph.input, names, strict=True)
        if inp.name != name
    }
    if not renames:
        return
    for inp in onnx_model.graph.input:
        inp.name = renames.get(inp.name, inp.name)
    for node in onnx_model.graph.node:
        for i, used in enumerate(node.input):
            if used in renames:
                node.input[i] = renames[used]
