"""The words for problems with client input, one source for every route.

Predictions over the API, the direct-invocation door and feedback report the same problem
(a body that is not an object, an unknown key, an empty or oversized array, a bad inference
id, a value that is not a finite number) in the same words, built here. Each function
returns the text of one Problem (modelops.errors) or the Problem itself; where it is
(`row`, `field`, `path`) is the caller's.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from modelops.errors import InvalidInput, Problem, Problems
from modelops.jsonio import NonFiniteNumber

MAX_INFERENCE_ID_LENGTH = 256
FLOAT32_MAX = 3.4028234663852886e38
# The expected names listed in an unknown-name problem; the rest are counted (the model card,
# GET /models/{name}, lists them all).
MAX_NAMES_LISTED = 12


def describe(value: Any) -> str:
    """A short, JSON-like rendering of a client's value for a problem message."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, NonFiniteNumber):
        return value.token
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if type(value) is int and value.bit_length() > 14_000:
        return "an integer of thousands of digits"  # beyond what str() of an int may show
    if isinstance(value, str) and len(value) > 60:
        value = value[:60]  # a client's string can be megabytes long; only 57 are shown
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def got(value: Any) -> str:
    """`describe`, with "nothing" for an absent value (None from dict.get)."""
    return "nothing" if value is None else describe(value)


def summary(count: int) -> str:
    """The message of an InvalidInput listing `count` problems."""
    return f"{count} problem{'s' if count != 1 else ''} in the request"


def invalid(problems: Problems) -> InvalidInput:
    return InvalidInput(summary(len(problems)), problems)


def not_an_object(value: Any, keys: str) -> InvalidInput:
    """The body (or event) is not a JSON object; `keys` names what it should hold."""
    return invalid(Problems([Problem(f"expected a JSON object with {keys}, got {got(value)}")]))


def closest(name: str, expected: Sequence[str]) -> str | None:
    """The expected name `name` was most likely meant to be (a case slip first), if any."""
    folded = {e.casefold(): e for e in expected}
    if name.casefold() in folded:
        return folded[name.casefold()]
    matches = difflib.get_close_matches(name, expected, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name(name: str, expected: Sequence[str], what: str) -> str:
    """`name` is not one of `expected`: the closest match first (it survives the cut of long
    messages), then the expected names."""
    guess = closest(str(name), expected)
    hint = f"; did you mean {guess!r}?" if guess is not None else ""
    listed = ", ".join(expected[:MAX_NAMES_LISTED])
    more = len(expected) - MAX_NAMES_LISTED
    if more > 0:
        listed += f" and {more} more"
    return f"unknown {what}{hint or ';'} expected: {listed}"


def array_problem(value: Any, what: str, limit: int) -> str | None:
    """What is wrong with `value` as the request's array of 1 to `limit` `what`s, if anything
    (its length above the limit is too_many's)."""
    if not isinstance(value, list):
        return f"expected an array of 1 to {limit} {what}, got {got(value)}"
    if not value:
        return f"expected an array of 1 to {limit} {what}, got an empty array"
    return None


def too_many(count: int, what: str, limit: int, field: str) -> InvalidInput:
    return InvalidInput(
        f"too many {what} in the request",
        [Problem(f"{count} {what}; at most {limit} per request", field=field)],
        status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    )


def inference_id_problem(
    value: Any, first_row: dict[str, int], row: int, *, sent: bool = True
) -> str | None:
    """What is wrong with `value` as the inference id of `row` (`sent`: the key was there),
    if anything; a good id is recorded in `first_row` (the row that used it first) to find
    duplicates."""
    if type(value) is not str:
        return f"expected a string, got {describe(value) if sent else 'nothing'}"
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_INFERENCE_ID_LENGTH:
        return f"longer than {MAX_INFERENCE_ID_LENGTH} characters"
    if value in first_row:
        return f"duplicate of row {first_row[value]} ({describe(value)})"
    first_row[value] = row
    return None


def number_problem(value: Any, *, float32: bool) -> str | None:
    """What keeps `value` from being a finite JSON number (within float32's range when the
    model computes in float32), if anything."""
    kind = type(value)
    if kind is int or kind is float:
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer of hundreds of digits
            finite = False
        if not finite and kind is float:
            return f"expected a finite number, got {describe(value)}"
        if float32 and (not finite or abs(value) > FLOAT32_MAX):
            return f"number {describe(value)} is out of range (the model computes in float32)"
        if not finite:
            return f"number {describe(value)} is out of range"
        return None
    if kind is bool:
        return f"expected a number, got a boolean ({describe(value)})"
    if kind is NonFiniteNumber:
        return f"expected a finite number, got {value.token}"
    return f"expected a number, got {got(value)}"


def category_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return None
    return f"expected a string (a category), got {describe(value)}"


REQUIRED_MISSING = "required feature is missing (the model was trained without missing values)"
REQUIRED_NULL = "required feature is null (the model was trained without missing values)"
