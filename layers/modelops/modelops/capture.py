"""Captured records (contract section 5) and the sinks that deliver them as JSON lines.

A sink takes records and writes each as one JSON line (`encode_record`, the one encoding
every sink uses, so all sinks produce byte-for-byte the same lines). The records' S3 prefix
(capture/<name>/YYYY/MM/DD/HH/, feedback/<name>/...) is the delivery stream's business:

- `LogSink`: the line is written to stdout (the function's log). A CloudWatch Logs
  subscription filter selects such lines into a Firehose stream that extracts the message
  and delivers it under the prefix. No network call in the request path.
- `FirehoseSink`: PutRecordBatch straight onto a Firehose stream, within its limits (500
  records, 4 MiB per call, 1,000 KiB per record), retrying the failed entries of a partial
  failure a bounded number of times.
- `S3Sink`: one JSON-lines object per write under prefix/YYYY/MM/DD/HH/ (for low-volume
  records such as feedback, and for tools that need no stream).

A sink raises CaptureError when records could not be delivered; callers that must not fail
because of capture (the predict function) catch it, log it and count it. `SpillingSink`
puts a sink's undelivered records in a dead-letter place instead (capture-dlq/<name>/ in
the bucket, replayed by the monitor), so a sink outage loses nothing. A record larger than
its sink's limit (Firehose 1,000 KiB, a log event 256 KiB) is captured truncated and
flagged (`fit_line`), never dropped.
"""

from __future__ import annotations

import bisect
import json
import operator
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, Protocol, TextIO, cast, overload

import numpy as np
import orjson
from botocore.exceptions import BotoCoreError, ClientError

from modelops import aws, resilience
from modelops.errors import ModelOpsError
from modelops.jsonio import encode_json

EVENT_VERSION = "1"
# Format 2: one record per request (and model version), the rows as columns.
REQUEST_EVENT_VERSION = "2"
CAPTURE_FORMATS = ("rows", "requests")

# Firehose limits (https://docs.aws.amazon.com/firehose/latest/dev/limits.html).
FIREHOSE_MAX_BATCH_RECORDS = 500
FIREHOSE_MAX_BATCH_BYTES = 4 * 1024 * 1024
FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024
FIREHOSE_MAX_ATTEMPTS = 3
# CloudWatch Logs' event limit (256 KiB), less room for the log's own framing: the log
# sink's lines reach Firehose through a subscription filter only if they fit one event.
LOG_MAX_RECORD_BYTES = 255 * 1024
# A truncated record keeps this many characters of each string input value.
TRUNCATED_VALUE_CHARS = 1024


class CaptureError(ModelOpsError):
    """Some records could not be delivered; `failed` says how many, `lines` are those
    records' encoded lines when the sink knows which (for a dead-letter place)."""

    def __init__(self, message: str, *, failed: int, lines: Sequence[bytes] = ()) -> None:
        super().__init__(message)
        self.failed = failed
        self.lines = list(lines)


def iso_timestamp(moment: datetime) -> str:
    """UTC with milliseconds and a Z, as in the contract: 2026-11-26T13:05:45.123Z."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" becomes "Z"


def new_uuid() -> str:
    """A random (version 4) UUID string; several times cheaper than str(uuid.uuid4()),
    which matters at one or two per served row."""
    return new_uuids(1)[0]


def new_uuids(count: int) -> list[str]:
    """`count` random UUIDs from the OS's random source."""
    return _ID_POOL.take(count)


class IdPool:
    """Random (version 4) UUID strings made `batch` at a time: one read of `source` (the OS's
    random source) and numpy's formatting for the whole batch, so a small request's ids (an
    inference id and an event id per row) cost a list slice. Each id is handed out once;
    `clear` drops the rest (the module's pool is cleared in a forked child, which so never
    repeats its parent's ids). More than a quarter of a batch at once is made on its own."""

    def __init__(self, source: Callable[[int], bytes] = os.urandom, batch: int = 256) -> None:
        self._source = source
        self._batch = batch
        self._ids: list[str] = []
        self._at = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        self._ids, self._at = [], 0

    def after_fork(self) -> None:
        """In a forked child: nothing of the parent's, not even a lock one of its other
        threads held at the fork."""
        self._lock = threading.Lock()
        self.clear()

    def take(self, count: int) -> list[str]:
        if count > self._batch // 4:
            return uuids_from_bytes(self._source(16 * count))
        # Threads serving requests side by side (the local API's server) must never be
        # handed the same slice: the read and the move of `_at` happen under one lock.
        with self._lock:
            end = self._at + count
            if end > len(self._ids):
                batch = uuids_from_bytes(self._source(16 * self._batch))
                self._ids, self._at, end = batch, 0, count
            taken = self._ids[self._at : end]
            self._at = end
        return taken


_ID_POOL = IdPool()
# A forked child (the monitor's workers, a test's) must not hand out its parent's ids again.
os.register_at_fork(after_in_child=_ID_POOL.after_fork)


# Below this many ids the per-id loop is cheaper than numpy's set-up.
_VECTOR_UUIDS = 16
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)
_DIGIT_PLACES = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def uuids_from_bytes(raw: bytes) -> list[str]:
    """Version 4 UUID strings from 16 random bytes each. A batch is formatted by numpy in a
    few array operations: the hex digits and dashes written as code points into one array
    viewed as 36-character strings."""
    count = len(raw) // 16
    if count < _VECTOR_UUIDS:
        data = bytearray(raw)
        ids = []
        for start in range(0, 16 * count, 16):
            data[start + 6] = (data[start + 6] & 0x0F) | 0x40  # version 4
            data[start + 8] = (data[start + 8] & 0x3F) | 0x80  # RFC 4122 variant
            h = data[start : start + 16].hex()
            ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return ids
    octets = np.frombuffer(raw, dtype=np.uint8, count=16 * count).reshape(count, 16).copy()
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((count, 32), dtype=np.uint8)
    nibbles[:, 0::2] = octets >> 4
    nibbles[:, 1::2] = octets & 0x0F
    chars = np.full((count, 36), ord("-"), dtype=np.uint32)
    chars[:, _DIGIT_PLACES] = _HEX_DIGITS[nibbles]
    formatted: list[str] = chars.view("<U36").reshape(count).tolist()
    return formatted


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One record as one compact UTF-8 JSON line, newline-terminated; the only encoding
    sinks use: the functions' one encoder (modelops.jsonio), which never fails on what a
    request can hold (integers beyond 64 bits, lone surrogates)."""
    return encode_json(record, newline=True)


# Between two records in orjson's compact encoding of a list of records: "}" then ",{" then
# the first key every record has. JSON escapes every quote inside a string, and no record
# holds a list of objects, so these bytes occur at record boundaries only (and fit_lines
# checks the count anyway).
_FIRST_KEY = "eventVersion"
_BOUNDARY = b'},{"eventVersion":'
_LINE_BREAK = b'}\n{"eventVersion":'


def fit_lines(records: Sequence[Mapping[str, Any]], max_bytes: int) -> bytes:
    """Every record's `fit_line`, joined: the same bytes, encoded per request. One orjson call
    for the whole list, its record boundaries turned into line breaks, when that is exactly
    the per-record encoding (every record starts with eventVersion, orjson accepts every
    value, every line fits `max_bytes`); record by record otherwise."""
    if len(records) == 1:  # a one-row request's record: its own line
        return fit_line(records[0], max_bytes)
    firsts = map(next, map(iter, records), repeat(None))  # each record's first key, in C
    if records and all(map(operator.eq, repeat(_FIRST_KEY), firsts)):
        try:
            encoded = orjson.dumps(records)
        except orjson.JSONEncodeError:
            encoded = b""
        pieces = encoded[1:-1].split(_BOUNDARY)
        # A line is its piece plus at most the boundary's bytes and its newline.
        if len(pieces) == len(records) and max(map(len, pieces)) + len(_BOUNDARY) < max_bytes:
            return _LINE_BREAK.join(pieces) + b"\n"
    return b"".join(fit_line(r, max_bytes) for r in records)


def fit_line(record: Mapping[str, Any], max_bytes: int) -> bytes:
    """The record's line, at most `max_bytes` long: a larger record is captured truncated
    (string inputs cut to TRUNCATED_VALUE_CHARS, then the inputs left out if still too
    large) and flagged `truncated: true` with its `originalBytes`, so it is never dropped.
    A larger request record (format 2) becomes several lines of fewer rows each, and a row
    too large alone the truncated format-1 line of that row: `fit_line` may return more than
    one line, but never loses a row."""
    line = encode_record(record)
    if len(line) <= max_bytes:
        return line
    if record.get("eventVersion") == REQUEST_EVENT_VERSION:
        return _fit_request(record, max_bytes, len(line))
    flags = {"truncated": True, "originalBytes": len(line)}
    out = dict(record)
    if isinstance(record.get("eventMetadata"), Mapping):
        out["eventMetadata"] = {**record["eventMetadata"], **flags}
    else:
        out.update(flags)
    values = record.get("input")
    if isinstance(values, Mapping):
        out["input"] = {
            k: v[:TRUNCATED_VALUE_CHARS] if isinstance(v, str) else v for k, v in values.items()
        }
    for drop in ("input", "output"):  # a very wide row: keep identity and flag at least
        line = encode_record(out)
        if len(line) <= max_bytes:
            return line
        out[drop] = {}
    line = encode_record(out)
    if len(line) > max_bytes:
        raise CaptureError(f"a record's identity alone exceeds {max_bytes} bytes", failed=1)
    return line


def prediction_record(
    *,
    inference_id: str,
    inference_time: str,
    request_id: str,
    source: str,
    model_name: str,
    model_version: int,
    features: Mapping[str, Any],
    output: Mapping[str, Any],
    event_id: str | None = None,
) -> dict[str, Any]:
    """A captured prediction, contract section 5 (a new eventId unless one is given)."""
    (record,) = prediction_records(
        event_ids=[event_id or new_uuid()],
        inference_ids=[inference_id],
        inference_time=inference_time,
        request_id=request_id,
        source=source,
        model_name=model_name,
        model_versions=[model_version],
        inputs=[dict(features)],
        outputs=[dict(output)],
    )
    return record


def prediction_records(
    *,
    event_ids: Sequence[str],
    inference_ids: Sequence[str],
    inference_time: str,
    request_id: str,
    source: str,
    model_name: str,
    model_versions: Sequence[int],
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The captured predictions of one request, record i from the i-th of each sequence. The
    inputs and outputs are the records' own (not copied: they must not change afterwards),
    and rows of one version share their `model` object."""
    models = {v: {"name": model_name, "version": v} for v in set(model_versions)}
    return [
        {
            "eventVersion": EVENT_VERSION,
            "eventMetadata": {
                "eventId": event_id,
                "inferenceId": inference_id,
                "inferenceTime": inference_time,
                "requestId": request_id,
                "source": source,
            },
            "model": models[version],
            "input": features,
            "output": output,
        }
        for event_id, inference_id, version, features, output in zip(
            event_ids, inference_ids, model_versions, inputs, outputs, strict=True
        )
    ]


def request_record(
    *,
    event_id: str,
    inference_ids: Sequence[str],
    inference_time: str,
    request_id: str,
    source: str,
    model_name: str,
    model_version: int,
    inputs: Mapping[str, Sequence[Any]],
    outputs: Mapping[str, Any],
) -> dict[str, Any]:
    """A request's captured predictions as one record (format 2): `inputs` holds one list
    per feature (null where a row had no value), `outputs` one list per output field (a
    nested object such as probabilities: one list per key), row i of every list being the
    row answered under inference_ids[i]. The lists are the record's own (not copied)."""
    return {
        "eventVersion": REQUEST_EVENT_VERSION,
        "eventMetadata": {
            "eventId": event_id,
            "inferenceTime": inference_time,
            "requestId": request_id,
            "source": source,
        },
        "model": {"name": model_name, "version": model_version},
        "inferenceIds": inference_ids,
        "input": inputs,
        "output": outputs,
    }


def output_columns(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows' output objects ({"label", "probabilities"} or {"value"}) as format 2's columns:
    one list per field, a nested object one list per key (C-level passes, no row loop)."""
    if not outputs:
        return {}
    columns: dict[str, Any] = {}
    for key, first in outputs[0].items():
        column = list(map(operator.itemgetter(key), outputs))
        if isinstance(first, Mapping):
            columns[key] = {k: list(map(operator.itemgetter(k), column)) for k in first}
        else:
            columns[key] = column
    return columns


def request_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A format-2 record as the format-1 records of its rows (the request's eventId on each),
    for readers that take records a row at a time. Raises ValueError (or KeyError,
    TypeError) when the record is not a well-formed format-2 record."""
    ids = record["inferenceIds"]
    if ids.__class__ is not list:
        raise ValueError("inferenceIds is not a list")
    count = len(ids)
    inputs = _rows_of(record["input"], count, nested=False)
    outputs = _rows_of(record["output"], count, nested=True)
    meta = record["eventMetadata"]
    rows = []
    for inference_id, features, output in zip(ids, inputs, outputs, strict=True):
        row = dict(record)
        del row["inferenceIds"]
        row["eventVersion"] = EVENT_VERSION
        # Format 1's order of keys: the expanded row encodes as a format-1 line would.
        row["eventMetadata"] = {
            "eventId": meta["eventId"],
            "inferenceId": inference_id,
            **{k: v for k, v in meta.items() if k != "eventId"},
        }
        row["input"] = features
        row["output"] = output
        rows.append(row)
    return rows


def row_records(record: Any) -> list[Any]:
    """A captured record as its rows' format-1 records: a format-2 record expanded
    (`request_rows`), any other record as it is (its reader checks it)."""
    if record.__class__ is dict and record.get("eventVersion") == REQUEST_EVENT_VERSION:
        return request_rows(record)
    return [record]


def check_output_columns(columns: Any, count: int) -> None:
    """ValueError unless `columns` are format 2's output columns of `count` rows: one list
    per field, a nested object (probabilities) a non-empty object of such lists."""
    if columns.__class__ is not dict:
        raise ValueError("expected an object of columns")
    for name, column in columns.items():
        if column.__class__ is dict:
            if not column or any(
                p.__class__ is not list or len(p) != count for p in column.values()
            ):
                raise ValueError(f"column {name!r} does not hold {count} rows")
        elif column.__class__ is not list or len(column) != count:
            raise ValueError(f"column {name!r} does not hold {count} rows")


_NO_DEFAULT: Any = object()


class OutputColumns(Sequence[dict[str, Any]]):
    """Format 2's output columns of one or more records, read as the sequence of their rows'
    output objects ({"label", "probabilities"} or {"value"}, as format 1 holds them).

    A row's object is made only when the row is indexed (the monitor makes one per labeled
    row); what is read of every row is read column by column (`column`, `nested`), without
    an object per row: building them was 40 % of the monitor's scan of format-2 lines."""

    __slots__ = ("_count", "_parts", "_starts")

    def __init__(self) -> None:
        self._parts: list[tuple[dict[str, Any], int]] = []
        self._starts: list[int] = []
        self._count = 0

    def add(self, columns: dict[str, Any], count: int) -> None:
        """Append a record's output columns, as checked by `check_output_columns`."""
        if count:
            self._parts.append((columns, count))
            self._starts.append(self._count)
            self._count += count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("output row out of range")
        part = bisect.bisect_right(self._starts, index) - 1
        row = index - self._starts[part]
        return {
            name: {k: v[row] for k, v in column.items()}
            if column.__class__ is dict
            else column[row]
            for name, column in self._parts[part][0].items()
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for columns, count in self._parts:
            yield from _rows_of(columns, count, nested=True)

    def column(self, name: str) -> list[Any] | None:
        """Every row's `name` field, in order; None when a row's object lacks it."""
        return self._column(name, _NO_DEFAULT)

    def column_or(self, name: str, default: Any) -> list[Any]:
        """Every row's `name` field, in order; `default` where a row's object lacks it."""
        return cast(list[Any], self._column(name, default))

    def _column(self, name: str, default: Any) -> list[Any] | None:
        values: list[Any] = []
        for columns, count in self._parts:
            column = columns.get(name)
            if column is None:
                if default is _NO_DEFAULT:
                    return None
                values.extend(repeat(default, count))
            elif column.__class__ is dict:  # as each row's object holds it: an object
                values.extend(_nested_rows(column))
            else:
                values.extend(column)
        return values

    def nested(self, name: str, key: str) -> list[Any]:
        """Every row's `name[key]`, in order; KeyError or TypeError where a row's
        `row[name][key]` would raise them."""
        values: list[Any] = []
        for columns, _ in self._parts:
            column = columns[name]
            if column.__class__ is dict:
                values.extend(column[key])
            else:  # a list of per-row objects (or of values that are not objects)
                values.extend(map(operator.itemgetter(key), column))
        return values


def _nested_rows(column: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """A nested output column (one list per key) as each row's object: C-level passes."""
    keys = list(column)
    return list(map(dict, map(zip, repeat(keys), zip(*column.values(), strict=True))))


def _rows_of(columns: Any, count: int, *, nested: bool) -> list[dict[str, Any]]:
    """Per-row objects from format 2's columns (a feature whose value is null is left out
    of its row, as format 1 records a value the client did not send)."""
    if nested:
        check_output_columns(columns, count)
    elif columns.__class__ is not dict:
        raise ValueError("expected an object of columns")
    names = list(columns)
    lists = []
    for name in names:
        column = columns[name]
        if nested and column.__class__ is dict:
            column = _nested_rows(column)
        elif column.__class__ is not list or len(column) != count:
            raise ValueError(f"column {name!r} does not hold {count} rows")
        lists.append(column)
    rows = zip(*lists, strict=True) if names else ((),) * count
    if nested:
        return list(map(dict, map(zip, repeat(names), rows)))
    return [{n: v for n, v in zip(names, row, strict=True) if v is not None} for row in rows]


def _fit_request(record: Mapping[str, Any], max_bytes: int, size: int) -> bytes:
    """A too-large request record as lines of consecutive rows, each within `max_bytes`."""
    ids = record["inferenceIds"]
    if len(ids) == 1:
        (row,) = request_rows(record)
        return fit_line(row, max_bytes)
    # As many parts as the size asks for, with room for uneven rows; a part still too large
    # is split again by the recursion.
    parts = min(len(ids), -(-size * 5 // (max_bytes * 4)))
    step = -(-len(ids) // parts)
    return b"".join(
        fit_line(_request_slice(record, start, start + step), max_bytes)
        for start in range(0, len(ids), step)
    )


def _request_slice(record: Mapping[str, Any], start: int, stop: int) -> dict[str, Any]:
    def cut(columns: Mapping[str, Any]) -> dict[str, Any]:
        return {k: cut(v) if isinstance(v, Mapping) else v[start:stop] for k, v in columns.items()}

    part = dict(record)
    part["inferenceIds"] = record["inferenceIds"][start:stop]
    part["input"] = cut(record["input"])
    part["output"] = cut(record["output"])
    return part


def feedback_record(
    *, inference_id: str, received_time: str, label: Any = None, value: float | None = None
) -> dict[str, Any]:
    """A ground-truth record, contract section 5: exactly one of label (classification) or value."""
    if (label is None) == (value is None):
        raise ValueError("a feedback record has exactly one of label or value")
    record: dict[str, Any] = {"eventVersion": EVENT_VERSION, "inferenceId": inference_id}
    if label is not None:
        record["label"] = label
    else:
        record["value"] = value
    record["receivedTime"] = received_time
    return record


class RecordSink(Protocol):
    """Writes records as JSON lines to wherever they are collected."""

    name: str

    def write(self, records: Sequence[Mapping[str, Any]]) -> None: ...


class LogSink:
    """Each record as one line on stdout: the function's log, which a subscription filter
    forwards to Firehose (template.yaml). Lines are recognised by the records' own shape
    (eventVersion plus eventMetadata or inferenceId), so no marker is added to them."""

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        stream = self._stream or sys.stdout
        try:
            # One write call: lines of concurrent log output cannot interleave inside a record.
            stream.write(fit_lines(records, LOG_MAX_RECORD_BYTES).decode())
            stream.flush()
        except (OSError, ValueError) as exc:
            raise CaptureError(
                f"could not write {len(records)} records to the log: {exc}", failed=len(records)
            ) from exc


class FirehoseSink:
    """PutRecordBatch onto a Firehose delivery stream, in batches within its limits.

    After a call that fails outright (Firehose unreachable, hanging or refusing), the sink
    does not call again for a back-off (1 s doubling to 60 s): records fail at once, and a
    SpillingSink sends them to its dead-letter place without waiting for another timeout.
    """

    name = "firehose"

    def __init__(
        self,
        delivery_stream: str,
        *,
        firehose_client: Any | None = None,
        max_attempts: int = FIREHOSE_MAX_ATTEMPTS,
        backoff_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not delivery_stream:
            raise ValueError("the firehose sink needs a delivery stream name")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.delivery_stream = delivery_stream
        self._client = firehose_client if firehose_client is not None else aws.client("firehose")
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep
        self.outage = resilience.RetrySchedule(interval=0.0, base=1.0, cap=60.0, clock=clock)

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        # JSON escapes newlines inside strings: the only ones are the lines' own.
        lines = fit_lines(records, FIREHOSE_MAX_RECORD_BYTES).splitlines(keepends=True)
        failed: list[bytes] = []
        for batch in batches(lines):
            failed += self._put_with_retries(batch)
        if failed:
            raise CaptureError(
                f"{len(failed)} of {len(lines)} records were not delivered to "
                f"{self.delivery_stream}",
                failed=len(failed),
                lines=failed,
            )

    def _put_with_retries(self, batch: list[bytes]) -> list[bytes]:
        """Put one batch; retry only the entries that failed. Returns those never delivered."""
        pending = batch
        for attempt in range(self._max_attempts):
            if not self.outage.due() or not resilience.has_time_for(1):
                return pending  # Firehose failed recently, or no time left to wait for it
            if attempt:
                self._sleep(self._backoff_seconds * 2 ** (attempt - 1))
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self.delivery_stream,
                    Records=[{"Data": line} for line in pending],
                )
            except resilience.DEPENDENCY_ERRORS:
                self.outage.failed()
                return pending
            self.outage.succeeded()
            if not response.get("FailedPutCount"):
                return []
            pending = [
                line
                for line, result in zip(pending, response["RequestResponses"], strict=True)
                if result.get("ErrorCode")
            ]
        return pending


def batches(lines: Iterable[bytes]) -> Iterable[list[bytes]]:
    """Group lines into PutRecordBatch calls of at most 500 records and 4 MiB."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        if batch and (
            len(batch) == FIREHOSE_MAX_BATCH_RECORDS or size + len(line) > FIREHOSE_MAX_BATCH_BYTES
        ):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line)
    if batch:
        yield batch


class S3Sink:
    """Each write becomes one JSON-lines object at <prefix>YYYY/MM/DD/HH/<time>-<uuid>.jsonl."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        s3_client: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not bucket or not prefix.endswith("/"):
            raise ValueError("the S3 sink needs a bucket and a prefix ending in '/'")
        self.bucket = bucket
        self.prefix = prefix
        self._given_client = s3_client
        self._clock = clock

    @property
    def _s3(self) -> Any:
        # Made on first write: a sink that never spills never builds an S3 client.
        return self._given_client if self._given_client is not None else aws.client("s3")

    def key_for(self, moment: datetime) -> str:
        moment = moment.astimezone(UTC)
        return f"{self.prefix}{moment:%Y/%m/%d/%H}/{moment:%Y%m%dT%H%M%S}-{uuid.uuid4().hex}.jsonl"

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.write_lines([encode_record(r) for r in records])

    def write_lines(self, lines: Sequence[bytes]) -> None:
        """Already encoded lines as one object."""
        if not lines:
            return
        body = b"".join(lines)
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self.key_for(self._clock()),
                Body=body,
                ContentType="application/x-ndjson",
                IfNoneMatch="*",
            )
        except (ClientError, BotoCoreError) as exc:
            raise CaptureError(
                f"could not write {len(lines)} records to s3://{self.bucket}/{self.prefix}",
                failed=len(lines),
                lines=lines,
            ) from exc


def dead_letter_prefix(model_name: str) -> str:
    """Where undelivered captured records wait to be replayed (in the stack's bucket)."""
    return f"capture-dlq/{model_name}/"


class SpillingSink:
    """A sink whose undelivered records go to a dead-letter sink instead of being lost.

    The primary sink retries within its own bounds; what it still could not deliver is
    written as JSON lines to `dead_letter` (an S3Sink on capture-dlq/<name>/), reported
    through `on_spill`. Only when that fails too (S3 down as well, or no time left in the
    invocation) does write raise CaptureError, after writing the lines to `last_resort`
    (the function's log) when the primary is not the log already. The dead-letter writes
    back off after a failure like FirehoseSink's calls do.
    """

    def __init__(
        self,
        primary: RecordSink,
        dead_letter: S3Sink,
        *,
        on_spill: Callable[[int, CaptureError], None] = lambda count, exc: None,
        last_resort: LogSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.name = primary.name
        self.dead_letter = dead_letter
        self._on_spill = on_spill
        self._last_resort = last_resort
        self.outage = resilience.RetrySchedule(interval=0.0, base=1.0, cap=60.0, clock=clock)

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        try:
            self.primary.write(records)
            return
        except CaptureError as exc:
            failure = exc
        lines = failure.lines or [encode_record(r) for r in records[-failure.failed :]]
        if self.outage.due() and resilience.has_time_for(1):
            try:
                self.dead_letter.write_lines(lines)
            except CaptureError as dlq_exc:
                self.outage.failed()
                failure = CaptureError(f"{failure}; dead letters: {dlq_exc}", failed=len(lines))
            else:
                self.outage.succeeded()
                self._on_spill(len(lines), failure)
                return
        if self._last_resort is not None:
            # Not lost for good: recoverable from the log, and still counted as a failure.
            self._last_resort.write([json.loads(line) for line in lines])
        raise CaptureError(
            f"{len(lines)} records were neither delivered nor spilled: {failure}",
            failed=len(lines),
            lines=lines,
        )
