"""Client JSON in and out: the one parser of what clients send and the one encoder of what
the functions write back (responses, captured and feedback records).

Python's json module accepts things the rest of the system cannot handle: integers of more
than 4,300 digits (it raises a bare ValueError), NaN/Infinity tokens, and strings holding lone
UTF-16 surrogates ("\\ud800"), which no UTF-8 encoder (orjson, onnxruntime's string input,
the S3 body) accepts. `parse_client_json` turns each into an InvalidInput that names the
problem and where it is, so every door (API body, direct invocation) rejects them the same
way before any validator, model or sink sees them; `encode_json` never fails on anything a
parsed value can hold.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modelops.errors import InvalidInput, Problem, Problems, echo

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A \u escape of a surrogate: the only way a pure-ASCII body can smuggle one in (a valid
# pair is joined into one character by the parser; any surrogate left after parsing is lone).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class NonFiniteNumber:
    """A NaN/Infinity token in a JSON body: kept so validation can name its row and field.

    Python's json module accepts these non-standard tokens; the contract rejects them.
    """

    token: str

    def __repr__(self) -> str:
        return self.token


# A run of 19 digits may be an integer orjson reads as a float (beyond 64 bits) rather than
# as the exact int the json module gives. Found with two C passes over the bytes (every
# digit made "0", then a substring search): a regular expression takes longer than orjson's
# whole parse on a 1000-row body.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19


def parse_client_json(text: str) -> Any:
    """Strict JSON from a client (NaN/Infinity become NonFiniteNumber for the validator to
    report); InvalidInput for anything else the system could not carry.

    orjson reads a body several times faster than the json module and gives the same values
    for everything it accepts, except integers beyond 64 bits (it makes them floats), so a
    body with a 19-digit run takes the json module, as does anything orjson refuses (NaN
    tokens, lone surrogates, numbers beyond float range, malformed JSON): those keep exactly
    the json module's values and errors."""
    raw = text.encode("utf-8", "surrogatepass")
    if _LONG_RUN not in raw.translate(_DIGITS_AS_ZERO):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            return _checked(text, value)
    return _checked(text, _parse_with_json(text))


def _checked(text: str, value: Any) -> Any:
    # Cheap tests on the text first: the tree is walked only when a surrogate may be there.
    if (not text.isascii() and _LONE_SURROGATE.search(text)) or (
        "\\u" in text and _SURROGATE_ESCAPE.search(text)
    ):
        check_client_value(value)
    return value


def _parse_with_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=NonFiniteNumber)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "the request body is not valid JSON",
            [Problem(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")],
        ) from None
    except RecursionError:
        raise InvalidInput(
            "the request body is not valid JSON", [Problem("JSON nested too deeply")]
        ) from None
    except ValueError:
        # int(): "Exceeds the limit (4300 digits) for integer string conversion".
        raise InvalidInput(
            "the request body holds a number too long to read",
            [Problem(f"a number with more than {sys.get_int_max_str_digits()} digits")],
        ) from None


def check_client_value(value: Any, *, fast: bool = False) -> None:
    """InvalidInput listing every string (key or value) holding a lone UTF-16 surrogate.

    `fast`: first try orjson, which refuses such strings; a direct invocation's event (parsed
    by the Lambda runtime, not by us) then costs one C pass when it is clean."""
    if fast:
        try:
            orjson.dumps(value)
            return
        except (orjson.JSONEncodeError, TypeError):
            pass  # a surrogate, or something else orjson refuses: look closer
    problems = Problems()
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:  # iterative: client nesting must not exhaust Python's recursion limit
        node, path = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _LONE_SURROGATE.search(node):
                problems.append(_surrogate_problem(node, path))
        elif isinstance(node, Mapping):
            for key, item in node.items():
                key_text = str(key)
                child = f"{path}.{key_text}" if path else key_text
                if not key_text.isascii() and _LONE_SURROGATE.search(key_text):
                    problems.append(_surrogate_problem(key_text, child, what="key"))
                stack.append((item, child))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node))
    if problems:
        count = len(problems)
        raise InvalidInput(
            f"{count} string{'s' if count != 1 else ''} in the request "
            f"{'are' if count != 1 else 'is'} not valid Unicode",
            problems,
        )


def direct_payload(event: Any) -> Any:
    """A direct invocation's event, held to the same rules as a parsed API body."""
    check_client_value(event, fast=True)
    return event


def _surrogate_problem(text: str, path: str, *, what: str = "value") -> Problem:
    found = _LONE_SURROGATE.search(text)
    assert found is not None
    code = f"\\u{ord(found.group()):04x}"
    return Problem(
        f"the {what} holds a lone UTF-16 surrogate ({code}), which is not valid Unicode",
        field=echo(path) if path else None,
    )


def encode_json(value: Any, *, newline: bool = False) -> bytes:
    """Compact UTF-8 JSON. orjson first (several times the json module's speed, which matters
    at one line per served row and on 1000-row responses); what it refuses (integers beyond
    64 bits, lone surrogates) takes the json module, so this never fails on a parsed client
    value. A lone surrogate can only sit inside a JSON string, where backslashreplace writes
    it as its own valid escape (\\ud800)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE if newline else None)
    except orjson.JSONEncodeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return (text + "\n" if newline else text).encode("utf-8", "backslashreplace")
