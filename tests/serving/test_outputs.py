"""Outputs and capture records built from the model's arrays a request at a time are byte for
byte what the former row-by-row construction gave (kept here as the reference): the
prediction objects, the labels mapped onto the metadata's classes, the captured records and
so the response body and the captured lines."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.capture import (
    LOG_MAX_RECORD_BYTES,
    encode_record,
    fit_line,
    fit_lines,
    prediction_record,
    prediction_records,
)
from modelops.inference import OnnxModel, Predictions, session_runner
from modelops.jsonio import encode_json
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task, class_key
from modelops.serving.request import parse_predict_request
from modelops.serving.response import (
    PROBABILITY_DECIMALS,
    PYTHON_ROUNDING_ROWS,
    prediction_outputs,
    rounded,
)
from tests.models import sample_rows, trained_model


def reference_outputs(schema: ModelSchema, predictions: Predictions) -> list[dict[str, Any]]:
    """prediction_outputs as it was: a Python loop per row and class."""
    assert predictions.labels is not None and predictions.probabilities is not None
    keys = [class_key(c) for c in schema.classes or ()]
    probabilities = np.round(
        predictions.probabilities.astype(np.float64), PROBABILITY_DECIMALS
    ).tolist()
    return [
        {"label": label, "probabilities": dict(zip(keys, row, strict=True))}
        for label, row in zip(predictions.labels.tolist(), probabilities, strict=True)
    ]


def reference_record(row: int, **fields: Any) -> dict[str, Any]:
    """A captured prediction as the service built it before: one call per row, copies."""
    return {
        "eventVersion": "1",
        "eventMetadata": {
            "eventId": fields["event_ids"][row],
            "inferenceId": fields["inference_ids"][row],
            "inferenceTime": fields["inference_time"],
            "requestId": fields["request_id"],
            "source": fields["source"],
        },
        "model": {"name": fields["model_name"], "version": fields["model_versions"][row]},
        "input": dict(fields["inputs"][row]),
        "output": dict(fields["outputs"][row]),
    }


CLASSES = st.one_of(
    st.lists(st.integers(-3, 40), min_size=2, max_size=5, unique=True),
    st.lists(st.text(max_size=4), min_size=2, max_size=5, unique=True),
)


@settings(max_examples=150, deadline=None)
@given(classes=CLASSES, count=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_prediction_objects_are_the_row_by_row_ones(
    classes: list[Any], count: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    schema = ModelSchema(
        features=(FeatureSpec("x", FeatureKind.NUMERIC),),
        task=Task.MULTICLASS,
        classes=tuple(classes),
    )
    raw = rng.random((count, len(classes)), dtype=np.float32)
    # Values that sit on a rounding edge, and the extremes.
    raw[rng.random((count, len(classes))) < 0.2] = np.float32(0.1234565)
    raw[rng.random((count, len(classes))) < 0.1] = 0.0
    raw[rng.random((count, len(classes))) < 0.1] = 1.0
    labels = np.asarray([classes[i] for i in rng.integers(0, len(classes), count)], dtype=object)
    predictions = Predictions(labels=labels, probabilities=raw)
    assert encode_json(prediction_outputs(schema, predictions)) == encode_json(
        reference_outputs(schema, predictions)
    )


def test_probabilities_for_another_number_of_classes_are_refused() -> None:
    schema = ModelSchema(
        features=(FeatureSpec("x", FeatureKind.NUMERIC),), task=Task.BINARY, classes=(0, 1)
    )
    three = Predictions(
        labels=np.array([0], dtype=object), probabilities=np.ones((1, 3), np.float32)
    )
    with pytest.raises(ValueError, match="3 probabilities for 2 classes"):
        prediction_outputs(schema, three)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_labels_are_mapped_onto_the_metadata_classes_as_row_by_row(kind: str) -> None:
    trained = trained_model(kind)
    model = OnnxModel(trained.onnx_bytes, trained.schema)
    rows, _ = sample_rows(kind, 60)
    request = parse_predict_request({"instances": rows}, trained.schema, max_rows=60)
    feeds = request.feeds()
    raw_labels, _ = model.session.run(None, feeds)
    by_key = {str(c): c for c in trained.schema.classes or ()}
    expected = [by_key[str(v)] for v in np.asarray(raw_labels).reshape(-1).tolist()]
    got = model.run(feeds).labels
    assert got is not None and got.dtype == object
    assert [(type(v), v) for v in got.tolist()] == [(type(v), v) for v in expected]
    assert len(set(expected)) > 1  # more than one class answered


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("count", [1, 2, 17, 300])
def test_records_of_a_request_are_the_row_by_row_records(seed: int, count: int) -> None:
    rng = random.Random(seed)
    fields: dict[str, Any] = {
        "event_ids": [f"e-{i}" for i in range(count)],
        "inference_ids": [
            rng.choice(["a", '"},{"eventVersion":', "é\n"]) + str(i) for i in range(count)
        ],
        "inference_time": "2026-11-30T12:00:00.000Z",
        "request_id": "req-1",
        "source": rng.choice(["api", "direct", "batch"]),
        "model_name": "churn",
        "model_versions": [rng.choice([3, 4]) for _ in range(count)],
        "inputs": [{"age": rng.choice([None, 1, 2.5]), "plan": "b"} for _ in range(count)],
        "outputs": [
            {"label": "yes", "probabilities": {"no": 0.5, "yes": 0.5}} for _ in range(count)
        ],
    }
    records = prediction_records(**fields)
    expected = [reference_record(row, **fields) for row in range(count)]
    assert [encode_record(r) for r in records] == [encode_record(r) for r in expected]
    assert fit_lines(records, LOG_MAX_RECORD_BYTES) == b"".join(
        fit_line(r, LOG_MAX_RECORD_BYTES) for r in expected
    )
    single = prediction_record(
        event_id="e-0",
        inference_id=fields["inference_ids"][0],
        inference_time=fields["inference_time"],
        request_id="req-1",
        source=fields["source"],
        model_name="churn",
        model_version=fields["model_versions"][0],
        features=fields["inputs"][0],
        output=fields["outputs"][0],
    )
    assert encode_record(single) == encode_record(expected[0])
    assert single["input"] is not fields["inputs"][0]  # one record alone is a copy


def test_records_that_do_not_start_with_the_event_version_are_encoded_one_by_one() -> None:
    record = prediction_record(
        inference_id="a",
        inference_time="t",
        request_id="r",
        source="api",
        model_name="m",
        model_version=1,
        features={"x": 1},
        output={"value": 2.0},
        event_id="e",
    )
    for records in ([record, {}], [{}, record], [record, {1: "x"}], [{"x": 1, **record}]):
        try:
            expected = b"".join(fit_line(r, LOG_MAX_RECORD_BYTES) for r in records)
        except TypeError:
            continue  # a key orjson cannot encode: both refuse alike
        assert fit_lines(records, LOG_MAX_RECORD_BYTES) == expected


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_the_sessions_own_binding_answers_as_its_public_run(kind: str) -> None:
    trained = trained_model(kind)
    model = OnnxModel(trained.onnx_bytes, trained.schema)
    rows, _ = sample_rows(kind, 40)
    feeds = parse_predict_request({"instances": rows}, trained.schema, max_rows=40).feeds()
    names = [o.name for o in model.session.get_outputs()]
    through_binding = session_runner(model.session)(names, feeds)
    public = model.session.run(names, feeds)
    assert len(through_binding) == len(public) == len(names)
    for ours, theirs in zip(through_binding, public, strict=True):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        if ours.dtype == object:  # string labels
            assert ours.tolist() == theirs.tolist()
        else:
            assert ours.tobytes() == theirs.tobytes()


def test_a_session_without_a_binding_runs_through_its_public_run() -> None:
    calls: list[tuple[list[str], dict[str, Any]]] = []

    class PublicOnly:
        def run(self, names: list[str], feeds: dict[str, Any]) -> list[Any]:
            calls.append((names, feeds))
            return ["answer"]

    assert session_runner(PublicOnly())(["label"], {"x": 1}) == ["answer"]
    assert calls == [(["label"], {"x": 1})]


EDGES = [0.0, -0.0, 1.0, 0.1234565, 0.0000005, 0.0000015, -0.0000004, -0.0000005, 0.9999995]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(width=32, allow_nan=True, allow_infinity=True),
            st.floats(-2.0, 2.0, width=32),
            st.sampled_from(EDGES),
        ),
        min_size=1,
        max_size=3 * (PYTHON_ROUNDING_ROWS + 2),
    ),
    columns=st.integers(1, 3),
)
def test_rounding_a_few_rows_in_python_is_numpys_rounding(
    values: list[float], columns: int
) -> None:
    rows = len(values) // columns or 1
    grid = np.resize(np.array(values, dtype=np.float32), (rows, columns))
    expected = np.round(grid.astype(np.float64), PROBABILITY_DECIMALS).tolist()
    # The same bytes in JSON: -0.0 stays -0.0, NaN and infinities as numpy gives them.
    assert repr(rounded(grid)) == repr(expected)
