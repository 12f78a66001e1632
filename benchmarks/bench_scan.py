"""CPU time of the monitor's scan alone (parse, group, accumulate), this tree against other
git revisions, interleaved: no S3, no HTTP, no worker processes, so the figure barely moves
with the load of a shared machine (bench_monitor.py times the whole run).

    .venv/bin/python benchmarks/bench_scan.py [--rows 100000] [--rounds 2] [--compare-with 98e420a]
        [--per-request 100]   # the window captured in format 2, a record per request

The window is bench_monitor's (20 features, served by the trained model, 10 % labels),
written once to a temporary directory; each contender then runs in a child process (its
revision's `layers/modelops` first on PYTHONPATH) that feeds the capture lines to
`WindowScan.add_lines` in batches of 5,000 lines or 4 MiB (as the reader cuts them), three times, and prints the least process CPU
time. Rounds alternate the contenders (A B A B ...).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = r"""
import gc, gzip, json, sys, time
import modelops
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.window import Window, WindowScan
data = json.load(open(sys.argv[1] + "/meta.json"))
lines = [l for l in gzip.decompress(open(sys.argv[1] + "/capture.gz", "rb").read()).split(b"\n") if l]
feedback = FeedbackIndex.from_records([[l for l in open(sys.argv[1] + "/feedback.jsonl", "rb").read().split(b"\n") if l]])
window = Window.from_event({"window": data["window"]}, window_minutes=60)
# Batches as the monitor's reader cuts them: 5,000 lines or 4 MiB, whichever comes first.
batches, batch, size = [], [], 0
for line in lines:
    batch.append(line)
    size += len(line) + 1
    if len(batch) >= 5000 or size >= 4 << 20:
        batches.append(batch)
        batch, size = [], 0
batches += [batch] if batch else []
times = []
for _ in range(3):
    scan = WindowScan(window=window, model_name=data["model"], feedback=feedback,
                      load_metadata=lambda version: data["metadata"])
    gc.disable()  # as the scan runs (modelops.monitoring.scanning.cyclic_gc_paused)
    started = time.process_time()
    for batch in batches:
        scan.add_lines(batch)
    times.append(time.process_time() - started)
    gc.enable()
print(json.dumps({"cpu_seconds": min(times), "rows": scan.predictions, "labeled": scan.labeled,
                  "package": modelops.__file__}))
"""


def write_window(rows: int, into: Path, per_request: int = 0) -> None:
    import boto3
    from moto import mock_aws

    from benchmarks import bench_monitor as b
    from modelops.registry import ModelRegistry

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=b.BUCKET)
        registry = ModelRegistry(b.BUCKET, s3_client=s3)
        metadata = b.add_reference_samples(s3, registry, b.publish_model(registry))
        window = b.write_window(
            s3, registry, metadata, b.generate(rows, 101, drift=True), 2, per_request
        )
        capture, feedback = b"", b""
        for obj in s3.list_objects_v2(Bucket=b.BUCKET)["Contents"]:
            body = s3.get_object(Bucket=b.BUCKET, Key=obj["Key"])["Body"].read()
            if obj["Key"].startswith("capture/"):
                capture += gzip.decompress(body)
            elif obj["Key"].startswith("feedback/"):
                feedback += body
    (into / "capture.gz").write_bytes(gzip.compress(capture, compresslevel=1))
    (into / "feedback.jsonl").write_bytes(feedback)
    window = {"start": window["start"], "end": window["end"]}
    (into / "meta.json").write_text(
        json.dumps({"metadata": metadata, "window": window, "model": b.MODEL})
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--per-request", type=int, default=0, help="capture format 2: requests of this many rows"
    )
    parser.add_argument("--compare-with", default="98e420a", help="git revisions, comma-separated")
    args = parser.parse_args()
    from benchmarks.bench_monitor import extract_revision

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "data")
        data.mkdir()
        write_window(args.rows, data, args.per_request)
        roots = {"this tree": REPO / "layers" / "modelops"}
        for revision in args.compare_with.split(","):
            roots[revision] = extract_revision(revision, Path(tmp, revision))
        results: dict[str, list[float]] = {name: [] for name in roots}
        for _ in range(args.rounds):
            for name, root in roots.items():
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(data)],
                    env={**os.environ, "PYTHONPATH": str(root)},
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                result = json.loads(out.strip().splitlines()[-1])
                assert result["package"].startswith(str(root)), result["package"]
                results[name].append(result["cpu_seconds"])
                print(name, result, f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        mine = min(results["this tree"])
        print(f"\nscan CPU seconds for {args.rows:,} records (least of 3 x {args.rounds} rounds):")
        for name, seconds in results.items():
            print(
                f"- {name}: {min(seconds):.3f} s ({name} / this tree = {min(seconds) / mine:.2f}x)"
            )
        print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
