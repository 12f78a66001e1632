"""MLflow's request formats: read into the same rows, validated the same, located as sent;
required and optional features; unknown names with the closest match."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.errors import InvalidInput
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from modelops.serving.request import parse_predict_request

SCHEMA = ModelSchema(
    features=(
        FeatureSpec("tenure_months", FeatureKind.NUMERIC, required=True),
        FeatureSpec("monthly_charges", FeatureKind.NUMERIC),
        FeatureSpec("plan", FeatureKind.CATEGORICAL, required=True),
    ),
    task=Task.BINARY,
    classes=("no", "yes"),
)
ROWS = [
    {"tenure_months": 12, "monthly_charges": 42.5, "plan": "basic"},
    {"tenure_months": 3, "monthly_charges": None, "plan": "premium"},
    {"tenure_months": 40, "plan": "basic"},
]
COLUMNS = ["tenure_months", "monthly_charges", "plan"]
MISSING = "required feature is missing (the model was trained without missing values)"
NULL = "required feature is null (the model was trained without missing values)"


def parse(payload: Any, max_rows: int = 10) -> Any:
    return parse_predict_request(payload, SCHEMA, max_rows=max_rows)


def problems_of(payload: Any, max_rows: int = 10) -> tuple[int, list[dict[str, Any]]]:
    with pytest.raises(InvalidInput) as caught:
        parse(payload, max_rows)
    return caught.value.status_code, caught.value.details()


def model_columns(columns: dict[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """Each column's dtype and values, NaN (missing) as None."""
    return {
        name: (str(column.dtype), [None if v != v else v for v in column.tolist()])
        for name, column in columns.items()
    }


def as_split(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"columns": COLUMNS, "data": [[row.get(c) for c in COLUMNS] for row in rows]}


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": ROWS},
        {"dataframe_records": ROWS},
        {"inputs": ROWS},
        {"dataframe_split": as_split(ROWS)},
        {"dataframe_split": {**as_split(ROWS), "index": [7, 8, 9]}},
        {"inputs": {c: [row.get(c) for row in ROWS] for c in COLUMNS}},
    ],
    ids=["instances", "records", "inputs-records", "split", "split-index", "inputs-columns"],
)
def test_every_format_gives_the_same_columns_and_imputed_features(payload: Any) -> None:
    request = parse({**payload, "inference_ids": ["a", "b", "c"]})
    assert model_columns(request.columns) == {
        "tenure_months": ("float32", [12.0, 3.0, 40.0]),
        "monthly_charges": ("float32", [42.5, None, None]),
        "plan": ("object", ["basic", "premium", "basic"]),
    }
    assert request.inference_ids == ["a", "b", "c"]
    assert request.imputed == {1: ["monthly_charges"], 2: ["monthly_charges"]}
    assert request.format == next(iter(payload))


def test_a_complete_request_imputes_nothing() -> None:
    assert parse({"instances": ROWS[:1]}).imputed == {}


def test_a_split_problem_names_its_place_in_the_data() -> None:
    data = as_split(ROWS)["data"]
    data[1][0] = "three"
    data[2][2] = None
    status, details = problems_of({"dataframe_split": {"columns": COLUMNS, "data": data}})
    assert status == 400
    assert details == [
        {
            "row": 1,
            "field": "tenure_months",
            "path": "dataframe_split.data[1][0]",
            "problem": 'expected a number, got "three"',
        },
        {"row": 2, "field": "plan", "path": "dataframe_split.data[2][2]", "problem": NULL},
    ]


def test_split_columns_unknown_or_missing_are_reported_once_not_per_row() -> None:
    split = {"columns": ["tenure_month", "monthly_charges"], "data": [[1, 2.0]] * 5}
    _, details = problems_of({"dataframe_split": split})
    assert details == [
        {
            "field": "tenure_month",
            "path": "dataframe_split.columns[0]",
            "problem": "unknown feature; did you mean 'tenure_months'? expected: "
            "tenure_months, monthly_charges, plan",
        },
        {"field": "tenure_months", "path": "dataframe_split.columns", "problem": MISSING},
        {"field": "plan", "path": "dataframe_split.columns", "problem": MISSING},
    ]


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        (
            {"columns": COLUMNS, "data": [[1, 2.0]]},
            {
                "row": 0,
                "field": "dataframe_split.data[0]",
                "problem": "expected an array of 3 values (one per column), got 2 values",
            },
        ),
        (
            {"columns": COLUMNS, "data": [[1, 2.0, "a"]], "index": [1, 2]},
            {
                "field": "dataframe_split.index",
                "problem": "expected an array of one index value per row (1), got 2 values",
            },
        ),
        (
            {"columns": [*COLUMNS, "plan"], "data": [[1, 2.0, "a", "b"]]},
            {"field": "dataframe_split.columns[3]", "problem": 'duplicate of column 2 ("plan")'},
        ),
        (
            {"data": [[1, 2.0, "a"]]},
            {
                "field": "dataframe_split.columns",
                "problem": "expected an array of feature names, got nothing",
            },
        ),
        (
            {"columns": COLUMNS, "data": []},
            {
                "field": "dataframe_split.data",
                "problem": "expected an array of 1 to 10 arrays, got an empty array",
            },
        ),
        (
            {"columns": COLUMNS, "data": [[1, 2.0, "a"]], "orient": "split"},
            {
                "field": "dataframe_split.orient",
                "problem": "unknown key; expected: columns, data, index",
            },
        ),
    ],
)
def test_split_shape_problems(split: dict[str, Any], expected: dict[str, Any]) -> None:
    assert problems_of({"dataframe_split": split}) == (400, [expected])


def test_records_and_inputs_problems_name_their_path() -> None:
    _, details = problems_of({"dataframe_records": [ROWS[0], {**ROWS[0], "plan": 3.5}, "x"]})
    assert details == [
        {
            "row": 1,
            "field": "plan",
            "path": "dataframe_records[1].plan",
            "problem": "expected a string (a category), got 3.5",
        },
        {
            "row": 2,
            "path": "dataframe_records[2]",
            "problem": 'expected an object of features, got "x"',
        },
    ]
    columns = {"tenure_months": [1, "x"], "plan": ["a", "b"], "Plan": ["c", "d"]}
    _, details = problems_of({"inputs": columns})
    assert details == [
        {
            "field": "Plan",
            "path": "inputs.Plan",
            "problem": "unknown feature; did you mean 'plan'? expected: tenure_months, "
            "monthly_charges, plan",
        },
        {
            "row": 1,
            "field": "tenure_months",
            "path": "inputs.tenure_months[1]",
            "problem": 'expected a number, got "x"',
        },
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"inputs": [[1, 2.0, "a"]]},
            {
                "field": "inputs",
                "problem": "an array of arrays does not say which value is which feature: "
                'send it as dataframe_split {"columns": [...], "data": [...]}',
            },
        ),
        (
            {"inputs": {"tenure_months": [1, 2], "plan": ["a"]}},
            {
                "field": "inputs",
                "problem": "expected columns of one length, got 2 (tenure_months), 1 (plan)",
            },
        ),
        (
            {"instances": ROWS, "dataframe_records": ROWS},
            {"problem": "send the rows in one format, got instances and dataframe_records"},
        ),
    ],
)
def test_ambiguous_or_mixed_formats_are_refused(payload: Any, expected: dict[str, Any]) -> None:
    assert problems_of(payload) == (400, [expected])


@pytest.mark.parametrize("rows", [10, 11])
def test_the_row_limit_holds_in_every_format(rows: int) -> None:
    row = ROWS[0]
    payloads = [
        {"dataframe_split": as_split([row] * rows)},
        {"dataframe_records": [row] * rows},
        {"inputs": {c: [row[c]] * rows for c in COLUMNS}},
    ]
    for payload in payloads:
        if rows <= 10:
            assert len(parse(payload)) == rows
        else:
            status, details = problems_of(payload)
            assert status == 413
            assert details[0]["problem"] == "11 rows; at most 10 per request"


def test_required_features_boundary_every_missing_one_is_named() -> None:
    _, details = problems_of(
        {"instances": [{}, {"plan": "basic"}, {"tenure_months": None, "plan": "x"}]}
    )
    assert details == [
        {"row": 0, "field": "tenure_months", "problem": MISSING},
        {"row": 0, "field": "plan", "problem": MISSING},
        {"row": 1, "field": "tenure_months", "problem": MISSING},
        {"row": 2, "field": "tenure_months", "problem": NULL},
    ]


def test_versions_that_did_not_record_required_keep_imputing_everything() -> None:
    old = ModelSchema.from_metadata(
        {"task": "regression", "features": [{"name": "a", "kind": "numeric"}]}
    )
    request = parse_predict_request({"instances": [{}]}, old, max_rows=1)
    assert request.imputed == {0: ["a"]}


def test_unknown_names_far_from_every_expected_one_get_no_guess() -> None:
    _, details = problems_of({"instances": [{**ROWS[0], "zzz": 1}]})
    assert (
        details[0]["problem"] == "unknown feature; expected: tenure_months, monthly_charges, plan"
    )
