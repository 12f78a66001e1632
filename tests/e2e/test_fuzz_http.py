"""Fuzzing `make api` over HTTP: generated requests to POST /predict and POST /feedback, each
answered 2xx or 4xx in the contract's error shape, never 5xx.

`make test` sends a few hundred per route; `make fuzz` (FUZZ_REQUESTS=10000) ten thousand and
prints the figures docs/RELIABILITY.md quotes. The requests are built from the contract's
valid bodies, then broken the ways clients and attackers break them: values JSON allows but
the system cannot carry (numbers of thousands of digits, lone surrogates, NaN), unknown and
odd keys, deep nesting, byte-level damage (truncation, stray bytes, invalid UTF-8), duplicate
ids by the thousand, other content types, and bodies over the limit counted in bytes.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from embedded_aws.local_api import RunningApi, stack_api

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]
KEY = "fuzz-key"
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "150"))  # per route
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
MAX_DETAILS = 20

FEATURES = ("tenure_months", "plan", "monthly_charges")
GOOD_VALUES = {
    "tenure_months": ["12", "0", "72", "3.5", "null"],
    "plan": ['"basic"', '"premium"', '"enterprise"', "null", '"unseen-plan"'],
    "monthly_charges": ["42.5", "19.99", "0", "null", "120"],
}
# Raw JSON tokens (or near-JSON) that a client can send in place of any value.
NASTY = [
    "9" * 4301,
    "9" * 4300,
    "-" + "1" * 5000,
    "1e400",
    "-1e400",
    "1e-400",
    "3.5e38",
    "18446744073709551616",
    "NaN",
    "-Infinity",
    '"\\ud800"',
    '"x\\udfff"',
    '"\\ud83d\\ude00"',
    '"\\ud83d"',
    '"\\\\ud800"',
    '"a\\u0000b"',
    '""',
    '"   "',
    "true",
    "false",
    "[]",
    "{}",
    '"' + "x" * 3000 + '"',
    '"😀é"',
    "[" * 600 + "]" * 600,
    '{"a":' * 40 + "1" + "}" * 40,
    "0.1e",
    "tru",
    "'single'",
]
ODD_KEYS = ['"extra"', '"\\ud800"', '"\\udc00key"', '""', '"' + "k" * 2000 + '"', '"😀"']
CONTENT_TYPES = [
    "application/json",
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
    "application/json\x7f",
    None,
]


def _value(rng: random.Random, feature: str) -> str:
    return rng.choice(NASTY) if rng.random() < 0.15 else rng.choice(GOOD_VALUES[feature])


def _obj(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"


def _id(rng: random.Random, i: int) -> str:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(NASTY)
    if roll < 0.15:
        return '"dup"'
    return json.dumps(f"id-{rng.randrange(10**6)}-{i}")


def predict_body(rng: random.Random) -> str:
    rows = rng.choice([1, 1, 2, 3, 5, 20, 0, 1001]) if rng.random() < 0.95 else 1000
    instances = []
    for _ in range(rows):
        pairs = [(json.dumps(f), _value(rng, f)) for f in FEATURES if rng.random() < 0.9]
        if rng.random() < 0.1:
            pairs.append((rng.choice(ODD_KEYS), rng.choice([*NASTY, "1"])))
        instances.append(_obj(pairs) if rng.random() > 0.03 else rng.choice(NASTY))
    top = [('"instances"', "[" + ",".join(instances) + "]")]
    if rng.random() < 0.6:
        count = rows + rng.choice([0, 0, 0, 1, -1])
        top.append(('"inference_ids"', "[" + ",".join(_id(rng, i) for i in range(count)) + "]"))
    if rng.random() < 0.05:
        top.append((rng.choice(ODD_KEYS), rng.choice(NASTY)))
    rng.shuffle(top)
    return _obj(top) if rng.random() > 0.03 else rng.choice(NASTY)


def feedback_body(rng: random.Random) -> str:
    labels = []
    for i in range(rng.choice([1, 1, 2, 5, 0, 1001])):
        pairs = [('"inference_id"', _id(rng, i))]
        roll = rng.random()
        if roll < 0.7:
            label = rng.choice(NASTY) if rng.random() < 0.15 else rng.choice(['"yes"', '"no"'])
            pairs.append(('"label"', label if rng.random() > 0.05 else '"maybe"'))
        elif roll < 0.85:
            pairs.append(('"value"', rng.choice(["1.5", *NASTY])))
        if rng.random() < 0.1:
            pairs.append((rng.choice(ODD_KEYS), "1"))
        rng.shuffle(pairs)
        labels.append(_obj(pairs) if rng.random() > 0.03 else rng.choice(NASTY))
    top = [('"labels"', "[" + ",".join(labels) + "]")]
    if rng.random() < 0.05:
        top.append((rng.choice(ODD_KEYS), "1"))
    return _obj(top) if rng.random() > 0.03 else rng.choice(NASTY)


def damage(rng: random.Random, data: bytes) -> bytes:
    """Byte-level damage, as a broken client or a hostile one sends it."""
    if not data:
        return data
    at = rng.randrange(len(data))
    match rng.randrange(6):
        case 0:
            return data[:at]
        case 1:
            return data[:at] + bytes([rng.randrange(256)]) + data[at:]
        case 2:
            return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
        case 3:
            return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]) + data[at:]
        case 4:
            return data[:at] + data[at : at + 64] * rng.randrange(2, 50) + data[at:]
        case _:
            return data + b"}" * rng.randrange(1, 5)


def huge_body(rng: random.Random, route: str) -> bytes:
    """Bodies at and over the 6 MiB limit, in bytes: 4-byte characters, duplicate ids."""
    if rng.random() < 0.5:
        # Under 6 MiB in characters, over it in UTF-8 bytes.
        return ('{"instances": [{"plan": "' + "😀" * 1_700_000 + '"}]}').encode()
    ids = ",".join(['"same-id"'] * 600_000)
    if route == "/predict":
        return ('{"instances": [{}], "inference_ids": [' + ids + "]}").encode()
    return (
        '{"labels": [' + ",".join(['{"inference_id": "x", "label": "no"}'] * 160_000) + "]}"
    ).encode()


@dataclass
class Tally:
    tried: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    largest_error: int = 0
    largest_request: int = 0


def check(route: str, status: int, payload: bytes, tally: Tally, sent: bytes) -> None:
    tally.tried += 1
    tally.by_status[status] = tally.by_status.get(status, 0) + 1
    tally.largest_request = max(tally.largest_request, len(sent))
    where = f"{route} {status} for {sent[:120]!r}"
    if status >= 500:
        tally.failures.append(f"5xx: {where}: {payload[:300]!r}")
        return
    try:
        body = json.loads(payload)
    except ValueError:
        tally.failures.append(f"not JSON: {where}")
        return
    if status < 300:
        ok = "predictions" in body if route == "/predict" else set(body) == {"accepted"}
        if not ok:
            tally.failures.append(f"2xx without the contract's body: {where}")
        return
    tally.largest_error = max(tally.largest_error, len(payload))
    error = body.get("error") if isinstance(body, dict) else None
    problems = []
    if not isinstance(error, dict) or set(error) - {"type", "message", "details", "problem_count"}:
        problems.append("not the error shape")
    else:
        details = error.get("details")
        if not isinstance(error.get("type"), str) or not isinstance(error.get("message"), str):
            problems.append("type and message must be strings")
        if not isinstance(details, list) or len(details) > MAX_DETAILS:
            problems.append("details must be a list of at most 20")
        elif not all(isinstance(d, dict) and isinstance(d.get("problem"), str) for d in details):
            problems.append("each detail needs a problem")
        elif "problem_count" in error and error["problem_count"] < len(details):
            problems.append("problem_count below the details listed")
    if problems:
        tally.failures.append(f"{', '.join(problems)}: {where}: {payload[:300]!r}")


def post(url: str, data: bytes, content_type: str | None) -> tuple[int, bytes]:
    headers = {"x-api-key": KEY} | ({"Content-Type": content_type} if content_type else {})
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def running() -> Iterator[RunningApi]:
    with stack_api(api_key=KEY, port=0, stack_name=f"fuzz-{uuid.uuid4().hex[:8]}") as api:
        yield api


@pytest.mark.parametrize(
    ("route", "make_body"), [("/predict", predict_body), ("/feedback", feedback_body)]
)
def test_generated_requests_are_never_5xx_and_4xx_are_in_the_error_shape(
    running: RunningApi,
    route: str,
    make_body: Callable[[random.Random], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(f"{SEED}{route}")  # this test's own generator
    requests = []
    for _ in range(REQUESTS):
        roll = rng.random()
        if roll < 1 / 1000 or len(requests) == 1:  # at least one in every run
            data = huge_body(rng, route)
        else:
            data = make_body(rng).encode("utf-8", "surrogatepass")
            if roll > 0.8:
                data = damage(rng, data)
        content_type = rng.choice(CONTENT_TYPES) if rng.random() < 0.1 else "application/json"
        requests.append((data, content_type))

    tally = Tally()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = pool.map(lambda r: post(f"{running.url}{route}", *r), requests)
        for (data, _), (status, payload) in zip(requests, answers, strict=True):
            check(route, status, payload, tally, data)
    seconds = time.perf_counter() - started

    with capsys.disabled():
        print(
            f"\nFUZZ {route}: {tally.tried} requests in {seconds:.1f} s, "
            f"5xx: {sum(n for s, n in tally.by_status.items() if s >= 500)}, "
            f"statuses {dict(sorted(tally.by_status.items()))}, "
            f"largest error response {tally.largest_error} bytes, "
            f"largest request {tally.largest_request} bytes"
        )
    assert tally.tried == REQUESTS
    assert tally.by_status.get(200 if route == "/predict" else 202), "no valid request served"
    assert tally.by_status.get(400) and tally.by_status.get(413), tally.by_status
    assert not tally.failures, "\n".join(tally.failures[:20])
