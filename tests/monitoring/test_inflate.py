"""Gzip capture objects inflate to the same bytes through ISA-L (MonitorFunction's GzipLayer)
and through zlib (wherever the layer is absent), at any chunk boundary and across
concatenated members; a damaged object stops the window with an error that names it."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import zlib
from typing import Any

import numpy as np
import pytest
from isal import isal_zlib

from embedded_aws.provision import LocalStack
from modelops.errors import CorruptObjectError
from modelops.monitoring import objects
from modelops.monitoring.objects import _decompressed, iter_line_batches
from modelops.monitoring.parallel import WorkerError
from modelops.monitoring.window import Window
from tests.monitoring.conftest import WINDOW_EVENT, CaptureWriter, churn, make_monitor

INFLATERS = pytest.mark.parametrize("inflate", [isal_zlib, zlib], ids=["isal", "zlib"])


def _members(seed: int) -> tuple[bytes, bytes]:
    """Three gzip members of JSON lines (as appended batches give), and their text."""
    rng = np.random.default_rng(seed)
    parts = [
        b"".join(b'{"n":%d,"x":"%s"}\n' % (i, rng.bytes(40).hex().encode()) for i in range(n))
        for n in (5_000, 1, 20_000)
    ]
    members = [
        gzip.compress(p, compresslevel=level) for p, level in zip(parts, (1, 6, 9), strict=True)
    ]
    return b"".join(members), b"".join(parts)


def _chunked(data: bytes, seed: int) -> list[bytes]:
    """`data` cut at random places, from 1 byte to 300 kB a piece."""
    rng = np.random.default_rng(seed)
    chunks, at = [], 0
    while at < len(data):
        size = int(rng.choice([1, 7, 1_000, 65_536, 300_000]))
        chunks.append(data[at : at + size])
        at += size
    return chunks


@INFLATERS
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_inflated_bytes_equal_the_text_at_any_chunk_boundary(
    inflate: Any, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objects, "_inflate_module", inflate)
    data, text = _members(seed)
    inflated = b"".join(_decompressed(iter(_chunked(data, seed)), "s3://b/k"))
    assert inflated == text


def test_the_monitor_inflates_with_isal_where_the_layer_is() -> None:
    # The dev environment installs every layer's list, as MonitorFunction's bundle holds it.
    assert objects._inflate_module is isal_zlib


class _S3:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.body)}


@INFLATERS
@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("flipped", "is not a readable gzip stream"),  # an invalid deflate block
        ("cut", "ends before its gzip stream does"),  # an object cut short
        ("zeroed", "ends before its gzip stream does"),  # zeros decode, but never end
    ],
)
def test_a_damaged_object_raises_an_error_naming_it(
    inflate: Any, damage: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objects, "_inflate_module", inflate)
    data, _ = _members(4)
    middle = len(data) // 2
    if damage == "flipped":
        body = data[:middle] + b"\xff" * 64 + data[middle + 64 :]
    elif damage == "cut":
        body = data[:middle]
    else:
        body = data[:middle] + bytes(len(data) - middle)
    with pytest.raises(CorruptObjectError, match=rf"^s3://bucket/capture/x/part-1\.gz {says}"):
        for _ in iter_line_batches(_S3(body), "bucket", "capture/x/part-1.gz"):
            pass


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_damaged_capture_object_stops_the_window_naming_it(
    local_stack: LocalStack, writer: CaptureWriter, workers: str
) -> None:
    writer.predictions(churn(400, seed=31), compress=True, objects=2)
    listed = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="capture/")["Contents"]
    key = sorted(o["Key"] for o in listed)[1]
    body = writer.s3.get_object(Bucket=writer.bucket, Key=key)["Body"].read()
    writer.s3.put_object(Bucket=writer.bucket, Key=key, Body=body[: len(body) // 2])
    monitor = make_monitor(local_stack, MONITOR_WORKERS=workers)
    # In a forked worker the error comes back with the worker's traceback, its message kept.
    with pytest.raises((CorruptObjectError, WorkerError)) as raised:
        monitor.run(Window.from_event(WINDOW_EVENT, window_minutes=60))
    assert f"s3://{writer.bucket}/{key} ends before its gzip stream does" in str(raised.value)
    # Nothing was written for the window: its report is made once the object is readable.
    reports = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="reports/").get("KeyCount")
    assert not reports


def test_without_the_layer_the_reader_inflates_with_zlib() -> None:
    """The training job's image and any function without the GzipLayer: isal cannot be
    imported, and the same objects read the same lines through zlib."""
    data, text = _members(5)
    program = (
        "import sys, io, zlib\n"
        "sys.modules['isal'] = None  # as where the package is not installed\n"
        "from modelops.monitoring import objects\n"
        "assert objects._inflate_module is zlib, objects._inflate_module\n"
        "class S3:\n"
        "    def get_object(self, **_):\n"
        "        return {'Body': io.BytesIO(sys.stdin.buffer.read())}\n"
        "lines = [l for b in objects.iter_line_batches(S3(), 'b', 'k') for l in b]\n"
        "sys.stdout.buffer.write(b'\\n'.join(lines) + b'\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], input=data, capture_output=True, check=True
    )
    assert result.stdout == text
