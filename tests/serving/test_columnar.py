"""A batch checked a column at a time gives exactly what the cell-by-cell path gives: the same
tensors (bit for bit), the same imputed features per row, the same rows as sent, and for a
bad batch the same error (status, message, every problem's words and place). The columnar
path must also really run on valid batches, and hand every boundary case to the exact path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from modelops.errors import InvalidInput
from modelops.jsonio import NonFiniteNumber, encode_json
from modelops.messages import FLOAT32_MAX
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from modelops.serving.columns import FEW_ROWS, columnar, gather, plain_cells
from modelops.serving.request import parse_predict_request

SCHEMA = ModelSchema(
    features=(
        FeatureSpec("age", FeatureKind.NUMERIC, required=True),
        FeatureSpec("income", FeatureKind.NUMERIC),
        FeatureSpec("plan", FeatureKind.CATEGORICAL),
        FeatureSpec("region", FeatureKind.CATEGORICAL, required=True),
    ),
    task=Task.BINARY,
    classes=(0, 1),
)
NAMES = SCHEMA.feature_names
ROW = {"age": 30, "income": 1.5, "plan": "basic", "region": "north"}
ABOVE_FLOAT32 = float(np.nextafter(FLOAT32_MAX, np.inf))
BELOW_FLOAT32 = float(np.nextafter(FLOAT32_MAX, 0))


# A few rows are checked cell by cell in one pass, more as numpy blocks: every test of the
# columnar path runs both ways (few_rows=0 sends even one row to the blocks).
PASSES = {"cells": FEW_ROWS, "blocks": 0}


@pytest.fixture(params=list(PASSES))
def few(request: pytest.FixtureRequest) -> int:
    return PASSES[request.param]


def fast(rows: list[Any], few: int) -> Any:
    raw = gather(rows, NAMES)
    return None if raw is None else columnar(raw, len(rows), SCHEMA, few_rows=few)


def outcome(payload: Any, *, columnar: bool, few: int = FEW_ROWS) -> Any:
    """What a request gives, in comparable form: the error, or the columns (dtype and bytes),
    the imputed features, the ids and the rows as sent (as the capture encodes them)."""
    try:
        request = parse_predict_request(
            payload,
            SCHEMA,
            max_rows=50,
            new_inference_ids=lambda n: [str(i) for i in range(n)],
            columnar=columnar,
            few_rows=few,
        )
    except InvalidInput as exc:
        return ("error", exc.status_code, str(exc), exc.details())
    columns = {
        name: (
            str(column.dtype),
            column.shape,
            column.tobytes() if column.dtype != object else [(type(v), v) for v in column],
        )
        for name, column in request.columns.items()
    }
    return (
        "ok",
        columns,
        request.imputed,
        list(request.imputed),
        request.inference_ids,
        request.format,
        len(request),
        encode_json(request.instances),
    )


# ---- the boundaries: where the columnar path stops and the exact one decides ------------


@pytest.mark.parametrize("value", [FLOAT32_MAX, -FLOAT32_MAX, BELOW_FLOAT32, 0.0, -0.0, 5e-324])
def test_floats_up_to_float32s_largest_stay_columnar(value: float, few: int) -> None:
    checked = fast([ROW, {**ROW, "income": value}], few)
    assert checked is not None
    assert checked[0]["income"].tolist()[1] == float(np.float32(value))


@pytest.mark.parametrize(
    "value", [ABOVE_FLOAT32, -ABOVE_FLOAT32, float("inf"), float("nan"), 1e39, 10**39, 10**400]
)
def test_numbers_beyond_float32_go_to_the_exact_path(value: Any, few: int) -> None:
    assert fast([ROW, {**ROW, "income": value}], few) is None


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53) + 1, 0, -1])
def test_integers_float64_holds_exactly_stay_columnar(value: int, few: int) -> None:
    checked = fast([{**ROW, "income": value}], few)
    assert checked is not None
    assert checked[0]["income"].tolist() == [float(np.float32(value))]


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**53 + 1, 2**64])
def test_integers_from_2_to_the_53_go_to_the_exact_path(value: int, few: int) -> None:
    assert fast([{**ROW, "income": value}], few) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("income", True),
        ("income", "1.5"),
        ("income", [1.0]),
        ("income", NonFiniteNumber("NaN")),
        ("plan", 1.5),
        ("plan", {"a": 1}),
        ("age", None),  # required
        ("region", None),  # required
    ],
)
def test_any_value_with_a_problem_goes_to_the_exact_path(name: str, value: Any, few: int) -> None:
    assert fast([ROW, {**ROW, name: value}], few) is None


def test_a_null_beside_a_client_nan_in_one_column_goes_to_the_exact_path(few: int) -> None:
    assert fast([{**ROW, "income": None}, {**ROW, "income": float("nan")}], few) is None


def test_rows_that_are_not_objects_or_hold_unknown_keys_are_not_gathered() -> None:
    assert gather([ROW, "row"], NAMES) is None
    assert gather([ROW, {**ROW, "colour": 1}], NAMES) is None
    # As many keys as features, one unknown in place of a feature.
    swapped = {k: v for k, v in ROW.items() if k != "income"} | {"colour": 1}
    assert gather([ROW, swapped], NAMES) is None
    assert gather([ROW, {k: v for k, v in ROW.items() if k != "income"}], NAMES) is not None


def test_optional_features_left_out_or_null_are_imputed_per_row_in_schema_order(few: int) -> None:
    rows = [
        ROW,
        {"age": 1, "region": "x"},
        {**ROW, "income": None},
        {"age": 2, "plan": None, "region": "y", "income": None},
    ]
    checked = fast(rows, few)
    assert checked is not None
    columns, imputed = checked
    assert imputed == {1: ["income", "plan"], 2: ["income"], 3: ["income", "plan"]}
    assert columns["plan"].tolist() == ["basic", "__missing__", "basic", "__missing__"]
    assert np.isnan(columns["income"]).tolist() == [False, True, True, True]


def test_a_category_sent_as_the_missing_token_is_not_imputed(few: int) -> None:
    checked = fast([{**ROW, "plan": "__missing__"}], few)
    assert checked is not None and checked[1] == {}


def test_a_valid_batch_in_every_format_takes_the_columnar_path(few: int) -> None:
    rows = [ROW, {"age": 1.25, "region": "x", "plan": 7}, {**ROW, "plan": True}]
    split = {"columns": list(NAMES), "data": [[r.get(c) for c in NAMES] for r in rows]}
    assert fast(rows, few) is not None
    for payload in (
        {"instances": rows},
        {"dataframe_records": rows},
        {"dataframe_split": split},
        {"inputs": {c: [r.get(c) for r in rows] for c in NAMES}},
    ):
        assert outcome(payload, columnar=True, few=few) == outcome(payload, columnar=False)


@pytest.mark.parametrize("kind", [FeatureKind.NUMERIC, FeatureKind.CATEGORICAL])
def test_a_schema_of_one_kind_of_feature_takes_the_columnar_path(
    kind: FeatureKind, few: int
) -> None:
    schema = ModelSchema(
        features=(FeatureSpec("a", kind, required=True), FeatureSpec("b", kind)),
        task=Task.REGRESSION,
    )
    value = 1.5 if kind is FeatureKind.NUMERIC else "x"
    rows = [{"a": value, "b": value}, {"a": value}]
    raw = gather(rows, schema.feature_names)
    assert raw is not None
    checked = columnar(raw, 2, schema, few_rows=few)
    assert checked is not None and checked[1] == {1: ["b"]}
    exact = parse_predict_request({"instances": rows}, schema, max_rows=2, columnar=False)
    for name, column in checked[0].items():
        assert column.tolist() == exact.columns[name].tolist() or kind is FeatureKind.NUMERIC
        assert column.dtype == exact.columns[name].dtype
        assert column.tobytes() == exact.columns[name].tobytes() or kind is FeatureKind.CATEGORICAL


# ---- generated batches: both paths agree ------------------------------------------------

GOOD_NUMBERS = st.one_of(
    st.floats(-FLOAT32_MAX, FLOAT32_MAX, allow_nan=False, width=64),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.sampled_from([FLOAT32_MAX, -FLOAT32_MAX, BELOW_FLOAT32, -0.0, 2**53 - 1, 5e-324]),
)
BAD_NUMBERS = st.sampled_from(
    [
        2**53,
        -(2**53),
        2**64,
        10**39,
        10**400,
        ABOVE_FLOAT32,
        1e39,
        float("nan"),
        float("inf"),
        True,
        False,
        "1.5",
        "abc",
        [1],
        {},
        NonFiniteNumber("Infinity"),
    ]
)
GOOD_CATEGORIES = st.one_of(
    st.text(max_size=4),
    st.integers(-1000, 1000),
    st.booleans(),
    st.just("__missing__"),
)
BAD_CATEGORIES = st.sampled_from([1.5, float("nan"), [], {"a": 1}, NonFiniteNumber("NaN")])


def values(kind: FeatureKind, bad: bool) -> st.SearchStrategy[Any]:
    good = GOOD_NUMBERS if kind is FeatureKind.NUMERIC else GOOD_CATEGORIES
    if not bad:
        return st.one_of(good, st.none())
    return st.one_of(
        good, st.none(), BAD_NUMBERS if kind is FeatureKind.NUMERIC else BAD_CATEGORIES
    )


@st.composite
def batches(draw: st.DrawFn, bad: bool) -> list[Any]:
    count = draw(st.integers(1, 6))
    rows: list[Any] = []
    for _ in range(count):
        if bad and draw(st.integers(0, 30)) == 0:
            rows.append(draw(st.sampled_from(["row", None, [1, 2]])))
            continue
        row: dict[str, Any] = {}
        for spec in draw(st.permutations(SCHEMA.features)):
            # Optional features are often left out; required ones only in bad batches.
            if (bad or not spec.required) and draw(st.integers(0, 15 if spec.required else 3)) == 0:
                continue
            value = draw(values(spec.kind, bad))
            if value is None and spec.required and not bad:
                value = 1 if spec.kind is FeatureKind.NUMERIC else "x"
            row[spec.name] = value
        if bad and draw(st.integers(0, 15)) == 0:
            row[draw(st.sampled_from(["colour", "Age", "incme"]))] = 1
        rows.append(row)
    return rows


def formats(rows: list[Any], how: str, columns: list[str]) -> dict[str, Any]:
    if how in ("instances", "dataframe_records"):
        return {how: rows}
    if how == "inputs-records":
        return {"inputs": rows}
    assume(all(type(r) is dict for r in rows))
    if how == "inputs-columns":
        return {"inputs": {c: [r.get(c) for r in rows] for c in columns}}
    return {
        "dataframe_split": {"columns": columns, "data": [[r.get(c) for c in columns] for r in rows]}
    }


HOW = st.sampled_from(
    ["instances", "dataframe_records", "inputs-records", "inputs-columns", "dataframe_split"]
)


@st.composite
def split_columns(draw: st.DrawFn) -> list[str]:
    """The columns a column-wise request sends: a subset of the features (any order), at
    times an unknown one."""
    columns = draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True))
    if draw(st.integers(0, 10)) == 0:
        columns.append("colour")
    return columns


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=batches(bad=True), how=HOW, columns=split_columns())
def test_both_paths_give_the_same_tensors_imputed_features_and_errors(
    rows: list[Any], how: str, columns: list[str], few: int
) -> None:
    payload = formats(rows, how, columns)
    assert outcome(payload, columnar=True, few=few) == outcome(payload, columnar=False)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=batches(bad=False), how=HOW)
def test_a_valid_batch_is_checked_by_columns_and_answers_as_the_exact_path(
    rows: list[Any], how: str, few: int
) -> None:
    assert fast(rows, few) is not None
    payload = formats(rows, how, list(NAMES))
    expected = outcome(payload, columnar=False)
    assert expected[0] == "ok"
    assert outcome(payload, columnar=True, few=few) == expected


# ---- the few-rows pass itself ----------------------------------------------------------


def test_the_few_rows_pass_answers_plain_rows_as_the_blocks_do() -> None:
    rows = [ROW, {"age": 2**53 - 1, "region": "x"}, {**ROW, "income": None, "plan": None}]
    raw = gather(rows, NAMES)
    assert raw is not None
    plain = plain_cells(raw, [None] * len(rows), SCHEMA)
    blocks = columnar(raw, len(rows), SCHEMA, few_rows=0)
    assert plain is not None and blocks is not None
    assert plain[1] == blocks[1] == {1: ["income", "plan"], 2: ["income", "plan"]}
    for name, column in plain[0].items():
        assert column.dtype == blocks[0][name].dtype
        assert column.tolist() == blocks[0][name].tolist() or column.dtype != object
        assert column.tobytes() == blocks[0][name].tobytes() or column.dtype == object


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("income", 2**53),
        ("income", -(2**53)),
        ("income", ABOVE_FLOAT32),
        ("income", float("nan")),
        ("income", True),
        ("income", "1"),
        ("plan", 7),
        ("plan", False),
        ("age", None),
        ("region", None),
    ],
)
def test_the_few_rows_pass_leaves_anything_not_plain_to_the_blocks(name: str, value: Any) -> None:
    raw = gather([{**ROW, name: value}], NAMES)
    assert raw is not None
    assert plain_cells(raw, [None], SCHEMA) is None


@pytest.mark.parametrize("value", [FLOAT32_MAX, -FLOAT32_MAX, 2**53 - 1, -(2**53) + 1, -0.0])
def test_the_few_rows_pass_takes_values_at_the_bounds(value: Any) -> None:
    raw = gather([{**ROW, "income": value}], NAMES)
    assert raw is not None
    plain = plain_cells(raw, [None], SCHEMA)
    assert plain is not None
    assert plain[0]["income"].tobytes() == np.array([value], dtype=np.float32).tobytes()


@pytest.mark.parametrize(("count", "cells"), [(3, True), (4, True), (5, False)])
def test_up_to_few_rows_take_the_cell_pass(
    count: int, cells: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelops.serving import columns

    calls: list[int] = []

    def spy(raw: Any, absent: list[None], schema: ModelSchema) -> Any:
        calls.append(len(absent))
        return plain_cells(raw, absent, schema)

    monkeypatch.setattr(columns, "plain_cells", spy)
    rows = [ROW] * count
    raw = gather(rows, NAMES)
    assert raw is not None
    assert columnar(raw, count, SCHEMA, few_rows=4) is not None
    assert calls == ([count] if cells else [])
