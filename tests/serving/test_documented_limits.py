"""The request limits docs/SERVING.md states, as the numbers it states (not the code's own
constants): a body of 6 MiB or more in UTF-8 bytes is 413, and numbers must lie within
float32's range, ±3.4028234663852886e38 included."""

from __future__ import annotations

import base64
import json
import math
from http import HTTPStatus
from typing import Any

import numpy as np
import pytest

from modelops.errors import InvalidInput
from modelops.http import read_json_body
from modelops.serving.request import parse_predict_request
from tests.serving.conftest import api_event
from tests.serving.test_request import SCHEMA

SIX_MIB = 6_291_456
LARGEST_FLOAT32 = 3.4028234663852886e38


def body_of_bytes(size: int) -> str:
    """A JSON string document of exactly `size` UTF-8 bytes, with a 2-byte character in it."""
    text = '"é' + "a" * (size - 4) + '"'
    assert len(text.encode()) == size
    return text


@pytest.mark.parametrize("base64_encoded", [False, True])
@pytest.mark.parametrize(("size", "too_large"), [(SIX_MIB - 1, False), (SIX_MIB, True)])
def test_a_body_of_6_mib_or_more_is_413(size: int, too_large: bool, base64_encoded: bool) -> None:
    text = body_of_bytes(size)
    raw = base64.b64encode(text.encode()).decode() if base64_encoded else text
    event = api_event(raw_body=raw, isBase64Encoded=base64_encoded)
    if not too_large:
        assert read_json_body(event) == text[1:-1]
        return
    with pytest.raises(InvalidInput) as caught:
        read_json_body(event)
    assert caught.value.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert caught.value.details()[0]["problem"].endswith("the limit is 6291455 bytes")


def test_the_documented_float32_bound_is_float32s_largest_value() -> None:
    assert float(np.finfo(np.float32).max) == LARGEST_FLOAT32


def value_problems(value: Any) -> list[dict[str, Any]]:
    payload = {"instances": [{"tenure_months": value, "monthly_charges": 1.0, "plan": "basic"}]}
    try:
        parse_predict_request(payload, SCHEMA, max_rows=10)
    except InvalidInput as exc:
        return exc.details()
    return []


ABOVE = math.nextafter(LARGEST_FLOAT32, math.inf)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (LARGEST_FLOAT32, True),
        (-LARGEST_FLOAT32, True),
        (math.nextafter(LARGEST_FLOAT32, 0.0), True),
        (int(LARGEST_FLOAT32), True),
        (ABOVE, False),
        (-ABOVE, False),
        (int(LARGEST_FLOAT32) + 1, False),
    ],
)
def test_numbers_within_float32s_range_are_accepted_and_beyond_it_refused(
    value: float, accepted: bool
) -> None:
    problems = value_problems(value)
    if accepted:
        assert problems == []
    else:
        assert [(p["field"], "out of range" in p["problem"]) for p in problems] == [
            ("tenure_months", True)
        ]


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("3.4028234663852886e38", True),
        ("-3.4028234663852886e38", True),
        ("3.4028234663852890e38", False),
    ],
)
def test_the_float32_bound_holds_for_numbers_read_from_json(text: str, accepted: bool) -> None:
    body = '{"instances": [{"tenure_months": ' + text + ', "monthly_charges": 1, "plan": "basic"}]}'
    payload = read_json_body(api_event(raw_body=body))
    assert json.loads(text) == payload["instances"][0]["tenure_months"]
    assert (value_problems(payload["instances"][0]["tenure_months"]) == []) is accepted
