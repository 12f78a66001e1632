"""Reading batch-scoring inputs: S3 locations, formats, row ranges and rows.

Parquet files split by row group instead (modelops.scoring.parquet).

Line-based formats (CSV with a header line, JSON Lines) split at byte offsets: a line belongs
to the range that holds its first byte, so ranges can be read independently and every line is
read exactly once. A CSV field holding a line break (quoted) cannot be split this way: such a
file must be scored as one range (chunk size at least its size).
"""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from modelops.schema import FeatureKind, ModelSchema

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
NOT_SUPPORTED = {
    ".gz": "compressed inputs cannot be split into row ranges; store them uncompressed "
    "(or as Parquet, whose pages are compressed inside the file)",
}
# Lines are read past a range's end in pieces of this size until the last line ends.
READ_AHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str, *, what: str = "location") -> S3Location:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"the {what} must be an s3://bucket/prefix URI, got {uri!r}")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"the {what} {uri!r} names no bucket")
        return cls(bucket, prefix)

    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix.rstrip('/')}/{name}" if self.prefix else name


def input_format(key: str) -> str | None:
    """ "csv", "jsonl" or "parquet" by the key's extension; None when not a scoring input."""
    lowered = key.lower()
    for ext, fmt in FORMATS.items():
        if lowered.endswith(ext):
            return fmt
    return None


def unsupported_reason(key: str) -> str:
    lowered = key.lower()
    for ext, reason in NOT_SUPPORTED.items():
        if lowered.endswith(ext):
            return reason
    return f"not a scoring input (expected one of {', '.join(FORMATS)})"


def byte_ranges(size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering `size` bytes, each at most chunk_bytes long."""
    if size <= 0:
        return []
    return [(start, min(start + chunk_bytes, size)) for start in range(0, size, chunk_bytes)]


def _get_range(s3: Any, bucket: str, key: str, first: int, last: int) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")[
        "Body"
    ].read()
    return body


def read_lines(
    s3: Any, bucket: str, key: str, start: int, end: int, size: int
) -> list[tuple[int, bytes]]:
    """The lines whose first byte lies in [start, end), each with its byte offset."""
    if start >= end:
        return []
    first = start - 1 if start > 0 else 0
    data = _get_range(s3, bucket, key, first, end - 1)
    offset = first
    if start > 0:
        # The byte before the range tells whether a line starts at `start`.
        cut = data.find(b"\n")
        if cut < 0:
            return []
        data, offset = data[cut + 1 :], offset + cut + 1
    fetched_to = end  # exclusive
    while data and not data.endswith(b"\n") and fetched_to < size:
        more = _get_range(s3, bucket, key, fetched_to, min(fetched_to + READ_AHEAD_BYTES, size) - 1)
        cut = more.find(b"\n")
        data += more if cut < 0 else more[: cut + 1]
        fetched_to += len(more)
        if cut >= 0:
            break
    lines: list[tuple[int, bytes]] = []
    for line in data.split(b"\n"):
        if line.strip():
            lines.append((offset, line.rstrip(b"\r")))
        offset += len(line) + 1
    return lines


def read_header(s3: Any, bucket: str, key: str, size: int) -> list[str]:
    """A CSV object's header line (its first line), as column names."""
    lines = read_lines(s3, bucket, key, 0, min(size, 1), size)
    if not lines:
        raise ValueError(f"s3://{bucket}/{key} has no header line")
    return next(csv.reader([lines[0][1].decode("utf-8-sig")]))


@dataclass(frozen=True)
class Row:
    """One input row: where it is (the byte offset of its line; a Parquet file's row number),
    its id, and its values or what is wrong with it."""

    offset: int
    inference_id: str
    values: dict[str, Any] | None
    problem: str | None = None


def row_id(bucket: str, key: str, offset: int) -> str:
    """A deterministic id for a row without one: a re-run gives each row the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"s3://{bucket}/{key}#{offset}"))


def parse_rows(
    lines: list[tuple[int, bytes]],
    *,
    fmt: str,
    header: list[str] | None,
    bucket: str,
    key: str,
    id_column: str,
) -> Iterator[Row]:
    id_index = header.index(id_column) if header and id_column in header else None
    for offset, raw in lines:
        if fmt == "csv" and offset == 0:
            continue  # the header line
        values: Any = None
        problem = None
        given: Any = None
        try:
            if fmt == "csv":
                assert header is not None
                fields = next(csv.reader([raw.decode("utf-8")]))
                if id_index is not None and id_index < len(fields):
                    given = fields[id_index]  # a malformed row keeps its id in the report
                if len(fields) != len(header):
                    problem = f"expected {len(header)} fields, got {len(fields)}"
                else:
                    values = dict(zip(header, fields, strict=True))
            else:
                values = orjson.loads(raw)
                if not isinstance(values, dict):
                    values, problem = None, "expected a JSON object per line"
                else:
                    given = values.get(id_column)
        except (UnicodeDecodeError, orjson.JSONDecodeError, csv.Error) as exc:
            values, problem = None, f"unreadable line: {exc}"
        inference_id = str(given) if given not in (None, "") else row_id(bucket, key, offset)
        yield Row(offset, inference_id, values, problem)


def instance(values: dict[str, Any], schema: ModelSchema, *, csv_strings: bool) -> dict[str, Any]:
    """The model's features of a row (other columns, an id or a target, are left out). CSV
    fields are text: an empty field is missing, a numeric feature's text becomes a number
    (text that is no number is passed on, for the door to name the problem)."""
    result: dict[str, Any] = {}
    for spec in schema.features:
        value = values.get(spec.name)
        if csv_strings and isinstance(value, str):
            if value == "":
                value = None
            elif spec.kind is FeatureKind.NUMERIC:
                with contextlib.suppress(ValueError):
                    value = float(value)
        result[spec.name] = value
    return result


def jsonl(records: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    for record in records:
        out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    return out.getvalue()
