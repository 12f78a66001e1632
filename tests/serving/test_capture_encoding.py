"""Captured records encoded per request (capture.fit_lines) are byte for byte the lines the
record-by-record encoding (capture.fit_line) gives, whatever the records hold."""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from modelops.capture import (
    FIREHOSE_MAX_RECORD_BYTES,
    LOG_MAX_RECORD_BYTES,
    IdPool,
    feedback_record,
    fit_line,
    fit_lines,
    iso_timestamp,
    new_uuids,
    prediction_record,
    uuids_from_bytes,
)
from modelops.jsonio import NonFiniteNumber

AWKWARD = [
    '},{"eventVersion":"1"',
    '"},{"eventVersion":',
    "line\nbreak\r\n",
    "é ☃ \u2028 \U0001f600",
    "",
    "\\",
]


def _record(rng: random.Random, row: int, value: Any = None) -> dict[str, Any]:
    record = prediction_record(
        inference_id=f"id-{row}" if rng.random() < 0.5 else rng.choice(AWKWARD),
        inference_time="2026-11-30T12:00:00.000Z",
        request_id="req",
        source="api",
        model_name="churn",
        model_version=rng.randint(1, 9),
        features={
            "plan": rng.choice(AWKWARD) if value is None else value,
            "age": rng.choice([None, 37, 1.5, -0.0, 1e300, 2**63 - 1]),
            "flag": rng.choice([True, False]),
        },
        output={"label": "yes", "probabilities": {"no": 0.25, "yes": 0.75}},
        event_id=f"e-{row}",
    )
    if rng.random() < 0.3:
        record["rollout"] = {"id": "r1", "mode": "shadow"}
        record["shadow"] = {"model": {"name": "churn", "version": 2}, "output": {"label": "no"}}
    return record


def _per_record(records: list[dict[str, Any]], max_bytes: int) -> bytes:
    return b"".join(fit_line(r, max_bytes) for r in records)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rows", [1, 2, 7, 300])
def test_per_request_encoding_is_the_per_record_encoding(seed: int, rows: int) -> None:
    rng = random.Random(seed)
    records = [_record(rng, row) for row in range(rows)]
    for max_bytes in (LOG_MAX_RECORD_BYTES, FIREHOSE_MAX_RECORD_BYTES):
        assert fit_lines(records, max_bytes) == _per_record(records, max_bytes)
    assert fit_lines(records, LOG_MAX_RECORD_BYTES).count(b"\n") == rows


@pytest.mark.parametrize(
    "value",
    [2**64, "\ud800", NonFiniteNumber("NaN"), "x" * 3000],
    ids=["int-beyond-64-bits", "lone-surrogate", "non-finite-token", "long"],
)
def test_what_orjson_refuses_or_what_does_not_fit_takes_the_per_record_path(value: Any) -> None:
    rng = random.Random(7)
    records = [_record(rng, row, value) for row in range(3)]
    for max_bytes in (LOG_MAX_RECORD_BYTES, 2000):  # 2000: one record alone is too large
        assert fit_lines(records, max_bytes) == _per_record(records, max_bytes)


def test_at_the_size_limit_the_batch_is_encoded_at_once_or_per_record_alike() -> None:
    rng = random.Random(3)
    records = [_record(rng, row, "v") for row in range(4)]
    whole = len(_per_record(records, LOG_MAX_RECORD_BYTES))
    for max_bytes in (whole - 1, whole, whole + 1, whole // 4):
        assert fit_lines(records, max_bytes) == _per_record(records, max_bytes)


def test_feedback_records_and_an_empty_batch() -> None:
    records = [
        feedback_record(inference_id="a", received_time="t", label="yes"),
        feedback_record(inference_id='},{"eventVersion":', received_time="t", value=1.5),
    ]
    assert fit_lines(records, LOG_MAX_RECORD_BYTES) == _per_record(records, LOG_MAX_RECORD_BYTES)
    assert fit_lines([], LOG_MAX_RECORD_BYTES) == b""


def _uuid_by_hand(raw: bytes) -> list[str]:
    ids = []
    for start in range(0, len(raw), 16):
        octets = bytearray(raw[start : start + 16])
        octets[6] = (octets[6] & 0x0F) | 0x40
        octets[8] = (octets[8] & 0x3F) | 0x80
        ids.append(str(uuid.UUID(bytes=bytes(octets))))
    return ids


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 1000])
def test_uuids_in_one_call_are_version_4_uuids_of_the_given_bytes(count: int) -> None:
    raw = random.Random(count).randbytes(16 * count)
    ids = uuids_from_bytes(raw)
    assert ids == _uuid_by_hand(raw)
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert len(new_uuids(count)) == count


def test_a_batch_larger_than_one_line_may_be_is_still_encoded_at_once() -> None:
    """1000 records are far more than a log event holds; each line is not."""
    rng = random.Random(11)
    records = [_record(rng, row, "v") for row in range(1000)]
    whole = _per_record(records, LOG_MAX_RECORD_BYTES)
    assert len(whole) > LOG_MAX_RECORD_BYTES
    assert fit_lines(records, LOG_MAX_RECORD_BYTES) == whole
    longest = max(map(len, whole.splitlines(keepends=True)))
    for max_bytes in (longest - 1, longest, longest + 1, longest + 40):
        assert fit_lines(records, max_bytes) == _per_record(records, max_bytes)


class CountingSource:
    """Random bytes stand-in: numbered bytes, so every byte handed out can be traced."""

    def __init__(self) -> None:
        self.reads: list[int] = []
        self.served = 0

    def __call__(self, count: int) -> bytes:
        self.reads.append(count)
        out = bytes((self.served + i) % 256 for i in range(count))
        self.served += count
        return out


def test_the_pool_hands_out_each_id_of_its_reads_once_in_order() -> None:
    source = CountingSource()
    pool = IdPool(source, batch=4)  # 64 bytes a read
    taken = [pool.take(n) for n in (1, 1, 1, 1, 1, 1, 1, 1, 1)]
    assert source.reads == [64, 64, 64]
    by_hand = _uuid_by_hand(bytes(i % 256 for i in range(192)))
    assert [i for ids in taken for i in ids] == by_hand[:9]
    # A take that does not fit the rest of a batch starts a new one.
    again = CountingSource()
    pool = IdPool(again, batch=8)
    first = pool.take(2) + pool.take(2) + pool.take(2)
    second = pool.take(2) + pool.take(2)
    ids = _uuid_by_hand(bytes(i % 256 for i in range(256)))
    assert again.reads == [128, 128]
    assert first == ids[:6] and second[:2] == ids[6:8] and second[2:] == ids[8:10]


def test_more_than_a_quarter_of_a_batch_is_made_on_its_own() -> None:
    source = CountingSource()
    pool = IdPool(source, batch=8)
    assert len(pool.take(2)) == 2  # a quarter: from the pool
    assert len(pool.take(3)) == 3
    assert source.reads == [128, 48]
    pool.clear()
    pool.take(1)
    assert source.reads == [128, 48, 128]  # cleared: the rest of the first batch is dropped


def test_a_forked_child_never_repeats_its_parents_ids() -> None:
    new_uuids(1)  # the module's pool holds unread bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, "\n".join(new_uuids(50)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split("\n")
    os.waitpid(pid, 0)
    parent = new_uuids(50)
    assert len(child) == 50 and not set(child) & set(parent)


def test_ids_across_many_refills_are_distinct_version_4_uuids() -> None:
    ids = [i for n in range(1, 400) for i in new_uuids(n % 7)]
    assert len(ids) == len(set(ids)) == sum(n % 7 for n in range(1, 400))
    assert all(uuid.UUID(i).version == 4 for i in ids)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 26, 13, 5, 45, 123999, tzinfo=UTC), "2026-11-26T13:05:45.123Z"),
        (datetime(2026, 11, 26, 13, 5, 45, tzinfo=UTC), "2026-11-26T13:05:45.000Z"),
        (
            datetime(2026, 11, 26, 14, 5, 45, 1000, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-26T13:05:45.001Z",
        ),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
    ],
)
def test_capture_times_are_utc_with_milliseconds_and_a_z(moment: datetime, expected: str) -> None:
    assert iso_timestamp(moment) == expected
