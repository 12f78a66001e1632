"""Parquet inputs and outputs of batch scoring.

pyarrow comes with BatchScoringFunction's own layer (ParquetLayer) and nowhere else: only
modelops.scoring imports this module, so the serving functions never load it.

Inputs split by row group, the unit a Parquet reader can decode alone: an item is a run of
consecutive row groups of at most the run's chunk size, counted in decoded (uncompressed)
bytes of all the file's columns, so an item's memory tracks the chunk size as a CSV range's
does, whatever the codec; a larger group is an item of its own. The footer is read at
planning time, each item's column chunks by its child, through ranged S3 GETs (a file
object over boto3, so no second S3 client or credential chain is involved), a record batch
at a time. Only the model's feature columns and the id column are read.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from modelops.schema import ModelSchema, class_key
from modelops.scoring.inputs import Row

# What a corrupt or truncated file raises while its footer or pages are decoded.
READ_ERRORS = (pa.ArrowException, OSError, ValueError)


class S3File(io.RawIOBase):
    """A read-only, seekable view of one S3 object: each read is one ranged GET."""

    def __init__(self, s3: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._size = s3, bucket, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        last = self._position + wanted - 1
        data = self._s3.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{last}"
        )["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def open_file(s3: Any, bucket: str, key: str, size: int) -> pq.ParquetFile:
    """The object as a ParquetFile (its footer read); pre-buffering coalesces the reads of
    an item's column chunks into few GETs."""
    return pq.ParquetFile(S3File(s3, bucket, key, size), pre_buffer=True)


def row_group_items(
    s3: Any, bucket: str, key: str, size: int, chunk_bytes: int
) -> list[dict[str, int]]:
    """The object's items: runs of consecutive row groups, {"start", "end"} (group indices,
    end exclusive), "first_row" (the file's row number of the first row) and "rows". A file
    without row groups has no items. Raises one of READ_ERRORS for an unreadable footer."""
    metadata = open_file(s3, bucket, key, size).metadata
    items: list[dict[str, int]] = []
    first_row = 0
    current: dict[str, int] | None = None
    current_bytes = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        group_bytes = group.total_byte_size  # decoded: what a child holds, not what it fetches
        if current is None or current_bytes + group_bytes > chunk_bytes:
            current = {"start": index, "end": index, "first_row": first_row, "rows": 0}
            current_bytes = 0
            items.append(current)
        current["end"] = index + 1
        current["rows"] += group.num_rows
        current_bytes += group_bytes
        first_row += group.num_rows
    return items


def parquet_row_id(bucket: str, key: str, row: int) -> str:
    """A deterministic id for a row without one (the object and the row's number in it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"s3://{bucket}/{key}#row={row}"))


def _plain(value: Any) -> Any:
    """A decoded cell as the JSON value a request would carry: decimals as numbers, times as
    ISO text, binary as UTF-8 text; lists and maps stay as they are (the door names them)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None  # JSON has no NaN: a request carries null, a missing value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8")  # UnicodeDecodeError: the row's problem
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def iter_rows(
    s3: Any, item: dict[str, Any], columns: list[str], id_column: str, *, batch_rows: int
) -> Iterator[Row]:
    """The item's rows, read from `columns` (those the file has) and the id column, decoded
    `batch_rows` at a time; each Row's offset is its row number in the file. Raises one of
    READ_ERRORS when the item's pages cannot be decoded."""
    parquet = open_file(s3, item["bucket"], item["key"], int(item["size"]))
    present = set(parquet.schema_arrow.names)
    wanted = [c for c in dict.fromkeys([*columns, id_column]) if c in present]
    groups = list(range(int(item["start"]), int(item["end"])))
    number = int(item["first_row"])
    if not groups:
        return
    batches = parquet.iter_batches(
        batch_size=batch_rows, row_groups=groups, columns=wanted, use_threads=False
    )
    for batch in batches:
        for cells in batch.to_pylist():
            given = cells.get(id_column)
            inference_id = (
                str(given)
                if given not in (None, "")
                else parquet_row_id(item["bucket"], item["key"], number)
            )
            values, problem = _plain_row(cells)
            yield Row(number, inference_id, values, problem)
            number += 1


def _plain_row(cells: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A row's cells as request values, or the problem with the first that has none."""
    values: dict[str, Any] = {}
    for name, value in cells.items():
        try:
            values[name] = _plain(value)
        except UnicodeDecodeError:
            return None, f"column {name!r}: a binary value that is not UTF-8 text"
    return values, None


def results_schema(schema: ModelSchema) -> pa.Schema:
    """Typed columns of the results files, the JSON Lines results' fields: the inference id,
    the prediction (a label and a struct of class probabilities, or a value), the optional
    features the model imputed (null where a JSON line has no "imputed") and the model."""
    fields: list[pa.Field] = [pa.field("inference_id", pa.string())]
    if schema.task.is_classification:
        classes = list(schema.classes or ())
        fields.append(pa.field("label", pa.array(classes).type))
        probabilities = pa.struct([pa.field(class_key(c), pa.float64()) for c in classes])
        fields.append(pa.field("probabilities", probabilities))
    else:
        fields.append(pa.field("value", pa.float64()))
    fields.append(pa.field("imputed", pa.list_(pa.string())))
    model = pa.struct([pa.field("name", pa.string()), pa.field("version", pa.int64())])
    fields.append(pa.field("model", model))
    return pa.schema(fields)


def results_batch(records: list[dict[str, Any]], schema: ModelSchema) -> pa.RecordBatch:
    """One batch of scored rows in the typed columns. A field the columns do not hold would
    be dropped by the conversion: it is refused instead."""
    columns = results_schema(schema)
    known = set(columns.names)
    for record in records:
        extra = set(record) - known
        if extra:
            raise ValueError(f"result fields without a Parquet column: {sorted(extra)}")
    batch = pa.RecordBatch.from_pylist(records, schema=columns)
    if batch.to_pylist() != [{"imputed": None, **r} for r in records]:  # a nested field lost
        raise ValueError("result fields do not fit the Parquet columns " + str(columns))
    return batch


def results_file(batches: list[pa.RecordBatch], schema: ModelSchema) -> bytes:
    """An item's results as one Parquet file (Snappy; row groups of pyarrow's default size):
    the same columns in every file of a run, an empty item's file included."""
    table = pa.Table.from_batches(batches, schema=results_schema(schema))
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy")
    return out.getvalue()
