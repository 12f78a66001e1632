"""Streaming JSON-lines objects from S3 (plain or gzip), in hour partitions.

`capture/<name>/YYYY/MM/DD/HH/...` and `feedback/<name>/YYYY/MM/DD/HH/...` are read with the
same code: list the keys of a time range (one paginated listing, pruned by key order), then
read each object as a stream of raw chunks, decompressed on the fly when it is gzip
(detected from its first bytes, so the key's suffix does not matter), split into batches of
lines. Memory per object is one chunk plus one batch, however large the object.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from queue import Full, Queue
from types import ModuleType
from typing import Any

from modelops.errors import CorruptObjectError

_inflate_module: ModuleType
try:
    # ISA-L's inflate (MonitorFunction's GzipLayer): the same bytes out as zlib's, faster
    # (benchmarks/bench_read.py). Elsewhere (the training job, a function without the
    # layer) zlib does the same work.
    from isal import isal_zlib as _inflate_module
except ImportError:  # tests pass zlib's explicitly as well
    _inflate_module = zlib
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_module.error)

CHUNK_BYTES = 1 << 20
# A batch is at most this many lines (format-1 records of a 20-feature model: about 1.8 MB)
# or this many bytes (format-2 records: about 13,000 rows).
BATCH_LINES = 2_500
BATCH_BYTES = 4 << 20
GZIP_MAGIC = b"\x1f\x8b"


def hour_partition(prefix: str, when: datetime) -> str:
    """`<prefix>YYYY/MM/DD/HH/` of a UTC time."""
    return f"{prefix}{when.astimezone(UTC):%Y/%m/%d/%H}/"


def list_partition_keys(
    s3: Any, bucket: str, prefix: str, first: datetime, last: datetime | None = None
) -> Iterator[str]:
    """Keys under `prefix` in hour partitions from `first`'s hour to `last`'s (inclusive)."""
    first_hour = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    # ".../HH" sorts before every key of ".../HH/", and after every key of earlier hours.
    start_after = hour_partition(prefix, first_hour)[:-1]
    stop = (
        hour_partition(prefix, last.astimezone(UTC) + timedelta(hours=1))
        if last is not None
        else None
    )
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, StartAfter=start_after):
        for obj in page.get("Contents", []):
            key: str = obj["Key"]
            if stop is not None and key >= stop:
                return
            if obj.get("Size", 1) > 0:
                yield key


def iter_line_batches(
    s3: Any,
    bucket: str,
    key: str,
    *,
    batch_lines: int = BATCH_LINES,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[list[bytes]]:
    """The object's non-empty lines, in batches of at most about `batch_lines` lines or
    `batch_bytes` bytes (a request record holds many rows: batches by lines alone would hold
    a hundred times the rows), streamed and gunzipped when needed."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    pending = b""
    batch: list[bytes] = []
    size = 0
    for data in _decompressed(_chunks(body), f"s3://{bucket}/{key}"):
        text = pending + data
        lines = text.split(b"\n")
        pending = lines.pop()
        size += len(text) - len(pending)
        if b'}{"' in text:
            _add_records(batch, lines)
        else:  # the usual case: one record per line; blank lines dropped at C speed
            batch.extend(filter(bytes.strip, lines))
        if len(batch) >= batch_lines or size >= batch_bytes:
            yield batch
            batch = []
            size = 0
    _add_records(batch, [pending])
    if batch:
        yield batch


def _add_records(batch: list[bytes], lines: list[bytes]) -> None:
    """Non-empty lines; records concatenated without a newline are split apart. A delivery
    stream without a delimiter processor writes `{...}{...}`; inside valid JSON `}{"` can
    only be such a boundary (a quote in a string is escaped), so the split is safe."""
    for line in lines:
        if not line.strip():
            continue
        if b'}{"' in line:
            batch.extend(line.replace(b'}{"', b'}\n{"').split(b"\n"))
        else:
            batch.append(line)


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        while data := body.read(CHUNK_BYTES):
            yield data
    finally:
        body.close()


def _decompressed(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """The object's bytes, inflated when it is gzip (by `_inflate_module`, ISA-L's or
    zlib's). A stream that does not inflate raises CorruptObjectError naming the object."""
    module = _inflate_module
    first = next(chunks, b"")
    if not first.startswith(GZIP_MAGIC):
        if first:
            yield first
        yield from chunks
        return
    decompressor = module.decompressobj(zlib.MAX_WBITS | 16)
    data = first
    try:
        while True:
            yield decompressor.decompress(data)
            # Concatenated gzip members (e.g. appended batches) each need a fresh one.
            while decompressor.eof and decompressor.unused_data:
                rest = decompressor.unused_data
                decompressor = module.decompressobj(zlib.MAX_WBITS | 16)
                yield decompressor.decompress(rest)
            data = next(chunks, b"")
            if not data:
                break
        yield decompressor.flush()
    except _INFLATE_ERRORS as error:
        raise CorruptObjectError(f"{name} is not a readable gzip stream ({error}){_ACT}") from error
    if not decompressor.eof:  # cut short, or damaged so that it decodes without ending
        raise CorruptObjectError(f"{name} ends before its gzip stream does{_ACT}")


_ACT = ": move it out of the prefix (or restore it) and read the window again"


def iso_millis(when: datetime) -> str:
    """The canonical UTC timestamp of records: 2026-11-26T13:05:45.123Z."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; naive times are UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def prefetched[T](items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """`items`, produced by a background thread up to `depth` ahead.

    Reading and gunzipping the next batch (socket reads and zlib release the GIL) overlaps
    with parsing the current one; memory stays bounded by `depth` batches.
    """
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((True, item), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((False, None))
        except BaseException as exc:  # re-raised in the consumer
            queue.put((False, exc))

    worker = threading.Thread(target=produce, name="monitor-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            more, value = queue.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        worker.join(timeout=5)
