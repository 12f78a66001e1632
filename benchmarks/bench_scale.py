"""Sharded monitoring: a window of 5M capture records scanned as M = 1, 2, 4, 8 partials.

    nice .venv/bin/python benchmarks/bench_scale.py [--records 5000000] [--shards 1,2,4,8]

What MonitorStateMachine's steps do, timed on this machine without S3 in the way: each shard
(records / M of them) is scanned in a fresh forked process (one at a time, so the two cores
of a shared machine do not blur the per-shard time) by the monitor's own WindowScan, then
encoded in the partial format (modelops.monitoring.partials); the parent decodes and merges
the M partials (the reduce step) and analyses the merged scan. Reported per M: time per
shard, its records per second, the partial's size, the merge time, and whether the merged
counts equal the M = 1 run. Then the projection for 1 billion records a day on AWS with the
formula of docs/PERFORMANCE.md ("Sharded monitoring").

The records are the churn-like 20-feature rows of bench_monitor.py, served by a real trained
model; a pool of 100k distinct capture lines (10 % labeled) is repeated to reach the size
(a scan's cost per record does not depend on repetition: nothing is deduplicated).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_monitor import (  # noqa: E402
    BUCKET,
    CATEGORICAL,
    LABELED_SHARE,
    MODEL,
    NUMERIC,
    generate,
    publish_model,
)
from benchmarks.machine import cpu_name  # noqa: E402

POOL = 100_000
BATCH = 5_000  # lines per add_lines call, as the scan reads them
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# AWS prices (us-east-1, x86, public list prices, 2026): Lambda per GB-second and per
# request, Step Functions Standard per state transition, S3 GET / PUT per request.
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
TRANSITION = 0.025 / 1000
S3_GET = 0.0004 / 1000
S3_PUT = 0.005 / 1000


def pool_lines(registry: Any, metadata: dict[str, Any]) -> tuple[list[bytes], Any]:
    """POOL capture lines served by the model, and the feedback index of 10 % of them."""
    import numpy as np

    from modelops.capture import encode_record, feedback_record, iso_timestamp, prediction_record
    from modelops.inference import OnnxModel
    from modelops.monitoring.join import FeedbackIndex
    from modelops.schema import ModelSchema, class_key

    schema = ModelSchema.from_metadata(metadata)
    version = int(metadata["version"])
    model = OnnxModel(
        registry.get_model_bytes(MODEL, version, expected_sha256=metadata["model_file"]["sha256"]),
        schema,
    )
    cols = generate(POOL, 1, drift=True)
    predicted = model.predict_columns({f: cols[f] for f in schema.feature_names})
    keys = [class_key(c) for c in schema.classes or ()]
    labeled = np.random.default_rng(2).random(POOL) < LABELED_SHARE
    lines, feedback = [], []
    for row in range(POOL):
        when = iso_timestamp(START + timedelta(seconds=3599.0 * row / POOL))
        features = {f: (None if np.isnan(cols[f][row]) else float(cols[f][row])) for f in NUMERIC}
        features.update({f: cols[f][row] for f in CATEGORICAL})
        record = prediction_record(
            inference_id=f"s-{row}",
            inference_time=when,
            request_id="bench",
            source="api",
            model_name=MODEL,
            model_version=version,
            features=features,
            output={
                "label": predicted.labels[row],
                "probabilities": dict(
                    zip(keys, predicted.probabilities[row].tolist(), strict=True)
                ),
            },
        )
        lines.append(encode_record(record))
        if labeled[row]:
            feedback.append(
                encode_record(
                    feedback_record(
                        inference_id=f"s-{row}", received_time=when, label=cols["target"][row]
                    )
                )
            )
    return lines, FeedbackIndex.from_records([feedback])


def scan_shard_child(
    conn: Any, registry: Any, lines: list[bytes], feedback: Any, records: int, shard: int
) -> None:
    """In a forked process: scan `records` lines from the pool; send (seconds, partial JSON)."""
    from modelops.monitoring import partials
    from modelops.monitoring.scanning import new_scan
    from modelops.monitoring.window import ScanSettings, Window

    window = Window(START, START + timedelta(hours=1))
    scan = new_scan(window, MODEL, feedback, ScanSettings(seed=10_000 * (shard + 1)), registry)
    started = time.perf_counter()
    done = 0
    first = shard * records  # shards read consecutive parts of the (repeated) pool
    while done < records:
        offset = (first + done) % len(lines)
        take = min(BATCH, records - done, len(lines) - offset)
        scan.add_lines(lines[offset : offset + take])
        done += take
    seconds = time.perf_counter() - started
    doc = partials.encode(scan.state(), model_name=MODEL, window=window, shard=shard, keys=[])
    conn.send((seconds, json.dumps(doc, separators=(",", ":")).encode()))
    conn.close()


def measure(
    registry: Any, settings: Any, lines: list[bytes], feedback: Any, total: int, shards: int
) -> dict[str, Any]:
    from modelops.monitoring import partials
    from modelops.monitoring.analysis import window_report
    from modelops.monitoring.join import FeedbackIndex
    from modelops.monitoring.scanning import new_scan
    from modelops.monitoring.window import Window

    context = multiprocessing.get_context("fork")
    shard_seconds, docs = [], []
    for shard in range(shards):
        records = total // shards + (1 if shard < total % shards else 0)
        parent, child = context.Pipe()
        process = context.Process(
            target=scan_shard_child, args=(child, registry, lines, feedback, records, shard)
        )
        process.start()
        seconds, body = parent.recv()
        process.join()
        shard_seconds.append(seconds)
        docs.append(body)
    window = Window(START, START + timedelta(hours=1))
    started = time.perf_counter()
    scan = new_scan(window, MODEL, FeedbackIndex.empty(), settings.scan, registry)
    for body in docs:
        state = partials.decode(
            json.loads(body),
            model_name=MODEL,
            window=window,
            settings=settings.scan,
            load_metadata=scan.load_metadata,
        )
        scan.merge(state)
    merge_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = window_report(
        scan,
        settings,
        objects=0,
        dead_letters=0,
        champion_version=None,
        generated_at=datetime.now(UTC),
    )
    analysis_seconds = time.perf_counter() - started
    return {
        "shards": shards,
        "records": total,
        "shard_seconds": shard_seconds,
        "partial_bytes": [len(b) for b in docs],
        "merge_seconds": merge_seconds,
        "analysis_seconds": analysis_seconds,
        "predictions": report["counts"]["predictions"],
        "labeled": report["counts"]["labeled"],
        "status": report["status"],
    }


def projection(
    per_record: float,
    partial_bytes: float,
    merge_per_partial: float,
    *,
    records_per_day: float = 1e9,
    windows_per_day: int = 24,
    records_per_object: int = 250_000,
    objects_per_shard: int = 20,
    memory_gb: float = 3538 / 1024,
) -> dict[str, float]:
    """The formula of docs/PERFORMANCE.md, "Sharded monitoring"."""
    per_window = records_per_day / windows_per_day
    objects = per_window / records_per_object
    shards = max(1, objects / objects_per_shard)
    shard_seconds = per_window / shards * per_record
    reduce_seconds = shards * merge_per_partial
    lambda_seconds_day = records_per_day * per_record + windows_per_day * reduce_seconds
    transitions_day = windows_per_day * (6 + 4 * shards)
    return {
        "records_per_window": per_window,
        "objects_per_window": objects,
        "shards_per_window": shards,
        "child_seconds": shard_seconds,
        "reduce_seconds": reduce_seconds,
        "window_wall_seconds": shard_seconds + reduce_seconds,
        "lambda_gb_seconds_day": lambda_seconds_day * memory_gb,
        "lambda_usd_day": lambda_seconds_day * memory_gb * LAMBDA_GB_SECOND
        + windows_per_day * (shards + 2) * LAMBDA_REQUEST,
        "transitions_day": transitions_day,
        "sfn_usd_day": transitions_day * TRANSITION,
        "s3_usd_day": windows_per_day
        * (objects * S3_GET + shards * (S3_PUT + S3_GET) + 4 * S3_PUT),
        "partial_mb_day": windows_per_day * shards * partial_bytes / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--shards", default="1,2,4,8")
    args = parser.parse_args()

    import boto3
    from moto import mock_aws

    from embedded_aws.provision import create_bucket
    from modelops.monitoring.settings import MonitorSettings
    from modelops.registry import ModelRegistry

    cpu = cpu_name()
    print(
        f"machine: {cpu}, {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()}"
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        create_bucket(s3, BUCKET)
        registry = ModelRegistry(BUCKET, s3_client=s3)
        metadata = publish_model(registry)
        lines, feedback = pool_lines(registry, metadata)
        env = {"MODELOPS_BUCKET": BUCKET, "MODEL_NAME": MODEL, "RETRAINING_ENABLED": "false"}
        settings = MonitorSettings.from_env(env)
        rows = []
        for shards in [int(s) for s in args.shards.split(",")]:
            row = measure(registry, settings, lines, feedback, args.records, shards)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(f"load average after: {os.getloadavg()}")
    base = rows[0]
    print(
        "\n| partials M | records per shard | time per shard (s, mean) | records/s per shard | partial size (KB, mean) | merge + decode (s) | analysis (s) | counts equal M=1 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        mean = sum(row["shard_seconds"]) / row["shards"]
        per = row["records"] / row["shards"]
        same = row["predictions"] == base["predictions"] and row["labeled"] == base["labeled"]
        print(
            f"| {row['shards']} | {per:,.0f} | {mean:.1f} | {per / mean:,.0f} | {sum(row['partial_bytes']) / row['shards'] / 1024:.0f} | {row['merge_seconds']:.3f} | {row['analysis_seconds']:.2f} | {same} |"
        )
    last = rows[-1]
    per_record = sum(last["shard_seconds"]) / last["records"]
    merge_per_partial = last["merge_seconds"] / last["shards"]
    partial = sum(last["partial_bytes"]) / last["shards"]
    p = projection(per_record, partial, merge_per_partial)
    print(
        f"\nprojection for 1e9 records/day (per record {per_record * 1e6:.2f} us, merge {merge_per_partial * 1000:.1f} ms/partial, partial {partial / 1024:.0f} KB):"
    )
    print(json.dumps({k: round(v, 4) for k, v in p.items()}, indent=1))


if __name__ == "__main__":
    main()
