"""Real trained models for tests, trained once per test session and published on demand.

    from tests.models import publish_trained, sample_rows
    metadata = publish_trained(registry, "binary")          # churn demo model, now champion
    rows = sample_rows("binary", 5)                          # (instances, true labels)

Kinds: "binary" (demo churn data, 2 000 rows, model name "churn"), "multiclass"
(scikit-learn's load_wine, "wine") and "regression" (load_diabetes, "diabetes"). Training
runs the real job (modelops_train.api.train: fit, ONNX export, parity gate) once per kind;
publishing goes through the job's own publish/promote path into the registry you pass.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_diabetes, load_wine
from threadpoolctl import threadpool_limits

from embedded_aws.churn_data import TARGET as CHURN_TARGET
from embedded_aws.churn_data import generate_churn
from modelops.registry import ModelRegistry
from modelops_train.api import TrainedModel, TrainOptions, train
from modelops_train.api import publish_trained as publish_run
from modelops_train.progress import Progress

KINDS = ("binary", "multiclass", "regression")
MODEL_NAMES = {"binary": "churn", "multiclass": "wine", "regression": "diabetes"}


def training_frame(kind: str) -> tuple[pd.DataFrame, str]:
    """The data set of a kind and its target column."""
    if kind == "binary":
        return generate_churn(2_000, seed=0), CHURN_TARGET
    if kind == "multiclass":
        return load_wine(as_frame=True).frame, "target"
    if kind == "regression":
        return load_diabetes(as_frame=True).frame, "target"
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


# `make mutate` (scripts/mutate.py) trains each model once per shard instead of once per
# mutant: with this variable naming a directory, a model saved there is read back (pickled:
# it is rebuilt from the classes of the code under test), else trained and saved there.
MODEL_CACHE_VARIABLE = "MODELOPS_TEST_MODELS"


@functools.cache
def trained_model(kind: str) -> TrainedModel:
    """The kind's model, trained (and parity-checked) once per session."""
    directory = os.environ.get(MODEL_CACHE_VARIABLE)
    if not directory:
        return train_kind(kind)
    saved = Path(directory) / f"{kind}.pickle"
    if saved.exists():
        loaded: TrainedModel = pickle.loads(saved.read_bytes())
        return loaded
    model = train_kind(kind)
    partial = saved.with_suffix(f".{os.getpid()}")
    partial.write_bytes(pickle.dumps(model))
    partial.replace(saved)
    return model


def train_kind(kind: str) -> TrainedModel:
    """Train (and parity-check) the kind's model."""
    frame, target = training_frame(kind)
    options = TrainOptions(data=frame, target=target, model_name=MODEL_NAMES[kind], seed=0)
    # One thread: HistGradientBoosting's OpenMP pool thrashes on a busy CI machine.
    with threadpool_limits(limits=1):
        return train(options, progress=Progress(io.StringIO()))


def publish_trained(
    registry: ModelRegistry, kind: str, *, promote: bool = True, name: str | None = None
) -> dict[str, Any]:
    """Publish the kind's model as a new version (champion if `promote`); its metadata.json.

    `name` publishes under another model name (e.g. the MODEL_NAME a function test uses).
    """
    trained = trained_model(kind)
    if name is not None and name != trained.model_name:
        trained = dataclasses.replace(trained, model_name=name)
    result = publish_run(
        trained,
        registry=registry,
        promote="force" if promote else "never",
        progress=Progress(io.StringIO()),
    )
    return registry.get_metadata(result.model_name, result.version)


def sample_rows(kind: str, n: int = 5) -> tuple[list[dict[str, Any]], list[Any]]:
    """`n` holdout rows as prediction-API instances (missing = None) and their true targets."""
    trained = trained_model(kind)
    rows = trained.holdout.head(n)
    instances = [
        {name: _json_value(row[name]) for name in trained.schema.feature_names}
        for _, row in rows.iterrows()
    ]
    return instances, [_json_value(v) for v in trained.y_holdout[:n].tolist()]


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
