"""Monitor cost: 100k and 1M captured records, against Evidently's data-drift report.

    .venv/bin/python benchmarks/bench_monitor.py [--sizes 100000,1000000] [--runs 2] [--evidently-runs 1] [--no-evidently]
        [--per-request 100]     # format 2 beside format 1 (the default; 0: format 1 alone)
        [--compare-with main]   # also time the monitor of another git revision, interleaved

Side by side in one run, on the same generated data (20 features: 12 numeric, 8
categorical; reference = the model's 20k training rows, current = drifted production rows):

- "monitor": `modelops.monitoring.monitor.Monitor.run` on one window, in a child process,
  reading gzip JSON-lines capture objects (and 10 % labels) from S3 on a local moto server
  (embedded_aws.server) exactly as the Lambda function does; time of `run` (read, join,
  drift, performance, reports written), its CPU time with its workers' (records per
  CPU-second), the CPU this process spends meanwhile (moto's server answering the
  monitor's S3 reads: what shares the machine's cores with the monitor here and not on
  AWS). Its memory comes from a second run of the same contender right after: the peak sum
  of Pss over the child and its forked workers (sampled every 20 ms; what the function
  holds at once) beside the conservative peak RSS (the child's plus each worker's, pages
  shared after the fork counted twice). The sampler is kept out of the timed run: reading
  `smaps_rollup` every 20 ms takes CPU from the same two cores and locks the monitor's memory
  map while it walks it (each block's line prints the memory run's time beside the timed
  run's: slower).
- "evidently": Evidently 0.7's `Report([DataDriftPreset()])` on the same rows already in
  pandas DataFrames, in a child process of a separate venv (Evidently 0.7 needs pandas<3):
  /tmp/evidently-venv, created on first use by benchmarks/side_venv.py (evidently==0.7.23,
  pandas==2.3.3). Time of `report.run(...)` plus `snapshot.dict()`, and the child's peak RSS (data included).

Runs go in blocks, `--runs` of them: each block runs every monitor contender once (format 1,
format 2 with `--per-request`, the other revision with `--compare-with`) and then Evidently
(`--evidently-runs` times), so that the monitor and Evidently see the same load on a shared
machine; each run prints its load average, and the ratio is given block by block (a block's
first Evidently run against its monitor run) beside the ratio of the medians.

With `--compare-with REV` the monitor of that revision (its `layers/modelops`, extracted with
`git archive`) runs on the very same window in the same child set-up, its runs interleaved
with this tree's (A B A B ...), and the tables gain a "before" row per worker count. The
published metadata also carries a 1000-value `sample` per numeric feature, as format 1
baselines did, so an older monitor does its full work on it (this tree ignores it when the
fine bins are there).

Statistics both compute: the Jensen-Shannon distance of every categorical feature over its
full reference and current counts (Evidently's default categorical test above 1000 rows,
natural log; ours base 2, converted). Prints Markdown tables for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# As MonitorFunction runs (template.yaml): numpy's BLAS pool at one thread, so the monitor
# process has no other thread and forks its scan workers (modelops.monitoring.parallel).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.side_venv import ensure_venv, run_child  # noqa: E402

EVIDENTLY_VENV = Path("/tmp/evidently-venv")
MODEL = "bench"
BUCKET = "modelops-bench"
NUMERIC = [f"n{i:02d}" for i in range(12)]
CATEGORICAL = [f"c{i:02d}" for i in range(8)]
CARDINALITY = [3, 5, 8, 12, 20, 30, 50, 4]
TRAIN_ROWS = 20_000
OBJECT_ROWS = 100_000  # rows per capture object (a Firehose object is up to 128 MB)
LABELED_SHARE = 0.1


# ---------------------------------------------------------------- data
def generate(n: int, seed: int, *, drift: bool) -> dict[str, Any]:
    """Columns of `n` rows; with `drift`, n00 shifted, n05 rescaled, c01 reweighted, c02 10 % unseen."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        if i < 4:
            values = rng.normal(10.0 * (i + 1), 2.0 + i, size=n)
        elif i < 8:
            values = rng.lognormal(1.0 + 0.2 * i, 0.5, size=n)
        elif i < 10:
            values = rng.poisson(3 + i, size=n).astype(float)
        else:
            values = rng.uniform(0, 100, size=n)
            values[rng.random(n) < 0.05] = np.nan
        cols[name] = values
    if drift:
        cols["n00"] = cols["n00"] + 1.5
        cols["n05"] = cols["n05"] * 1.3
    for i, (name, k) in enumerate(zip(CATEGORICAL, CARDINALITY, strict=True)):
        weights = 1.0 / np.arange(1, k + 1)
        if drift and name == "c01":
            weights = weights[::-1]
        labels = np.array([f"{name}_v{j}" for j in range(k)], dtype=object)
        values = labels[rng.choice(k, size=n, p=weights / weights.sum())]
        if drift and name == "c02":
            values[rng.random(n) < 0.1] = "c02_new"
        if i == 7:
            values[rng.random(n) < 0.05] = None
        cols[name] = values
    logit = 0.15 * (cols["n00"] - 10) - 0.3 * (cols["n04"] - 4) + (cols["c00"] == "c00_v0") - 0.5
    cols["target"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no").astype(object)
    return cols


def frame(cols: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame(cols)


def extract_revision(revision: str, into: Path) -> Path:
    """`layers/modelops` of a git revision, extracted into `into`; the package root."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "layers/modelops"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "layers" / "modelops"


def add_reference_samples(s3: Any, registry: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """Give every numeric baseline entry the 1000-value sample format 1 baselines had."""
    rng = np.random.default_rng(0)
    for entry in [*metadata["baseline"]["features"].values(), metadata["baseline"]["prediction"]]:
        if entry.get("kind") == "numeric" and entry.get("fine_edges") and "sample" not in entry:
            edges, counts = np.asarray(entry["fine_edges"]), np.asarray(entry["fine_counts"])
            bins = rng.choice(counts.size, 1000, p=counts / counts.sum())
            entry["sample"] = sorted(float(edges[min(b, edges.size - 1)]) for b in bins)
    key = registry.metadata_key(MODEL, metadata["version"])
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(metadata).encode())
    return metadata


def publish_model(registry: Any) -> dict[str, Any]:
    from modelops_train.api import TrainOptions, train_and_publish
    from modelops_train.progress import Progress

    options = TrainOptions(
        data=frame(generate(TRAIN_ROWS, 0, drift=False)),
        target="target",
        model_name=MODEL,
        categorical=CATEGORICAL,
        promote="force",
        seed=0,
    )
    result = train_and_publish(options, registry=registry, progress=Progress(io.StringIO()))
    metadata: dict[str, Any] = registry.get_metadata(MODEL, result.version)
    return metadata


def write_window(
    s3: Any,
    registry: Any,
    metadata: dict[str, Any],
    cols: dict[str, Any],
    hour: int,
    per_request: int = 0,
) -> dict[str, Any]:
    """Serve the rows with the real model, write gzip capture objects and 10 % feedback.
    `per_request` > 0: capture format 2, a record per request of that many rows."""
    from modelops.capture import (
        feedback_record,
        iso_timestamp,
        output_columns,
        prediction_record,
        request_record,
    )
    from modelops.inference import OnnxModel
    from modelops.schema import ModelSchema, class_key

    schema = ModelSchema.from_metadata(metadata)
    version = int(metadata["version"])
    model = OnnxModel(
        registry.get_model_bytes(MODEL, version, expected_sha256=metadata["model_file"]["sha256"]),
        schema,
    )
    keys = [class_key(c) for c in schema.classes or ()]
    n = len(cols["target"])
    start = 1_795_000_000.0 - 1_795_000_000.0 % 86400 + hour * 3600  # a day's hour, UTC
    from datetime import UTC, datetime

    base = datetime.fromtimestamp(start, UTC)
    rng = np.random.default_rng(hour)
    labeled = rng.random(n) < LABELED_SHARE
    started = time.perf_counter()
    for part, lo in enumerate(range(0, n, OBJECT_ROWS)):
        hi = min(lo + OBJECT_ROWS, n)
        predicted = model.predict_columns({f: cols[f][lo:hi] for f in schema.feature_names})
        assert predicted.labels is not None and predicted.probabilities is not None
        numeric = {
            f: [None if math.isnan(v) else v for v in cols[f][lo:hi].tolist()] for f in NUMERIC
        }
        categorical = {f: cols[f][lo:hi].tolist() for f in CATEGORICAL}
        lines = []
        feedback = []
        requests: list[dict[str, Any]] = []
        for j in range(hi - lo):
            row = lo + j
            when = iso_timestamp(base.fromtimestamp(start + 3599.0 * row / n, UTC))
            record = prediction_record(
                inference_id=f"b-{hour}-{row}",
                inference_time=when,
                request_id="bench",
                source="api",
                model_name=MODEL,
                model_version=version,
                features={
                    **{f: numeric[f][j] for f in NUMERIC},
                    **{f: categorical[f][j] for f in CATEGORICAL},
                },
                output={
                    "label": predicted.labels[j],
                    "probabilities": dict(
                        zip(keys, predicted.probabilities[j].tolist(), strict=True)
                    ),
                },
            )
            if per_request:
                requests.append(record)
                if len(requests) == per_request or j == hi - lo - 1:
                    first = requests[0]["eventMetadata"]
                    grouped = request_record(
                        event_id=first["eventId"],
                        inference_ids=[r["eventMetadata"]["inferenceId"] for r in requests],
                        inference_time=first["inferenceTime"],
                        request_id="bench",
                        source="api",
                        model_name=MODEL,
                        model_version=version,
                        inputs={
                            f: [r["input"][f] for r in requests] for f in NUMERIC + CATEGORICAL
                        },
                        outputs=output_columns([r["output"] for r in requests]),
                    )
                    lines.append(json.dumps(grouped, separators=(",", ":")))
                    requests = []
            else:
                lines.append(json.dumps(record, separators=(",", ":")))
            if labeled[row]:
                feedback.append(
                    json.dumps(
                        feedback_record(
                            inference_id=f"b-{hour}-{row}",
                            received_time=when,
                            label=cols["target"][row],
                        )
                    )
                )
        s3.put_object(
            Bucket=BUCKET,
            Key=f"capture/{MODEL}/{base:%Y/%m/%d/%H}/part-{part:04d}.jsonl.gz",
            Body=gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1),
        )
        s3.put_object(
            Bucket=BUCKET,
            Key=f"feedback/{MODEL}/{base:%Y/%m/%d/%H}/part-{part:04d}.jsonl",
            Body=("\n".join(feedback) + "\n").encode(),
        )
    end = datetime.fromtimestamp(start + 3600, UTC)
    return {
        "start": base.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "write_seconds": time.perf_counter() - started,
    }


# ---------------------------------------------------------------- children
def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: on Linux that survives exec
    and would report the forking parent's size (which holds the moto server's data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished workers: on a machine shared with
    other work this moves far less than wall time, so it is printed beside it."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it (the monitor's forked workers)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # a process that just ended
                pids.extend(int(c) for c in task.read_text().split())
        i += 1
    return pids


def _tree_memory_mb(pid: int) -> tuple[float, float, list[float]]:
    """(sum of Pss, sum of Rss, each process's Pss) of the process tree, MB. Pss shares each
    page among the processes mapping it: what the tree holds in RAM, pages shared after fork
    counted once."""
    pss = rss = 0
    each = []
    for p in _tree(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue  # a worker that just ended
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
                each.append(int(line.split()[1]) / 1024)
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return pss / 1024, rss / 1024, each


def run_monitor_child(
    args: list[str], *, env: dict[str, str] | None = None, sample_memory: bool = False
) -> dict[str, Any]:
    """`run_child`; with `sample_memory`, sampling the child's process tree every 20 ms: its
    peak Pss sum (the honest figure: what the function's memory holds at once) and peak Rss
    sum."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )
    peak_pss = peak_rss = 0.0
    at_peak: list[float] = []
    with ThreadPoolExecutor(1) as pool:
        output = pool.submit(proc.communicate)
        while sample_memory and proc.poll() is None:
            pss, rss, each = _tree_memory_mb(proc.pid)
            if pss > peak_pss:
                peak_pss, at_peak = pss, each
            peak_rss = max(peak_rss, rss)
            time.sleep(0.02)
        stdout, stderr = output.result()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args, stdout, stderr)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    if not sample_memory:
        return result
    result["tree_pss_peak_mb"] = peak_pss
    result["tree_rss_peak_mb"] = peak_rss
    result["pss_at_peak_mb"] = [round(p) for p in at_peak]  # the parent's first, then workers'
    return result


def child_monitor(endpoint: str, start: str, end: str, workers: str) -> None:
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    import modelops
    from modelops.monitoring.monitor import Monitor, MonitorSettings
    from modelops.monitoring.window import Window

    expected = os.environ.get("BENCH_MODELOPS_ROOT")
    if expected and not str(Path(modelops.__file__).resolve()).startswith(expected):
        raise SystemExit(f"expected modelops from {expected}, got {modelops.__file__}")

    env = {
        "MODELOPS_BUCKET": BUCKET,
        "MODEL_NAME": MODEL,
        "RETRAINING_ENABLED": "false",
        "MONITOR_WORKERS": workers,
    }
    monitor = Monitor.from_settings(MonitorSettings.from_env(env))
    window = Window.from_event({"window": {"start": start, "end": end}}, window_minutes=60)
    load = os.getloadavg()[0]
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    report = monitor.run(window)
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started
    features = report["drift"]["features"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "load_before": load,
                "peak_rss_mb": peak_rss_mb(),
                "workers_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                / 1024,
                "rows": report["counts"]["predictions"],
                "labeled": report["counts"]["labeled"],
                "status": report["status"],
                "drifted": sorted(n for n, f in features.items() if f["drifted"]),
                "js": {
                    n: f["jensen_shannon"]
                    for n, f in features.items()
                    if f["kind"] == "categorical"
                },
                "wasserstein_normalized": {
                    n: f["wasserstein_normalized"]
                    for n, f in features.items()
                    if f["kind"] == "numeric"
                },
                "timings": report["timings_seconds"],
            }
        )
    )


EVIDENTLY_CHILD = r"""
import json, sys, time
import numpy as np, pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
reference = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[""])
current = pd.read_csv(sys.argv[2], keep_default_na=False, na_values=[""])
numeric, categorical = sys.argv[3].split(","), sys.argv[4].split(",")
for c in categorical:
    reference[c] = reference[c].astype(object); current[c] = current[c].astype(object)
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
load = __import__("os").getloadavg()[0]
started = time.perf_counter()
ref = Dataset.from_pandas(reference, data_definition=definition)
cur = Dataset.from_pandas(current, data_definition=definition)
snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
result = snapshot.dict()
seconds = time.perf_counter() - started
scores, drifted = {}, []
for metric in result["metrics"]:
    config = metric.get("config", {})
    column = config.get("column")
    if column is None or not isinstance(metric.get("value"), (int, float)):
        continue
    scores[column] = {"value": metric["value"], "method": config.get("method"), "threshold": config.get("threshold")}
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "load_before": load,
                  "scores": scores}))
"""


def ensure_evidently() -> Path:
    return ensure_venv(EVIDENTLY_VENV, ["evidently==0.7.23", "pandas==2.3.3"])


def revision_env(modelops_root: Path) -> dict[str, str]:
    """A child's environment importing another revision's package ahead of the editable
    install (the child checks that it did)."""
    return {"PYTHONPATH": str(modelops_root), "BENCH_MODELOPS_ROOT": str(modelops_root.resolve())}


def contenders(
    endpoint: str,
    window: dict[str, Any],
    by_request: dict[str, Any] | None,
    workers: str,
    per_request: int,
    before_root: Path | None,
) -> list[tuple[str, list[str], dict[str, str] | None]]:
    """(label, child command, environment) of each monitor run of one block: format 1 and
    format 2 side by side, or the other revision and this tree."""
    child = [sys.executable, __file__, "--child-monitor", endpoint, window["start"], window["end"]]
    runs: list[tuple[str, list[str], dict[str, str] | None]] = []
    if before_root is not None:
        runs.append((f"{workers} (before)", [*child, workers], revision_env(before_root)))
    runs.append((workers, [*child, workers], None))
    if by_request is not None:
        other = [*child[:4], by_request["start"], by_request["end"], workers]
        label = f"{workers} requests of {per_request}"
        if before_root is not None:
            runs.append((f"{label} (before)", other, revision_env(before_root)))
        runs.append((label, other, None))
    return runs


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=2, help="monitor runs per size")
    parser.add_argument(
        "--evidently-runs",
        type=int,
        default=1,
        help="Evidently runs per block (a block: every monitor contender once, then Evidently)",
    )
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--workers", default="1,2", help="MONITOR_WORKERS values to measure")
    parser.add_argument("--child-monitor", nargs=4, metavar=("ENDPOINT", "START", "END", "WORKERS"))
    parser.add_argument("--compare-with", help="git revision whose monitor to time side by side")
    parser.add_argument(
        "--per-request",
        type=int,
        default=100,
        help="also capture the same rows as format-2 records of this many rows each (a second "
        "window), timed side by side with format 1; the target is read on format 2 (0: "
        "format 1 alone)",
    )
    args = parser.parse_args()
    if args.child_monitor:
        child_monitor(*args.child_monitor)
        return

    import boto3

    from embedded_aws.provision import create_bucket
    from embedded_aws.server import embedded_aws
    from modelops.registry import ModelRegistry

    sizes = [int(s) for s in args.sizes.split(",")]
    evidently = None if args.no_evidently else ensure_evidently()
    rows: list[dict[str, Any]] = []
    with embedded_aws() as endpoint, tempfile.TemporaryDirectory() as tmp:
        s3 = boto3.client("s3")
        create_bucket(s3, BUCKET)
        registry = ModelRegistry(BUCKET, s3_client=s3)
        metadata = publish_model(registry)
        before_root = None
        if args.compare_with:
            before_root = extract_revision(args.compare_with, Path(tmp))
            metadata = add_reference_samples(s3, registry, metadata)
        reference = frame(generate(TRAIN_ROWS, 0, drift=False))
        # Evidently's reference: exactly the rows the model's baseline was built from (the
        # training job's stratified 80 % training split, same seed).
        from sklearn.model_selection import train_test_split

        train_idx, _ = train_test_split(
            np.arange(TRAIN_ROWS), test_size=0.2, random_state=0, stratify=reference["target"]
        )
        reference = reference.iloc[np.sort(train_idx)]
        reference_csv = Path(tmp, "reference.csv")
        reference[NUMERIC + CATEGORICAL].to_csv(reference_csv, index=False)
        for hour, n in enumerate(sizes, start=1):
            cols = generate(n, 100 + hour, drift=True)
            window = write_window(s3, registry, metadata, cols, hour * 2)
            print(f"{n:,} rows written in {window['write_seconds']:.1f} s", file=sys.stderr)
            by_request = None
            if args.per_request:
                by_request = write_window(
                    s3, registry, metadata, cols, hour * 2 + 1, per_request=args.per_request
                )
            row: dict[str, Any] = {"rows": n, "monitor": {}, "evidently": []}
            evidently_args = None
            if evidently is not None:
                current_csv = Path(tmp, f"current-{n}.csv")
                frame(cols)[NUMERIC + CATEGORICAL].to_csv(current_csv, index=False)
                evidently_args = [
                    str(evidently),
                    "-c",
                    EVIDENTLY_CHILD,
                    str(reference_csv),
                    str(current_csv),
                    ",".join(NUMERIC),
                    ",".join(CATEGORICAL),
                ]
            # Blocks: every contender once per block (format 1, format 2, ..., Evidently),
            # so that all of them see the same load, which moves on a shared machine.
            for block in range(args.runs):
                for workers in args.workers.split(","):
                    for label, child, env in contenders(
                        endpoint, window, by_request, workers, args.per_request, before_root
                    ):
                        # This process serves S3 (moto) to the monitor on the same cores:
                        # its CPU during the run is what the stand-in for S3 takes from it.
                        own = resource.getrusage(resource.RUSAGE_SELF)
                        result = run_monitor_child(child, env=env)
                        after = resource.getrusage(resource.RUSAGE_SELF)
                        result["server_cpu_seconds"] = (after.ru_utime - own.ru_utime) + (
                            after.ru_stime - own.ru_stime
                        )
                        # Memory from a second run: the sampler would slow the timed one.
                        memory = run_monitor_child(child, env=env, sample_memory=True)
                        for key in ("tree_pss_peak_mb", "tree_rss_peak_mb", "pss_at_peak_mb"):
                            result[key] = memory[key]
                        row["monitor"].setdefault(label, []).append(result)
                        print(
                            f"block {block + 1}: monitor {label}: {result['seconds']:.2f} s, "
                            f"{result['cpu_seconds']:.2f} CPU-s, load {result['load_before']:.2f}, "
                            f"S3 server {result['server_cpu_seconds']:.2f} CPU-s, scan "
                            f"{result['timings']['scan']:.2f} s (feedback index included), "
                            f"analysis {result['timings']['analysis']:.2f} s; memory run "
                            f"{memory['seconds']:.2f} s, peak Pss {memory['tree_pss_peak_mb']:.0f} MB",
                            file=sys.stderr,
                        )
                if evidently_args is not None:
                    for _ in range(args.evidently_runs):
                        result = run_child(evidently_args)
                        row["evidently"].append(result)
                        print(
                            f"block {block + 1}: Evidently {result['seconds']:.2f} s, "
                            f"load {result['load_before']:.2f}",
                            file=sys.stderr,
                        )
            if not row["evidently"]:
                del row["evidently"]
            rows.append(row)
            print(json.dumps(summarize(row)), file=sys.stderr)
    print_tables(rows)


# The monitor's targets: this many times Evidently's speed, within this much memory.
TARGET_RATIO = 10.0
TARGET_MB = 300


def summarize(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": row["rows"], "monitor": {}}
    for workers, runs in row["monitor"].items():
        seconds = statistics.median(r["seconds"] for r in runs)
        # Conservative: the workers' peak counts pages they share with the parent again.
        count = int(workers.split()[0])
        total_mb = max(
            r["peak_rss_mb"] + count * r["workers_peak_rss_mb"] * (count > 1) for r in runs
        )
        out["monitor"][workers] = {
            "seconds": seconds,
            "cpu_seconds": statistics.median(r.get("cpu_seconds", math.nan) for r in runs),
            "server_cpu_seconds": statistics.median(
                r.get("server_cpu_seconds", math.nan) for r in runs
            ),
            "loads": [round(r.get("load_before", math.nan), 2) for r in runs],
            "peak_mb": total_mb,
            "pss_mb": max(r["tree_pss_peak_mb"] for r in runs),
            "pss_split": max(runs, key=lambda r: r["tree_pss_peak_mb"])["pss_at_peak_mb"],
            "rss_sum_mb": max(r["tree_rss_peak_mb"] for r in runs),
            # records per CPU-second (parent and workers): per core, whatever the wall time
            "per_core": statistics.median(r["rows"] / r["cpu_seconds"] for r in runs),
            "runs": len(runs),
            "each_s": [r["seconds"] for r in runs],
        }
    if "evidently" in row:
        out["evidently_s"] = statistics.median(r["seconds"] for r in row["evidently"])
        out["evidently_mb"] = max(r["peak_rss_mb"] for r in row["evidently"])
        out["evidently_each_s"] = [r["seconds"] for r in row["evidently"]]
        out["evidently_loads"] = [
            round(r.get("load_before", math.nan), 2) for r in row["evidently"]
        ]
    return out


def _contender(label: str) -> str:
    """'2 requests of 100 (before)' -> '2 worker(s), format 2 (requests of 100 rows), the
    other revision'."""
    base = label.removesuffix(" (before)")
    count, _, layout = base.partition(" ")
    shape = f"format 2 ({layout} rows)" if layout else "format 1"
    other = ", the other revision" if base != label else ""
    return f"{count} worker(s), {shape}{other}"


def print_tables(rows: list[dict[str, Any]]) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    print(f"\nload average at the end: {os.getloadavg()}")
    for row in rows:
        s = summarize(row)
        for workers, m in s["monitor"].items():
            line = f"{s['rows']:,} records, {_contender(workers)}: "
            if "evidently_s" in s:
                ratio = s["evidently_s"] / m["seconds"]
                verdict = (
                    "met" if ratio >= TARGET_RATIO else f"missed by {TARGET_RATIO / ratio:.2f}x"
                )
                # Block by block (the same load for both), then the medians.
                blocks = [
                    f"{e / m_s:.2f}x"
                    for e, m_s in zip(s["evidently_each_s"], m["each_s"], strict=False)
                ]
                line += (
                    f"Evidently / monitor = {ratio:.2f}x (target {TARGET_RATIO:g}x: {verdict}; "
                    f"block by block {', '.join(blocks)}; Evidently's load average at its runs' "
                    f"starts {s['evidently_loads']}); "
                )
            memory = (
                "met" if m["pss_mb"] <= TARGET_MB else f"missed by {m['pss_mb'] - TARGET_MB:.0f} MB"
            )
            print(
                line + f"peak Pss of the process tree {m['pss_mb']:.0f} MB (target {TARGET_MB} MB: "
                f"{memory}; at the peak, per process {m['pss_split']}; conservative RSS "
                f"{m['peak_mb']:.0f} MB); "
                f"{m['per_core']:,.0f} records per CPU-second; load average at each run's start "
                f"{m['loads']}"
            )
    for row in rows:
        m = summarize(row)["monitor"]
        for workers in [w for w in m if not w.endswith("(before)")]:
            if " requests of " in workers:
                rows_1, rows_2 = m[workers.split()[0]], m[workers]
                print(
                    f"{row['rows']:,} records, {workers.split()[0]} worker(s): format 1 / "
                    f"format 2 ({workers.split(' ', 1)[1]} rows) = "
                    f"{rows_1['seconds'] / rows_2['seconds']:.2f}x wall "
                    f"({rows_1['seconds']:.2f} s -> {rows_2['seconds']:.2f} s), "
                    f"{rows_1['cpu_seconds'] / rows_2['cpu_seconds']:.2f}x CPU; load average at "
                    f"each run's start: {rows_1['loads']}, {rows_2['loads']}"
                )
            if f"{workers} (before)" in m:
                before, after = m[f"{workers} (before)"], m[workers]
                ratio = before["seconds"] / after["seconds"]
                cpu_ratio = before["cpu_seconds"] / after["cpu_seconds"]
                print(
                    f"{row['rows']:,} records, {_contender(workers)}: before / after = {ratio:.2f}x "
                    f"({before['seconds']:.2f} s -> {after['seconds']:.2f} s); CPU time "
                    f"before / after = {cpu_ratio:.2f}x ({before['cpu_seconds']:.2f} s -> "
                    f"{after['cpu_seconds']:.2f} s); load average at each run's start: "
                    f"before {before['loads']}, after {after['loads']}"
                )
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores {platform.machine()} ({cpu}), Python {platform.python_version()}\n"
    )
    print(
        "| records | monitor workers | runs | monitor (s) | monitor CPU (s) | records / s / core | "
        "S3 server CPU (s) | peak Pss, process tree (MB) | "
        "peak RSS, conservative (MB) | Evidently (s) | Evidently peak RSS (MB) | "
        "Evidently / monitor |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        s = summarize(row)
        for workers, m in s["monitor"].items():
            if "evidently_s" in s:
                ev = f"{s['evidently_s']:.2f} | {s['evidently_mb']:.0f} | {s['evidently_s'] / m['seconds']:.1f}x"
            else:
                ev = "- | - | -"
            print(
                f"| {s['rows']:,} | {workers} | {m['runs']} | {m['seconds']:.2f} | "
                f"{m['cpu_seconds']:.2f} | {m['per_core']:,.0f} | {m['server_cpu_seconds']:.2f} | "
                f"{m['pss_mb']:.0f} | "
                f"{m['peak_mb']:.0f} | {ev} |"
            )
    print(
        "\nDrift verdicts and the statistic both compute (Jensen-Shannon distance, natural log, full counts):\n"
    )
    print("| records | feature | ours | Evidently | abs diff |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        ours = next(iter(row["monitor"].values()))[0]
        if "evidently" not in row:
            continue
        theirs = row["evidently"][0]["scores"]
        for name, js2 in sorted(ours["js"].items()):
            js_e = js2 * math.sqrt(math.log(2))
            if name in theirs:
                ev = theirs[name]["value"]
                print(
                    f"| {row['rows']:,} | {name} | {js_e:.6f} | {ev:.6f} | {abs(js_e - ev):.1e} |"
                )
    for row in rows:
        first = next(iter(row["monitor"].values()))[0]
        print(
            f"\n{row['rows']:,} records: monitor drifted {first['drifted']}; status {first['status']}; timings {first['timings']}"
        )
        if "evidently" in row:
            scores = row["evidently"][0]["scores"]
            flagged = sorted(
                c
                for c, s in scores.items()
                if s["threshold"] is not None and s["value"] >= s["threshold"]
            )
            print(f"Evidently drift scores >= threshold: {flagged}")


if __name__ == "__main__":
    main()
