"""What a client needs to call a model version, read from its metadata.json: the features
with their kinds, allowed categories and whether each is required, the classes, and an
example request built from the training data's baseline (a typical value per feature).

Shared by `make api`'s banner and anything else that shows a caller how to send a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops.schema import FeatureKind, ModelSchema, Task


def typical_value(entry: Mapping[str, Any]) -> Any:
    """A value a row of the training data typically had: the median of the numeric sample
    (an int when every sampled value was whole), the most frequent category."""
    if entry.get("kind") == FeatureKind.CATEGORICAL.value:
        shares: Mapping[str, float] = entry.get("category_shares") or {}
        return max(shares, key=lambda c: shares[c]) if shares else None
    sample = entry.get("sample") or []
    if not sample:
        return entry.get("mean")
    median = float(sorted(sample)[len(sample) // 2])
    if all(float(v).is_integer() for v in sample):
        return int(median)
    return round(median, 4)


def example_row(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """One complete row: every feature of the schema with a typical value."""
    schema = ModelSchema.from_metadata(metadata)
    baseline = metadata.get("baseline", {}).get("features", {})
    return {
        f.name: typical_value(baseline.get(f.name, {"kind": f.kind.value})) for f in schema.features
    }


def example_label(metadata: Mapping[str, Any]) -> Any:
    """A label a feedback request could send: the most frequent class or the typical value."""
    schema = ModelSchema.from_metadata(metadata)
    prediction = metadata.get("baseline", {}).get("prediction", {})
    value = typical_value(prediction) if prediction else None
    if schema.task is Task.REGRESSION:
        return value if value is not None else 0.0
    classes = list(schema.classes or [])
    return next((c for c in classes if str(c) == str(value)), classes[0])


def describe(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The model card: task, classes, features (kind, categories, required) and an example."""
    schema = ModelSchema.from_metadata(metadata)
    baseline = metadata.get("baseline", {}).get("features", {})
    features = []
    for f in schema.features:
        entry: dict[str, Any] = {
            "name": f.name,
            "kind": f.kind.value,
            # As serving enforces it (modelops.schema.FeatureSpec.required).
            "required": f.required,
        }
        if f.kind is FeatureKind.CATEGORICAL:
            entry["categories"] = sorted(baseline.get(f.name, {}).get("category_shares", {}))
        features.append(entry)
    return {
        "task": schema.task.value,
        "classes": list(schema.classes) if schema.classes is not None else None,
        "features": features,
        "example_request": {"instances": [example_row(metadata)], "inference_ids": ["example-1"]},
    }
