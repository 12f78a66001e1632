"""The request body reader takes orjson where it gives exactly what the json module gives,
and the json module everywhere else: values (types included: an int stays an int, -0.0 keeps
its sign) and errors are the json module's, whatever the body."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelops.errors import InvalidInput
from modelops.jsonio import NonFiniteNumber, parse_client_json


def _reference(text: str) -> Any:
    """What the reader gave before orjson: the json module, NaN tokens as NonFiniteNumber."""
    return json.loads(text, parse_constant=NonFiniteNumber)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


EDGES = [
    "1e400",
    "-1e400",
    "-0",
    "-0.0",
    '{"a": 1, "a": 2}',
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678",
    "1234567890123456789",
    "0.1234567890123456789",
    "5e-324",
    "1.7976931348623157e308",
    "2.2250738585072011e-308",
    '{"instances": [{"x": NaN, "y": Infinity, "z": -Infinity}]}',
    '"\\ud83d\\ude00"',
    '"é ☃"',
    '{"a": [1, 2.5, true, false, null, "s"]}',
    "[" * 50 + "]" * 50,
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_bodies_read_as_the_json_module_reads_them(text: str) -> None:
    assert _same(parse_client_json(text), _reference(text))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(JSON, st.booleans())
def test_any_json_value_reads_as_the_json_module_reads_it(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _same(parse_client_json(text), _reference(text))


@pytest.mark.parametrize(
    "text", ['{"a": ', "[1,]", '"\\ud800"', '"\x00"', "\ufeff{}", "{} x", "1" * 5000]
)
def test_bad_bodies_fail_as_before(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_client_json(text)
    try:
        _reference(text)
        reference = None
    except (ValueError, RecursionError) as exc:
        reference = exc
    message = caught.value.message
    if isinstance(reference, json.JSONDecodeError):
        assert message == "the request body is not valid JSON"
        assert caught.value.details()[0]["problem"].startswith(
            f"malformed JSON at line {reference.lineno} column {reference.colno}"
        )
    elif reference is not None:
        assert message == "the request body holds a number too long to read"
    else:  # the json module reads it; the reader refuses what it holds (a lone surrogate)
        assert "not valid Unicode" in message
