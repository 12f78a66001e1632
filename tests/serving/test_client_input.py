"""Client input, property-based: whatever bytes a client sends, the parsers answer with a
value or an InvalidInput in the contract's shape, never another exception; and the limits
(problems listed, body bytes, digits) hold at their boundaries."""

from __future__ import annotations

import base64
import json
import sys
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.errors import MAX_PROBLEM_DETAILS, InvalidInput, Problem, Problems
from modelops.feedback import validate_feedback
from modelops.http import MAX_BODY_BYTES, read_json_body
from modelops.jsonio import check_client_value, encode_json
from modelops.schema import ModelSchema, Task
from modelops.serving.request import parse_predict_request
from tests.serving.conftest import api_event
from tests.serving.test_request import GOOD, SCHEMA

pytestmark = pytest.mark.fuzz

REGRESSION = ModelSchema(features=SCHEMA.features, task=Task.REGRESSION)

# Text with everything a JSON string can carry, lone surrogates included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.sampled_from(["basic", "premium", "no", "yes", "1", "order-1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.one_of(any_text, st.sampled_from([*GOOD, "instances", "inference_ids"])),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=30,
)
rows = st.dictionaries(st.sampled_from([*GOOD, "extra", "\ud800"]), scalars, max_size=4)
predict_payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"instances": st.lists(rows, max_size=6)},
        optional={"inference_ids": st.lists(scalars, max_size=7), "x": scalars},
    ),
)
labels = st.dictionaries(st.sampled_from(["inference_id", "label", "value", "z"]), scalars)
feedback_payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({"labels": st.lists(labels, max_size=6)}, optional={"x": scalars}),
)


def assert_contract_error(exc: InvalidInput) -> None:
    """What the error body is made of: at most 20 details, all of them encodable, all counted."""
    details = exc.details()
    assert exc.status_code in (400, 413, 415)
    assert len(details) == min(exc.problem_count, MAX_PROBLEM_DETAILS)
    assert exc.problem_count >= 1
    for detail in details:
        assert isinstance(detail["problem"], str) and detail["problem"]
        assert set(detail) <= {"row", "field", "problem"}
    # The strict encoder (orjson) accepts it: no surrogate, nothing unencodable, is echoed.
    json.loads(encode_json({"message": exc.message, "details": details, "text": str(exc)}))


def parse_body(text: str, **event: Any) -> Any:
    return read_json_body(api_event(raw_body=text, **event))


@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=60))
def test_any_text_is_a_value_or_an_invalid_input(text: str) -> None:
    try:
        value = parse_body(text)
    except InvalidInput as exc:
        assert_contract_error(exc)
    else:
        check_client_value(value)  # nothing the parser returns holds a lone surrogate
        encode_json(value)


@given(json_values, st.booleans())
def test_any_json_document_is_a_value_or_an_invalid_input(value: Any, ascii_only: bool) -> None:
    # Some encoders escape non-ASCII (\ud800), some send the characters; both reach us.
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        parsed = parse_body(text)
    except InvalidInput as exc:
        assert_contract_error(exc)
        # the only thing json.dumps writes that the parser refuses
        assert "lone UTF-16 surrogate" in str(exc)
    else:
        check_client_value(parsed)


@given(st.binary(max_size=80))
def test_any_bytes_sent_as_base64_are_a_value_or_an_invalid_input(raw: bytes) -> None:
    try:
        parse_body(base64.b64encode(raw).decode(), isBase64Encoded=True)
    except InvalidInput as exc:
        assert_contract_error(exc)


@given(predict_payloads)
def test_any_predict_payload_is_a_request_or_an_invalid_input(payload: Any) -> None:
    try:
        check_client_value(payload, fast=True)
        request = parse_predict_request(payload, SCHEMA, max_rows=5)
    except InvalidInput as exc:
        assert_contract_error(exc)
    else:
        assert 1 <= len(request) <= 5 and len(request.inference_ids) == len(request)
        encode_json({"ids": request.inference_ids, "instances": request.instances})


@given(feedback_payloads, st.sampled_from([SCHEMA, REGRESSION]))
def test_any_feedback_payload_is_labels_or_an_invalid_input(
    payload: Any, schema: ModelSchema
) -> None:
    try:
        check_client_value(payload, fast=True)
        accepted = validate_feedback(payload, schema, max_labels=5)
    except InvalidInput as exc:
        assert_contract_error(exc)
    else:
        assert 1 <= len(accepted) <= 5
        encode_json(accepted)


# ---- boundaries --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [MAX_PROBLEM_DETAILS - 1, MAX_PROBLEM_DETAILS, 21, 10_000])
def test_problems_beyond_the_first_twenty_are_counted_not_listed(count: int) -> None:
    exc = InvalidInput("many", Problems(Problem(f"p{i}", row=i) for i in range(count)))
    assert exc.problem_count == count
    assert [d["row"] for d in exc.details()] == list(range(min(count, MAX_PROBLEM_DETAILS)))
    more = count - MAX_PROBLEM_DETAILS
    assert str(exc).endswith(f"and {more} more") == (more > 0)


def test_a_body_of_many_duplicate_ids_gives_a_small_error() -> None:
    ids = ["same"] * 200_000
    text = json.dumps({"instances": [GOOD] * 1000, "inference_ids": ids})
    with pytest.raises(InvalidInput) as caught:
        parse_predict_request(parse_body(text), SCHEMA, max_rows=1000)
    assert caught.value.problem_count == 1 + 999  # the count, then rows 1..999 duplicate row 0
    assert len(caught.value.details()) == MAX_PROBLEM_DETAILS
    assert len(encode_json(caught.value.details())) < 4_000


def test_echoed_keys_are_cut_short() -> None:
    key = "k" * 100_000
    with pytest.raises(InvalidInput) as caught:
        parse_predict_request({"instances": [{key: 1}]}, SCHEMA, max_rows=10)
    (detail,) = caught.value.details()
    assert detail["field"] == "k" * 117 + "..."


def _body_of_bytes(size: int, char: str) -> str:
    """A JSON string document of exactly `size` UTF-8 bytes made of `char` (and ASCII padding)."""
    width = len(char.encode())
    count, pad = divmod(size - 2, width)
    return '"' + char * count + "a" * pad + '"'


@pytest.mark.parametrize("char", ["a", "é", "😀"])
@pytest.mark.parametrize(("size", "too_large"), [(-1, False), (0, True), (1, True)])
def test_the_body_limit_counts_utf8_bytes(char: str, size: int, too_large: bool) -> None:
    text = _body_of_bytes(MAX_BODY_BYTES + size, char)
    assert len(text.encode()) == MAX_BODY_BYTES + size
    if too_large:
        with pytest.raises(InvalidInput) as caught:
            parse_body(text)
        assert caught.value.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    else:
        assert isinstance(parse_body(text), str)


@pytest.mark.parametrize(("size", "too_large"), [(-1, False), (0, True), (1, True)])
def test_the_body_limit_counts_decoded_base64_bytes(size: int, too_large: bool) -> None:
    encoded = base64.b64encode(_body_of_bytes(MAX_BODY_BYTES + size, "😀").encode()).decode()
    if too_large:
        with pytest.raises(InvalidInput) as caught:
            parse_body(encoded, isBase64Encoded=True)
        assert caught.value.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    else:
        assert isinstance(parse_body(encoded, isBase64Encoded=True), str)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_numbers_at_the_digit_limit(extra: int) -> None:
    digits = sys.get_int_max_str_digits() + extra
    text = '{"instances": [{"tenure_months": ' + "9" * digits + "}]}"
    if extra <= 0:
        with pytest.raises(InvalidInput) as caught:  # read, then out of float32's range
            parse_predict_request(parse_body(text), SCHEMA, max_rows=10)
        assert "out of range" in caught.value.details()[0]["problem"]
    else:
        with pytest.raises(InvalidInput) as caught:
            parse_body(text)
        assert caught.value.details() == [
            {"problem": f"a number with more than {digits - 1} digits"}
        ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"instances": [{"plan": "\\ud800"}]}', "instances[0].plan"),
        ('{"instances": [{"plan": "ok"}], "inference_ids": ["\\udfff"]}', "inference_ids[0]"),
        ('{"instances": [{"\\udc00x": 1}]}', "instances[0].\\udc00x"),
        ('{"labels": [{"inference_id": "a\\ud83d", "label": "no"}]}', "labels[0].inference_id"),
        ('{"instances": [{"plan": "\ud800"}]}', "instances[0].plan"),  # raw, not escaped
    ],
)
def test_lone_surrogates_are_named_where_they_are(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_body(text)
    (detail,) = caught.value.details()
    assert detail["field"] == field and "lone UTF-16 surrogate" in detail["problem"]


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    assert parse_body('{"plan": "\\ud83d\\ude00", "x": "\\\\ud800"}') == {
        "plan": "😀",
        "x": "\\ud800",
    }


@pytest.mark.parametrize("depth", [10, 5_000, 200_000])
def test_deep_nesting_is_a_value_or_an_invalid_input(depth: int) -> None:
    text = "[" * depth + "]" * depth
    try:
        value = parse_body(text)
    except InvalidInput as exc:
        assert exc.details() == [{"problem": "JSON nested too deeply"}]
    else:
        encode_json(value)  # deeper than orjson goes: the json module's fallback
        with pytest.raises(InvalidInput):
            parse_predict_request(value, SCHEMA, max_rows=10)


def test_a_huge_regression_value_is_a_problem_not_a_crash() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_feedback(
            {"labels": [{"inference_id": "a", "value": 10**4000}]}, REGRESSION, max_labels=5
        )
    assert caught.value.details() == [
        {"row": 0, "field": "value", "problem": f"number {'1' + '0' * 56}... is out of range"}
    ]


def test_the_encoder_never_fails_on_what_a_client_can_send() -> None:
    value = {"\ud800": ["\udfff", 10**30, "é"]}
    assert json.loads(encode_json(value)) == value
    assert encode_json(value, newline=True).endswith(b"\n")


@given(st.integers(min_value=0, max_value=40))
def test_clean_input_parses_as_the_json_module_parses_it(rows: int) -> None:
    text = json.dumps(
        {"instances": [GOOD] * rows, "inference_ids": [f"id-{i}" for i in range(rows)]}
    )
    assert parse_body(text) == json.loads(text)
