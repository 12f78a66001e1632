"""The model card: what GET /models/{name} and `make api`'s banner tell a client."""

from __future__ import annotations

from typing import Any

from modelops.model_card import describe, example_label, typical_value


def test_typical_values() -> None:
    assert typical_value({"kind": "numeric", "sample": [1.0, 2.0, 7.0]}) == 2  # whole: an int
    assert typical_value({"kind": "numeric", "sample": [1.5, 2.25, 7.0]}) == 2.25
    assert typical_value({"kind": "numeric", "sample": [], "mean": 3.5}) == 3.5
    shares = {"basic": 0.3, "premium": 0.5, "plus": 0.2}
    assert typical_value({"kind": "categorical", "category_shares": shares}) == "premium"
    assert typical_value({"kind": "categorical", "category_shares": {}}) is None


def test_required_as_recorded_and_optional_in_versions_that_did_not_record_it() -> None:
    metadata: dict[str, Any] = {
        "task": "regression",
        "features": [
            {"name": "a", "kind": "numeric", "required": False},
            {"name": "b", "kind": "numeric", "required": True},
            {"name": "c", "kind": "numeric"},  # published before versions recorded it
        ],
        # The baseline's missing shares do not decide it: serving never reads them.
        "baseline": {"features": {"c": {"missing_share": 0.0}}},
    }
    required = {f["name"]: f["required"] for f in describe(metadata)["features"]}
    assert required == {"a": False, "b": True, "c": False}


def test_card_of_a_real_model(binary_champion: dict[str, Any]) -> None:
    card = describe(binary_champion)
    assert card["task"] == "binary" and card["classes"] == ["no", "yes"]
    kinds = {f["name"]: f for f in card["features"]}
    assert kinds["plan"]["kind"] == "categorical" and "basic" in kinds["plan"]["categories"]
    assert "categories" not in kinds["tenure_months"]
    (row,) = card["example_request"]["instances"]
    assert list(row) == [f["name"] for f in binary_champion["features"]]
    assert example_label(binary_champion) in ("no", "yes")
