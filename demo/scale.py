"""`make demo-scale`: a generated dataset scored by BatchScoringStateMachine, then the window
holding those rows monitored by MonitorStateMachine in shards, on embedded AWS.

Both state machines run their own definition files (batch-scoring.asl.json,
monitor.asl.json) on moto's Step Functions interpreter; their Lambda steps and
PredictFunction run their real handlers (embedded_aws.lambda_bridge). The dataset is CSV,
JSON Lines and Parquet files. Exits 0 only when every check passes: every row scored once
with the champion (the Parquet file's by row groups), captured with source "batch", and
the sharded window's report equal to the single-function report of the same window.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ROWS = 6000
FILES = 3
PARQUET_KEY = "datasets/demo/tail.parquet"
PARQUET_GROUP_ROWS = 200
# Small items, so every file (the Parquet one too) is scored by several Map children.
CHUNK_BYTES = 16 * 1024


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def _dataset(s3: Any, bucket: str, rows: int, seed: int) -> range:
    """The churn generator's rows as CSV files (with a customer_id), one JSON Lines file and
    one Parquet file of several row groups; returns the Parquet file's row numbers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embedded_aws.churn_data import FEATURES, TARGET, as_instances, generate_churn

    frame = generate_churn(rows, seed=seed, numeric_shift=15.0)
    instances = as_instances(frame, FEATURES)
    per_file = -(-rows // (FILES + 2))
    for part in range(FILES):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["customer_id", *FEATURES, TARGET])
        for i in range(part * per_file, min((part + 1) * per_file, rows)):
            row = instances[i]
            values = ["" if row[f] is None else row[f] for f in FEATURES]
            writer.writerow([f"cust-{i}", *values, frame[TARGET].iloc[i]])
        s3.put_object(
            Bucket=bucket, Key=f"datasets/demo/part-{part}.csv", Body=out.getvalue().encode()
        )
    lines = [
        json.dumps({"customer_id": f"cust-{i}", **instances[i]})
        for i in range(FILES * per_file, min((FILES + 1) * per_file, rows))
    ]
    s3.put_object(
        Bucket=bucket, Key="datasets/demo/rest.jsonl", Body=("\n".join(lines) + "\n").encode()
    )
    in_parquet = range(min((FILES + 1) * per_file, rows), rows)
    table = pa.Table.from_pylist([{"customer_id": f"cust-{i}", **instances[i]} for i in in_parquet])
    body = io.BytesIO()
    # Row groups of PARQUET_GROUP_ROWS: the file is scored by several Map children.
    pq.write_table(table, body, row_group_size=PARQUET_GROUP_ROWS)
    s3.put_object(Bucket=bucket, Key=PARQUET_KEY, Body=body.getvalue())
    return in_parquet


def _parquet_check(s3: Any, output: str, rows: int) -> Check:
    """Every item (run of row groups) the plan made of the Parquet file wrote its counts, and
    they add up to the file's rows."""
    bucket, _, prefix = output.removeprefix("s3://").partition("/")

    def read(key: str) -> Any:
        return json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}{key}")["Body"].read())

    planned = [i for i in read("_plan/items.json") if i["key"] == PARQUET_KEY]
    done = []
    for item in planned:
        try:
            done.append(read(f"_parts/part-{item['index']:05d}.json"))
        except s3.exceptions.NoSuchKey:
            continue  # a failed item: the check fails below
    scored = sum(p["scored"] for p in done)
    groups = sum(i["end"] - i["start"] for i in planned)
    return Check(
        "Parquet rows scored by row groups",
        scored == rows and len(done) == len(planned) > 0,
        f"{scored} of {rows} rows of {PARQUET_KEY} scored: {groups} row groups in "
        f"{len(planned)} Map items",
    )


def _captured(s3: Any, bucket: str, model: str) -> list[dict[str, Any]]:
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"capture/{model}/"
    ):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            records += [json.loads(line) for line in body.splitlines() if line.strip()]
    return records


def run(rows: int, seed: int, shards: int) -> list[Check]:
    import boto3

    from embedded_aws.first_model import ensure_champion
    from embedded_aws.lambda_bridge import serve_functions
    from embedded_aws.provision import provision_stack
    from embedded_aws.server import embedded_aws
    from embedded_aws.state_machines import run_execution
    from modelops import aws

    checks: list[Check] = []
    with embedded_aws():
        aws.reset_clients()
        stack = provision_stack(
            stack_name="modelops-scale-demo",
            parameters={
                "CaptureSink": "firehose",
                "RetrainingEnabled": "false",
                "MonitorWorkers": "1",
            },
        )
        model = str(stack.refs["ModelName"]) if "ModelName" in stack.refs else "churn"
        version = ensure_champion(stack)
        s3 = boto3.client("s3")
        started = datetime.now(UTC)
        in_parquet = _dataset(s3, stack.bucket, rows, seed)
        print(f"scoring {rows} generated rows (s3://{stack.bucket}/datasets/demo/) ...", flush=True)
        with serve_functions(stack, ["PredictFunction", "BatchScoringFunction", "MonitorFunction"]):
            summary = run_execution(
                stack.ref("BatchScoringStateMachine"),
                {
                    "input": f"s3://{stack.bucket}/datasets/demo/",
                    "id_column": "customer_id",
                    "chunk_bytes": CHUNK_BYTES,
                },
                timeout=900,
            )
            print(json.dumps(summary), flush=True)
            counts = summary["counts"]
            checks.append(
                Check(
                    "every row scored once",
                    counts["scored"] == rows and counts["rejected"] == 0,
                    f"{counts['scored']} of {rows} scored, {counts['rejected']} rejected, {counts['items']} Map items",
                )
            )
            checks.append(
                Check(
                    "scored by the champion",
                    summary["model"]["version"] == version,
                    f"v{summary['model']['version']} (champion v{version})",
                )
            )
            checks.append(_parquet_check(s3, summary["output"], len(in_parquet)))
            batch = [
                c
                for c in _captured(s3, stack.bucket, model)
                if c["eventMetadata"]["source"] == "batch"
            ]
            ids = {c["eventMetadata"]["inferenceId"] for c in batch}
            checks.append(
                Check(
                    "captured with source batch",
                    len(batch) == rows and ids == {f"cust-{i}" for i in range(rows)},
                    f"{len(batch)} batch records, {len(ids)} distinct ids",
                )
            )

            window = {
                "window": {
                    "start": (started - timedelta(minutes=5))
                    .isoformat(timespec="seconds")
                    .replace("+00:00", "Z"),
                    "end": (datetime.now(UTC) + timedelta(minutes=1))
                    .isoformat(timespec="seconds")
                    .replace("+00:00", "Z"),
                }
            }
            print(
                f"monitoring {window['window']} with MonitorStateMachine in {shards} shards ...",
                flush=True,
            )
            sharded = run_execution(
                stack.ref("MonitorStateMachine"), {**window, "shards": shards}, timeout=900
            )
            single = json.loads(
                boto3.client("lambda")
                .invoke(
                    FunctionName=stack.ref("MonitorFunction"), Payload=json.dumps(window).encode()
                )["Payload"]
                .read()
            )
            checks.append(
                Check(
                    "the window's rows are the batch's",
                    sharded["counts"]["predictions"] == rows,
                    f"{sharded['counts']['predictions']} predictions in the sharded report",
                )
            )
            checks.append(
                Check(
                    f"{shards} shards, none skipped",
                    sharded["sharded_scan"]["shards"] == shards
                    and sharded["sharded_scan"]["skipped_objects"] == 0,
                    json.dumps(sharded["sharded_scan"]),
                )
            )
            same = {k: v for k, v in sharded.items() if k not in ("sharded_scan", "reports")} == {
                k: v for k, v in single.items() if k != "reports"
            }
            checks.append(
                Check(
                    "sharded report = single-function report",
                    same,
                    f"status {sharded['status']} / {single['status']}, drift {sharded['drift']['drifted_share']} / {single['drift']['drifted_share']}",
                )
            )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.scale", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    checks = run(args.rows, args.seed, args.shards)
    print("\nchecks:")
    for check in checks:
        print(f"  [{'PASS' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
