"""Serving cost: PredictFunction against what users deploy today, side by side in one run.

    .venv/bin/python benchmarks/bench_predict.py [--quick]

Same model (the training job's HistGradientBoosting churn pipeline, 10k demo rows) and the
same rows for every contender, all on moto's server on 127.0.0.1:
- warm latency of a 1-row API Gateway event through PredictFunction's handler (resolver,
  validation, ONNX, response, capture with the log sink, logs and metrics), against bare
  onnxruntime `session.run` on prebuilt feeds and the scikit-learn pipeline's
  `predict_proba` on a prebuilt 1-row DataFrame;
- rows per second for 100- and 1000-row requests, same three;
- cold start: a fresh Python process to its first answered request, model fetched from
  moto's server: the `sam build` bundle alone on sys.path (as Lambda's /var/task and
  /opt/python) against a handler that loads a joblib scikit-learn pipeline with pandas;
- bundle: PredictFunction plus its layers after `sam build`, against scikit-learn + scipy +
  pandas + numpy + joblib as installed (what the joblib handler needs);
- what capture adds to a request with each sink (none, log, firehose to moto's server).
Prints Markdown tables (docs/PERFORMANCE.md, "Serving").
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import joblib  # noqa: E402
import pandas as pd  # noqa: E402

from embedded_aws.bundle import (  # noqa: E402
    built_handler_command,
    bundle_size,
    run_built_handler,
    run_sam,
)
from embedded_aws.churn_data import TARGET, generate_churn  # noqa: E402
from embedded_aws.provision import create_bucket, create_capture_stream  # noqa: E402
from embedded_aws.server import embedded_aws  # noqa: E402
from embedded_aws.template import function_environment, function_source, resolve  # noqa: E402
from modelops import aws  # noqa: E402
from modelops.capture import FirehoseSink, LogSink  # noqa: E402
from modelops.registry import ModelRegistry  # noqa: E402
from modelops_train.api import TrainOptions, publish_trained, train  # noqa: E402
from modelops_train.pipeline import build_pipeline  # noqa: E402
from modelops_train.progress import Progress  # noqa: E402
from modelops_train.spec import feature_frame, target_values  # noqa: E402

BUCKET = "modelops-bench"
STREAM = "modelops-bench-capture"
SKLEARN_KEY = "bench/sklearn/model.joblib"
EVENT = ROOT / "events" / "predict_api.json"
SKLEARN_BUNDLE = ("scikit-learn", "scipy", "pandas", "numpy", "joblib", "threadpoolctl")


class Context:
    function_name = "predict"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id = "bench"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """stdout to /dev/null, as Lambda's stdout is a pipe nobody waits on."""
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
        yield


def timings(fn: Callable[[], Any], n: int, warmup: int = 20) -> list[float]:
    with quiet():
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return sorted(out)


def p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def api_event(instances: list[dict[str, Any]]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    event["body"] = json.dumps({"instances": instances})
    return event


def json_rows(frame: pd.DataFrame, features: list[str]) -> list[dict[str, Any]]:
    rows = json.loads(frame[features].to_json(orient="records"))
    return [dict(row) for row in rows]


def function_env(**overrides: str) -> dict[str, str]:
    refs = {"ModelOpsBucket": BUCKET, "CaptureDeliveryStream": STREAM}
    env = {k: str(v) for k, v in resolve(function_environment("PredictFunction"), refs).items()}
    env.update(overrides)
    return env


def load_handler_module() -> Any:
    source = function_source("PredictFunction")
    spec = importlib.util.spec_from_file_location(
        "predict_app_bench", source.code_dir / f"{source.module}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FrameworkOnly:
    """PredictService's stand-in that answers at once, emitting the same metrics."""

    def __init__(self, response: dict[str, Any], metrics: Any) -> None:
        self.response = response
        self.metrics = metrics

    def predict(self, payload: Any, *, source: str, request_id: str) -> dict[str, Any]:
        self.metrics.add_dimension(name="ModelVersion", value="1")
        self.metrics.add_metric(name="PredictedRows", unit="Count", value=1)
        self.metrics.add_metric(name="PredictionLatency", unit="Milliseconds", value=0.1)
        return self.response


# ---------------------------------------------------------------- cold start


SKLEARN_COLD = r"""
import io, json, sys
import boto3, joblib
import pandas as pd
s3 = boto3.client("s3")
model = joblib.load(io.BytesIO(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])["Body"].read()))
event = json.load(open(sys.argv[3]))
frame = pd.DataFrame(json.loads(event["body"])["instances"])
probabilities = model.predict_proba(frame)
body = {"predictions": [{"label": str(model.classes_[row.argmax()]),
        "probabilities": dict(zip(map(str, model.classes_), row.tolist()))} for row in probabilities]}
response = {"statusCode": 200, "body": json.dumps(body)}
sys.stderr.write("ANSWERED\n"); sys.stderr.flush()
"""


def time_to_answer(args: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.strip() == "ANSWERED":
            elapsed = time.perf_counter() - start
            proc.wait(timeout=60)
            return elapsed
    proc.wait(timeout=60)
    raise RuntimeError("the process never answered:\n" + "".join(lines[-30:]))


def installed_size(distribution: str) -> int:
    dist = importlib.metadata.distribution(distribution)
    total = 0
    for file in dist.files or ():
        located = Path(str(dist.locate_file(file)))
        if located.is_file() and "__pycache__" not in located.parts:
            total += located.stat().st_size
    return total


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument(
        "--warm-only",
        action="store_true",
        help="only warm latency and throughput, the request path (benchmarks/compare_predict.py)",
    )
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    n1, n100, n1000, n_cold = (
        int(3000 * scale) or 50,
        int(300 * scale) or 10,
        int(60 * scale) or 5,
        2 if args.quick else 5,
    )

    with embedded_aws() as endpoint, tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        aws.reset_clients()
        s3 = boto3.client("s3")
        create_bucket(s3, BUCKET)
        create_capture_stream(boto3.client("firehose"), BUCKET, name=STREAM)
        registry = ModelRegistry(BUCKET, s3_client=s3)

        frame = generate_churn(10_000, seed=0)
        trained = train(
            TrainOptions(data=frame, target=TARGET, model_name="churn", seed=0),
            progress=Progress(io.StringIO()),
        )
        publish_trained(
            trained, registry=registry, promote="force", progress=Progress(io.StringIO())
        )
        schema = trained.schema
        features = list(schema.feature_names)
        # The same pipeline, fitted on the same rows, as a scikit-learn user would deploy it.
        pipeline = build_pipeline(schema, seed=0).fit(
            feature_frame(frame, schema), target_values(frame, trained.spec)
        )
        buffer = io.BytesIO()
        joblib.dump(pipeline, buffer)
        s3.put_object(Bucket=BUCKET, Key=SKLEARN_KEY, Body=buffer.getvalue())

        live = generate_churn(1000, seed=1)
        rows = json_rows(live, features)
        live_x = feature_frame(live, schema)

        os.environ.update(function_env())
        module = load_handler_module()
        handler = module.lambda_handler
        service = module.service
        with quiet():
            handler(api_event(rows[:1]), Context())  # cold load, outside the measurements
        onnx_model = service.cache.get().model

        results: dict[str, Any] = {}
        # ---- warm latency, 1 row
        event1 = api_event(rows[:1])
        feeds1 = schema.to_onnx_feeds({f: [rows[0].get(f)] for f in features})
        frame1 = live_x.iloc[:1]
        results["handler_1"] = timings(lambda: handler(event1, Context()), n1)
        results["session_1"] = timings(lambda: onnx_model.session.run(None, feeds1), n1)
        if not args.warm_only:  # the request path only: scikit-learn is not part of it
            results["sklearn_1"] = timings(
                lambda: pipeline.predict_proba(frame1), max(50, n1 // 10)
            )
        # Where the handler's time goes: the same event with the service answering a canned
        # response (same metrics): Powertools resolver, logger, metrics, JSON in and out.
        with quiet():
            canned = service.predict(json.loads(event1["body"]), source="api", request_id="bench")
        module.service = FrameworkOnly(canned, module.metrics)
        results["framework_1"] = timings(lambda: handler(event1, Context()), n1)
        module.service = service

        # ---- throughput
        for n, reps in ((100, n100), (1000, n1000)):
            event_n = api_event(rows[:n])
            feeds_n = schema.to_onnx_feeds({f: [r.get(f) for r in rows[:n]] for f in features})
            frame_n = live_x.iloc[:n]
            results[f"handler_{n}"] = timings(partial(handler, event_n, Context()), reps, warmup=3)
            results[f"session_{n}"] = timings(
                partial(onnx_model.session.run, None, feeds_n), reps, warmup=3
            )
            if not args.warm_only:
                results[f"sklearn_{n}"] = timings(
                    partial(pipeline.predict_proba, frame_n), reps, warmup=3
                )

        if args.warm_only:
            report_warm(results, args.quick)
            return

        # ---- capture overhead per sink (the service, so only capture differs)
        capture: dict[str, dict[int, float]] = {}
        sinks: dict[str, Any] = {
            "none": None,
            "log": LogSink(),
            "firehose": FirehoseSink(STREAM, firehose_client=boto3.client("firehose")),
        }
        for name, sink in sinks.items():
            service.sink = sink
            capture[name] = {}
            for n in (1, 100):
                payload = {"instances": rows[:n]}
                reps = max(30, (n1 if n == 1 else n100) // 4)
                capture[name][n] = p(
                    timings(
                        partial(service.predict, payload, source="api", request_id="bench"),
                        reps,
                        warmup=5,
                    ),
                    0.5,
                )
        service.sink = sinks["log"]

        # ---- bundle and cold start
        build_dir = Path(tmp) / "sam-build"
        built = run_sam(["build", "--build-dir", str(build_dir)], Path(tmp))
        if built.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{built.stdout}\n{built.stderr}")
        ours_mb = bundle_size(build_dir, "PredictFunction") / 1e6
        sklearn_mb = sum(installed_size(d) for d in SKLEARN_BUNDLE) / 1e6
        ours_command = built_handler_command(build_dir, "PredictFunction", EVENT, Path(tmp))
        base_env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH", "ORT_"))}
        base_env["HOME"] = tmp
        ours_env = {**base_env, **function_env()}
        # The timed runs only wait for the answer: check once that it is a real 200.
        checked = run_built_handler(
            build_dir, "PredictFunction", EVENT, env=ours_env, workdir=Path(tmp)
        )
        assert checked.result["statusCode"] == 200, checked.result
        cold_ours, cold_sklearn = [], []
        for _ in range(n_cold):
            cold_ours.append(time_to_answer(ours_command, ours_env, tmp))
            cold_sklearn.append(
                time_to_answer(
                    [sys.executable, "-c", SKLEARN_COLD, BUCKET, SKLEARN_KEY, str(EVENT)],
                    base_env,
                    tmp,
                )
            )
        print(f"(moto server {endpoint})", file=sys.stderr)

    report(
        results, capture, ours_mb, sklearn_mb, sorted(cold_ours), sorted(cold_sklearn), args.quick
    )


def report(
    results: dict[str, list[float]],
    capture: dict[str, dict[int, float]],
    ours_mb: float,
    sklearn_mb: float,
    cold_ours: list[float],
    cold_sklearn: list[float],
    quick: bool,
) -> None:
    us = 1e6
    report_warm(results, quick)
    print("\nCold start: fresh process to first answered request, model from moto's server (s)\n")
    print("| contender | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    for label, values in (
        ("PredictFunction (sam build bundle only)", cold_ours),
        ("joblib scikit-learn + pandas handler", cold_sklearn),
    ):
        print(
            f"| {label} | {statistics.median(values):.3f} | {values[0]:.3f} | {values[-1]:.3f} | {len(values)} |"
        )
    print(
        f"\nscikit-learn handler / ours: {statistics.median(cold_sklearn) / statistics.median(cold_ours):.1f}×"
    )
    print("\nBundle, unzipped (MB)\n")
    print("| bundle | MB |")
    print("|---|---:|")
    print(f"| PredictFunction + RuntimeLayer + ModelOpsLayer (sam build) | {ours_mb:.1f} |")
    print(f"| {' + '.join(SKLEARN_BUNDLE)} (installed) | {sklearn_mb:.1f} |")
    print("\nCapture cost per request, PredictService.predict median (µs)\n")
    print("| sink | 1 row | 100 rows | added, 1 row | added, 100 rows |")
    print("|---|---:|---:|---:|---:|")
    for name, by_rows in capture.items():
        added = {n: (by_rows[n] - capture["none"][n]) * us for n in (1, 100)}
        print(
            f"| {name} | {by_rows[1] * us:.0f} | {by_rows[100] * us:.0f} | {added[1]:.0f} | {added[100]:.0f} |"
        )


def report_warm(results: dict[str, list[float]], quick: bool) -> None:
    us = 1e6
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores {platform.machine()}, Python {platform.python_version()}"
        + (" (quick run)" if quick else "")
    )
    print("\nWarm latency, 1 row (µs)\n")
    print("| contender | p50 | p99 | p50 vs handler |")
    print("|---|---:|---:|---:|")
    h50 = p(results["handler_1"], 0.5)
    for key, label in (
        ("handler_1", "PredictFunction handler, API Gateway event (log capture)"),
        (
            "framework_1",
            "of which Powertools resolver + logger + metrics, JSON in/out (service stubbed)",
        ),
        ("session_1", "bare onnxruntime session.run (prebuilt feeds)"),
        ("sklearn_1", "scikit-learn pipeline predict_proba (1-row DataFrame)"),
    ):
        if key not in results:
            continue
        values = results[key]
        print(
            f"| {label} | {p(values, 0.5) * us:.0f} | {p(values, 0.99) * us:.0f} | {p(values, 0.5) / h50:.2f}× |"
        )
    print("\nThroughput (rows per second, median request)\n")
    print(
        "| rows per request | handler | bare session.run | scikit-learn predict_proba | handler / scikit-learn |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n in (1, 100, 1000):
        rates = {
            k: n / p(results[f"{k}_{n}"], 0.5) if f"{k}_{n}" in results else math.nan
            for k in ("handler", "session", "sklearn")
        }
        print(
            f"| {n} | {rates['handler']:,.0f} | {rates['session']:,.0f} | {rates['sklearn']:,.0f} | {rates['handler'] / rates['sklearn']:.1f}× |"
        )
    # One machine-readable line for benchmarks/compare_predict.py.
    medians = {key: p(results[key], 0.5) for key in ("handler_1", "handler_100", "handler_1000")}
    print("WARM " + json.dumps(medians))


if __name__ == "__main__":
    main()
