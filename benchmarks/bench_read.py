"""Reading capture objects: gunzip and line batches (`modelops.monitoring.objects`), ISA-L's
inflate (MonitorFunction's GzipLayer) against zlib's (wherever the layer is absent).

    .venv/bin/python benchmarks/bench_read.py [--rows 100000] [--per-request 100] [--rounds 5]

The window is bench_monitor's (20 features, served by the trained model), written once as
one gzip object of format-2 records (`--per-request 0`: format 1); each round reads it with
`iter_line_batches` once per inflater, in alternating order, in this process (no S3: the
object's bytes are served from memory in 1 MiB reads, as the reader asks for them). Prints
the least process CPU time of each, their ratio and the load average.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from isal import isal_zlib  # noqa: E402

from benchmarks.bench_scan import write_window  # noqa: E402
from modelops.monitoring import objects  # noqa: E402


class _Object:
    """What the reader asks of S3: a body read in chunks."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.data)}


def read_once(data: bytes, inflate: Any) -> tuple[float, int]:
    """CPU seconds of reading the object once with `inflate`; the lines read."""
    objects._inflate_module = inflate
    started = time.process_time()
    lines = sum(len(b) for b in objects.iter_line_batches(_Object(data), "bench", "capture"))
    return time.process_time() - started, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--per-request", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_window(args.rows, Path(tmp), args.per_request)
        data = Path(tmp, "capture.gz").read_bytes()
    raw = len(zlib.decompress(data, zlib.MAX_WBITS | 16))
    inflaters = {"isal": isal_zlib, "zlib": zlib}
    seconds: dict[str, list[float]] = {name: [] for name in inflaters}
    counted = set()
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    for round_ in range(args.rounds):
        order = list(inflaters) if round_ % 2 == 0 else list(reversed(inflaters))
        for name in order:
            cpu, lines = read_once(data, inflaters[name])
            seconds[name].append(cpu)
            counted.add(lines)
    assert len(counted) == 1, counted  # both read every line
    isal_s, zlib_s = min(seconds["isal"]), min(seconds["zlib"])
    per = 100_000 / args.rows
    fmt = f"format 2 ({args.per_request} rows a record)" if args.per_request else "format 1"
    print(
        f"{args.rows:,} records, {fmt}: {len(data) / 1e6:.1f} MB gzip, {raw / 1e6:.1f} MB of "
        f"JSON lines, {counted.pop():,} lines\n"
        f"zlib / ISA-L = {zlib_s / isal_s:.2f}x (least CPU of {args.rounds} rounds, alternating)\n"
        f"- ISA-L: {isal_s:.3f} s ({isal_s * per:.3f} CPU-s per 100k records)\n"
        f"- zlib:  {zlib_s:.3f} s ({zlib_s * per:.3f} CPU-s per 100k records)\n"
        f"load average at the end: {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
