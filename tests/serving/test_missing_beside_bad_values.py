"""A 400 names every problem (docs/API.md): a row without a required feature, or with null
for it, is named even when the same row, or another, also holds a bad value (the request is
then checked cell by cell, and a bad value counts as present, never as missing)."""

from __future__ import annotations

import pytest

from modelops import messages
from modelops.errors import InvalidInput
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from modelops.serving.request import parse_predict_request

SCHEMA = ModelSchema(
    features=(
        FeatureSpec("tenure_months", FeatureKind.NUMERIC, required=True),
        FeatureSpec("monthly_charges", FeatureKind.NUMERIC, required=True),
        FeatureSpec("plan", FeatureKind.CATEGORICAL, required=True),
    ),
    task=Task.BINARY,
    classes=("no", "yes"),
)
BAD_NUMBER = 'expected a number, got "abc"'


def details(instances: list[object]) -> list[dict[str, object]]:
    with pytest.raises(InvalidInput) as caught:
        parse_predict_request({"instances": instances}, SCHEMA, max_rows=10)
    assert caught.value.status_code == 400
    found: list[dict[str, object]] = caught.value.details()
    return found


@pytest.mark.parametrize("missing", ["monthly_charges", "plan"])
def test_a_missing_feature_is_named_beside_a_bad_value_in_its_row(missing: str) -> None:
    row = {"tenure_months": "abc", "monthly_charges": 42.5, "plan": "basic"}
    del row[missing]
    assert details([row]) == [
        {"row": 0, "field": "tenure_months", "problem": BAD_NUMBER},
        {"row": 0, "field": missing, "problem": messages.REQUIRED_MISSING},
    ]


def test_missing_and_null_are_named_in_every_row_beside_a_bad_value_elsewhere() -> None:
    good = {"tenure_months": 12, "monthly_charges": 42.5, "plan": "basic"}
    assert details(
        [
            {"tenure_months": "abc", "monthly_charges": 1.0, "plan": "basic"},
            {"tenure_months": 12, "plan": "basic"},  # only this one missing
            good,
            {"tenure_months": 12, "monthly_charges": None, "plan": None},
        ]
    ) == [
        {"row": 0, "field": "tenure_months", "problem": BAD_NUMBER},
        {"row": 1, "field": "monthly_charges", "problem": messages.REQUIRED_MISSING},
        {"row": 3, "field": "monthly_charges", "problem": messages.REQUIRED_NULL},
        {"row": 3, "field": "plan", "problem": messages.REQUIRED_NULL},
    ]
    assert messages.REQUIRED_MISSING == (
        "required feature is missing (the model was trained without missing values)"
    )
    assert messages.REQUIRED_NULL == (
        "required feature is null (the model was trained without missing values)"
    )
