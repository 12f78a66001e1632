"""The model card: what GET /models/{name} and `make api`'s banner tell a client."""

from __future__ import annotations

from typing import Any

from modelops.model_card import describe, example_label, feature_required, typical_value


def test_typical_values() -> None:
    assert typical_value({"kind": "numeric", "sample": [1.0, 2.0, 7.0]}) == 2  # whole: an int
    assert typical_value({"kind": "numeric", "sample": [1.5, 2.25, 7.0]}) == 2.25
    assert typical_value({"kind": "numeric", "sample": [], "mean": 3.5}) == 3.5
    shares = {"basic": 0.3, "premium": 0.5, "plus": 0.2}
    assert typical_value({"kind": "categorical", "category_shares": shares}) == "premium"
    assert typical_value({"kind": "categorical", "category_shares": {}}) is None


def test_required_as_recorded_else_where_training_had_no_missing_values() -> None:
    metadata: dict[str, Any] = {
        "features": [
            {"name": "a", "kind": "numeric", "required": False},
            {"name": "b", "kind": "numeric"},
        ],
        "baseline": {
            "features": {
                "a": {"missing_share": 0.0},
                "b": {"missing_share": 0.0},
                "c": {"missing_share": 0.01},
            }
        },
    }
    assert feature_required(metadata, "a") is False  # recorded wins
    assert feature_required(metadata, "b") is True
    assert feature_required(metadata, "c") is False  # just above zero: optional


def test_card_of_a_real_model(binary_champion: dict[str, Any]) -> None:
    card = describe(binary_champion)
    assert card["task"] == "binary" and card["classes"] == ["no", "yes"]
    kinds = {f["name"]: f for f in card["features"]}
    assert kinds["plan"]["kind"] == "categorical" and "basic" in kinds["plan"]["categories"]
    assert "categories" not in kinds["tenure_months"]
    (row,) = card["example_request"]["instances"]
    assert list(row) == [f["name"] for f in binary_champion["features"]]
    assert example_label(binary_champion) in ("no", "yes")
