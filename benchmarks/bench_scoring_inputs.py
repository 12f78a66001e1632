"""Batch scoring's child: one item of N rows scored, from CSV, JSON Lines and Parquet.

    nice .venv/bin/python benchmarks/bench_scoring_inputs.py [--rows 200000] [--rounds 3]
                                                            [--compare-with GIT_REV]

What a BatchScoringFunction child does besides waiting for PredictFunction: `score_item` on
an item holding the whole object (read it, build the direct door's batches, collect the
answers, write the results as JSON Lines or Parquet). S3 is a stand-in client holding the
objects in memory (ranged GETs, PUTs), PredictFunction a stand-in answering a binary
prediction per row at once: neither's latency is measured. Per format: the object's bytes per
row (Parquet: compressed, and decoded), rows per second, and the peak Python memory of the
call (tracemalloc), which bounds an item's size in a 1024 MB function. With --compare-with,
the same runs with modelops/scoring/job.py as it was at that revision, interleaved in rounds
(before, after, after, before, ...); ratios first.

The rows are the churn generator's (embedded_aws.churn_data), with a customer_id column.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402
from embedded_aws.churn_data import FEATURES, as_instances, generate_churn  # noqa: E402
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task  # noqa: E402
from modelops.scoring import job  # noqa: E402
from modelops.scoring.inputs import read_header  # noqa: E402

BUCKET = "bench"


class MemoryS3:
    """The S3 calls score_item makes, on objects held in memory."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:  # noqa: N803
        data = self.objects[Key]
        if Range is not None:
            first, last = Range.removeprefix("bytes=").split("-")
            data = data[int(first) : int(last) + 1]
        return {"Body": io.BytesIO(data)}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:  # noqa: N803
        self.objects[Key] = Body


def predict(event: dict[str, Any]) -> dict[str, Any]:
    """A stand-in PredictFunction: a binary answer per row, shaped as the direct door's."""
    return {
        "model": {"name": "churn", "version": 1},
        "predictions": [
            {"inference_id": i, "label": "no", "probabilities": {"no": 0.75, "yes": 0.25}}
            for i in event["inference_ids"]
        ],
    }


def dataset(rows: int) -> tuple[dict[str, bytes], ModelSchema]:
    frame = generate_churn(rows, seed=3)
    instances = [{"customer_id": f"c{i}", **r} for i, r in enumerate(as_instances(frame, FEATURES))]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["customer_id", *FEATURES])
    for row in instances:
        writer.writerow(["" if row[f] is None else row[f] for f in ["customer_id", *FEATURES]])
    jsonl = "".join(json.dumps(r) + "\n" for r in instances).encode()
    body = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(instances), body, row_group_size=rows)  # one group
    kinds = {
        name: FeatureKind.NUMERIC if frame[name].dtype.kind in "if" else FeatureKind.CATEGORICAL
        for name in FEATURES
    }
    schema = ModelSchema(
        features=tuple(FeatureSpec(n, kinds[n]) for n in FEATURES),
        task=Task.BINARY,
        classes=("no", "yes"),
    )
    objects = {
        "data.csv": out.getvalue().encode(),
        "data.jsonl": jsonl,
        "data.parquet": body.getvalue(),
    }
    return objects, schema


def item_of(s3: MemoryS3, key: str) -> dict[str, Any]:
    """The whole object as one item, as plan() would make it with a chunk above its size."""
    size = len(s3.objects[key])
    fmt = key.rsplit(".", 1)[1]
    item: dict[str, Any] = {"index": 0, "bucket": BUCKET, "key": key, "size": size, "format": fmt}
    if fmt == "parquet":
        return {**item, "start": 0, "end": 1, "first_row": 0}
    header = read_header(s3, BUCKET, key, size) if fmt == "csv" else None
    return {**item, "start": 0, "end": size, "header": header}


def score(module: ModuleType, s3: MemoryS3, key: str, schema: ModelSchema, output: str) -> int:
    run = {
        "output": f"s3://{BUCKET}/out/",
        "model": {"name": "churn", "version": 1},
        "id_column": "customer_id",
        "output_format": output,
    }
    settings = module.ScoringSettings(bucket=BUCKET, model_name="churn", max_batch_rows=1000)
    counts = module.score_item(
        item_of(s3, key), run, settings, s3=s3, schema=schema, predict=predict
    )
    return int(counts["scored"])


def _module_at(revision: str, name: str, alias: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:layers/modelops/modelops/scoring/{name}.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{alias}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(alias, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def job_at(revision: str) -> ModuleType:
    """modelops/scoring/job.py and parquet.py as they were at `revision`, beside today's."""
    before = _module_at(revision, "job", "job_before")
    before.parquet = _module_at(revision, "parquet", "parquet_before")
    return before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare-with", help="a git revision of modelops/scoring/job.py")
    args = parser.parse_args(argv)
    cpu = cpu_name()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pyarrow {pa.__version__}"
    )
    print(f"load average at the start: {os.getloadavg()}")
    objects, schema = dataset(args.rows)
    decoded = pq.ParquetFile(io.BytesIO(objects["data.parquet"])).metadata.row_group(0)
    versions = {"now": job}
    if args.compare_with:
        versions = {"before": job_at(args.compare_with), "now": job}
    cases = [
        (version, key, output)
        for version in versions
        for key in objects
        for output in ("jsonl", "parquet")
        if not (output == "parquet" and key != "data.parquet")  # one Parquet output case
    ]
    times: dict[tuple[str, str, str], list[float]] = {c: [] for c in cases}
    peaks: dict[tuple[str, str, str], int] = {}
    for round_ in range(args.rounds):
        for case in cases if round_ % 2 == 0 else cases[::-1]:
            s3 = MemoryS3(dict(objects))
            started = time.perf_counter()
            assert score(versions[case[0]], s3, case[1], schema, case[2]) == args.rows
            times[case].append(time.perf_counter() - started)
    for case in cases:
        s3 = MemoryS3(dict(objects))
        tracemalloc.start()
        score(versions[case[0]], s3, case[1], schema, case[2])
        peaks[case] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"\n{args.rows:,} rows in one item, {args.rounds} interleaved rounds (median):\n")
    if args.compare_with:
        print("| input | output | time now / before | peak memory now / before |")
        print("|---|---|---:|---:|")
        for _, key, output in [c for c in cases if c[0] == "now"]:
            now, before = ("now", key, output), ("before", key, output)
            print(
                f"| {key} | {output} | "
                f"{statistics.median(times[now]) / statistics.median(times[before]):.2f}x | "
                f"{peaks[now] / peaks[before]:.2f}x |"
            )
        print()
    print(
        "| code | input | output | rows/s | peak MB | peak bytes per row | object bytes per row |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for case in cases:
        version, key, output = case
        median = statistics.median(times[case])
        size = f"{len(objects[key]) / args.rows:.1f}"
        if key.endswith(".parquet"):
            size += f" (decoded {decoded.total_byte_size / args.rows:.1f})"
        print(
            f"| {version} | {key} | {output} | {args.rows / median:,.0f} | "
            f"{peaks[case] / 1e6:.0f} | {peaks[case] / args.rows:,.0f} | {size} |"
        )
    print(f"\nload average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
