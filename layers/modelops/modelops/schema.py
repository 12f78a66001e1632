"""The model's input/output schema, shared by training, serving and monitoring.

metadata.json (written by the training job, see docs/REGISTRY.md) carries the schema; this
module is the one place that turns it into types and into the ONNX model's inputs:
one input per feature, named after the feature, shaped [n, 1]; float32 for numeric
features (missing = NaN) and string for categorical ones (missing = MISSING_CATEGORY).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np

# Categorical missing values become this token before the model sees them, in training and
# serving alike, so "missing" is a category the model can learn (unseen ones are ignored).
MISSING_CATEGORY = "__missing__"

METADATA_FORMAT_VERSION = 1


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


class FeatureKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class FeatureSpec:
    """One input of the model. `required`: a request must send a value for it (the training
    job records it per version); an optional feature a row leaves out is imputed (NaN or
    MISSING_CATEGORY) and the response says so. Versions published before the training job
    recorded it read as optional, as they were served then."""

    name: str
    kind: FeatureKind
    required: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "required": self.required}


@dataclass(frozen=True)
class PrimaryMetric:
    name: str
    greater_is_better: bool


@dataclass(frozen=True)
class ModelSchema:
    """What a model version takes and gives: features in ONNX input order, task and classes."""

    features: tuple[FeatureSpec, ...]
    task: Task
    classes: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if not names:
            raise ValueError("a model schema needs at least one feature")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate feature names in schema: {names}")
        if self.task.is_classification and not self.classes:
            raise ValueError(f"a {self.task} model needs its classes")

    # Cached: read on every request (the schema is immutable).
    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def required_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.required)

    @cached_property
    def class_keys(self) -> tuple[str, ...]:
        """The classes as probability keys (class_key), in the classes' order."""
        return tuple(class_key(c) for c in self.classes or ())

    @property
    def by_name(self) -> dict[str, FeatureSpec]:
        return {f.name: f for f in self.features}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> ModelSchema:
        try:
            features = tuple(
                FeatureSpec(
                    name=str(f["name"]),
                    kind=FeatureKind(f["kind"]),
                    required=f.get("required") is True,
                )
                for f in metadata["features"]
            )
            task = Task(metadata["task"])
            classes = metadata.get("classes")
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"metadata has no valid schema: {exc!r}") from exc
        return cls(features=features, task=task, classes=tuple(classes) if classes else None)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "task": self.task.value,
            "classes": list(self.classes) if self.classes is not None else None,
            "features": [f.as_dict() for f in self.features],
        }

    def to_onnx_feeds(
        self, columns: Mapping[str, Sequence[Any] | np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Turn per-feature columns (already validated) into the ONNX model's inputs.

        Numeric: float32 with None/NaN as NaN. Categorical: strings with None/NaN as
        MISSING_CATEGORY. No pandas: this runs on every request.
        """
        feeds: dict[str, np.ndarray] = {}
        for spec in self.features:
            values = columns[spec.name]
            if spec.kind is FeatureKind.NUMERIC:
                arr = np.asarray(
                    [np.nan if v is None else v for v in values]
                    if not isinstance(values, np.ndarray)
                    else values,
                    dtype=np.float32,
                )
            else:
                arr = np.asarray([categorical_token(v) for v in values], dtype=object)
            feeds[spec.name] = arr.reshape(-1, 1)
        return feeds


def categorical_token(value: Any) -> str:
    """The string the model sees for a categorical value (missing becomes MISSING_CATEGORY)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_CATEGORY
    return str(value)


def class_key(label: Any) -> str:
    """Probabilities are keyed by the class as a string (JSON object keys are strings)."""
    return str(label)
