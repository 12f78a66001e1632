"""The shared trained-model fixtures publish real, loadable champions."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.inference import OnnxModel
from modelops.registry import ModelRegistry
from modelops.schema import ModelSchema
from tests.models import sample_rows


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("binary_champion", "binary"),
        ("multiclass_champion", "multiclass"),
        ("regression_champion", "regression"),
    ],
)
def test_champion_fixture_serves_its_holdout_rows(
    fixture: str, kind: str, registry: ModelRegistry, request: pytest.FixtureRequest
) -> None:
    metadata: dict[str, Any] = request.getfixturevalue(fixture)
    name, version = metadata["name"], metadata["version"]
    assert registry.resolve(name) == version
    model = OnnxModel(
        registry.get_model_bytes(name, version, expected_sha256=metadata["model_file"]["sha256"]),
        ModelSchema.from_metadata(metadata),
    )
    instances, truth = sample_rows(kind, 20)
    columns = {f: [row[f] for row in instances] for f in model.schema.feature_names}
    predictions = model.predict_columns(columns)
    assert len(predictions) == 20
    if model.schema.task.is_classification:
        assert predictions.labels is not None
        assert set(predictions.labels.tolist()) <= set(metadata["classes"])
        # A real model, not a constant: it gets most of its own holdout right.
        hits = sum(p == t for p, t in zip(predictions.labels.tolist(), truth, strict=True))
        assert hits >= 12
    else:
        assert predictions.values is not None
        assert predictions.values.std() > 1.0


def test_publish_under_another_name_and_without_promotion(registry: ModelRegistry) -> None:
    from tests.models import publish_trained

    metadata = publish_trained(registry, "binary", promote=False, name="other-model")
    assert metadata["name"] == "other-model"
    assert registry.get_alias("other-model") is None
