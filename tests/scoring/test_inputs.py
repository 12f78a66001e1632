"""Row ranges: every line of an object is read exactly once, whatever the chunk size."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modelops.scoring.inputs import S3Location, byte_ranges, read_lines, row_id


def _object(s3: Any, bucket: str, body: bytes) -> str:
    s3.put_object(Bucket=bucket, Key="in/data.jsonl", Body=body)
    return "in/data.jsonl"


def _all_lines(s3: Any, bucket: str, key: str, size: int, chunk: int) -> list[tuple[int, bytes]]:
    lines = []
    for start, end in byte_ranges(size, chunk):
        lines += read_lines(s3, bucket, key, start, end, size)
    return lines


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 6, 7, 8, 64, 10_000])
def test_ranges_read_every_line_once_at_any_boundary(s3: Any, bucket: str, chunk: int) -> None:
    # Lines of 5 bytes + newline: chunks of 5, 6 and 7 end just before, on and after a line start.
    body = b"".join(f"row{i:02d}\n".encode() for i in range(12))
    key = _object(s3, bucket, body)
    lines = _all_lines(s3, bucket, key, len(body), chunk)
    assert [line for _, line in lines] == [f"row{i:02d}".encode() for i in range(12)]
    assert [offset for offset, _ in lines] == [6 * i for i in range(12)]


def test_ranges_keep_a_last_line_without_newline_and_long_lines(s3: Any, bucket: str) -> None:
    rng = random.Random(7)
    rows = [("x" * rng.randint(0, 200_000)).encode() for _ in range(5)] + [b"tail"]
    body = b"\n".join(rows)  # no newline after the last line
    key = _object(s3, bucket, body)
    lines = _all_lines(s3, bucket, key, len(body), 50_000)
    assert [line for _, line in lines] == [r for r in rows if r]


def test_a_range_inside_one_long_line_reads_nothing(s3: Any, bucket: str) -> None:
    body = b"a" * 100 + b"\nb\n"
    key = _object(s3, bucket, body)
    assert read_lines(s3, bucket, key, 10, 20, len(body)) == []
    assert read_lines(s3, bucket, key, 0, 10, len(body)) == [(0, b"a" * 100)]


def test_byte_ranges_cover_the_object_without_overlap() -> None:
    assert byte_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert byte_ranges(8, 4) == [(0, 4), (4, 8)]
    assert byte_ranges(0, 4) == []


def test_locations_and_row_ids() -> None:
    assert S3Location.parse("s3://b/p/q/") == S3Location("b", "p/q/")
    assert S3Location("b", "p/q/").key("x") == "p/q/x"
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        S3Location.parse("/local/path")
    with pytest.raises(ValueError, match="names no bucket"):
        S3Location.parse("s3:///p")
    # deterministic: a re-run gives a row the same id; another offset, another id
    assert row_id("b", "k", 6) == row_id("b", "k", 6) != row_id("b", "k", 7)
