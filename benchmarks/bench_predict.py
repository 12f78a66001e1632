"""Serving cost: PredictFunction against what users deploy today, side by side in one run.

    .venv/bin/python benchmarks/bench_predict.py [--quick] [--warm-only] [--profile]
        [--compare-with REV]

Same model (the training job's HistGradientBoosting churn pipeline, 10k demo rows) and the
same rows for every contender, all on moto's server on 127.0.0.1. Contenders run
interleaved in blocks (each block runs every contender at every batch size, the order
rotating, the contenders taking turns every 20 calls), so a shared machine's load falls on
all of them alike; the load average is
printed before and after, ratios first, absolute figures labelled with the machine.
- warm latency, 1 to 1000 rows per request: PredictFunction's handler on an API Gateway
  event (door, validation, ONNX, response, capture with the log sink, logs and metrics);
  the minimal path, what a hand-written handler must do at least on the same body
  (orjson parse, per-feature numpy columns, `session.run`, the same predictions encoded with
  orjson; no validation, capture, logs or metrics); scikit-learn's `predict_proba`, one
  thread, on a ready DataFrame (its JSON-to-DataFrame cost not counted, in its favour);
  bare `session.run` on prebuilt feeds;
- cold start: a fresh Python process to its first answered request, model fetched from
  moto's server: the `sam build` bundle alone on sys.path (as Lambda's /var/task and
  /opt/python) against a handler that loads a joblib scikit-learn pipeline with pandas;
  and `-X importtime` of ours, import by import, grouped by package; with --compare-with,
  the function as built from another git revision too, in the same rounds;
- bundle: every function plus its layers after `sam build`, unzipped, against
  scikit-learn + scipy + pandas + numpy + joblib as installed (what the joblib handler needs);
- what capture adds to a request with each sink (none, log, firehose to moto's server);
- with --profile, where the handler's time goes at 1 and 1000 rows (cProfile, own time).
Prints Markdown tables (docs/PERFORMANCE.md, "Serving").
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.metadata
import importlib.util
import io
import json
import os
import pstats
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
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks.machine import machine  # noqa: E402
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
from modelops.schema import MISSING_CATEGORY, FeatureKind, ModelSchema, class_key  # noqa: E402
from modelops_train.api import TrainOptions, publish_trained, train  # noqa: E402
from modelops_train.pipeline import build_pipeline  # noqa: E402
from modelops_train.progress import Progress  # noqa: E402
from modelops_train.spec import feature_frame, target_values  # noqa: E402

BUCKET = "modelops-bench"
STREAM = "modelops-bench-capture"
SKLEARN_KEY = "bench/sklearn/model.joblib"
EVENT = ROOT / "events" / "predict_api.json"
SKLEARN_BUNDLE = ("scikit-learn", "scipy", "pandas", "numpy", "joblib", "threadpoolctl")
FUNCTIONS = ("PredictFunction", "PreTrafficHookFunction", "FeedbackFunction", "MonitorFunction")
BATCH_SIZES = (1, 3, 10, 30, 100, 300, 1000)
# Requests per contender per block, by batch size (fewer for big batches).
REPS = {1: 400, 3: 300, 10: 200, 30: 100, 100: 40, 300: 16, 1000: 6}


class Context:
    """Lambda's context object as the handler reads it (a request id, the time left)."""

    function_name = "predict"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """stdout to /dev/null, as Lambda's stdout is a pipe nobody waits on."""
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
        yield


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


def served_churn_model(s3: Any) -> tuple[pd.DataFrame, Any]:
    """On embedded AWS: the bucket and capture stream PredictFunction uses, and the training
    job's default churn model trained on 10k demo rows and promoted champion; (rows, model)."""
    aws.reset_clients()
    create_bucket(s3, BUCKET)
    create_capture_stream(boto3.client("firehose"), BUCKET, name=STREAM)
    frame = generate_churn(10_000, seed=0)
    trained = train(
        TrainOptions(data=frame, target=TARGET, model_name="churn", seed=0),
        progress=Progress(io.StringIO()),
    )
    publish_trained(
        trained,
        registry=ModelRegistry(BUCKET, s3_client=s3),
        promote="force",
        progress=Progress(io.StringIO()),
    )
    return frame, trained


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


# ---------------------------------------------------------------- minimal path


class MinimalPath:
    """What a hand-written handler must do at least for the same request and answer: parse the
    body with orjson, gather per-feature numpy columns, run the session, encode the same
    predictions with orjson. No validation, capture, logs or metrics."""

    def __init__(self, session: Any, schema: ModelSchema) -> None:
        self.session = session
        self.numeric = [f.name for f in schema.features if f.kind is FeatureKind.NUMERIC]
        self.categorical = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
        self.keys = [class_key(c) for c in schema.classes or ()]
        self.classes = list(schema.classes or ())

    def __call__(self, body: str) -> bytes:
        rows = orjson.loads(body)["instances"]
        feeds = {
            name: np.array([row.get(name) for row in rows], dtype=np.float32).reshape(-1, 1)
            for name in self.numeric
        }
        for name in self.categorical:
            values = [row.get(name) for row in rows]
            feeds[name] = np.array(
                [MISSING_CATEGORY if v is None else str(v) for v in values], dtype=object
            ).reshape(-1, 1)
        labels, probabilities = self.session.run(None, feeds)
        rounded = np.round(probabilities.astype(np.float64), 6).tolist()
        keys = self.keys
        return orjson.dumps(
            {
                "predictions": [
                    {"label": label, "probabilities": dict(zip(keys, row, strict=True))}
                    for label, row in zip(labels.tolist(), rounded, strict=True)
                ]
            }
        )


# ---------------------------------------------------------------- measurement


# Calls a contender makes in a row before the next one runs: short enough that a shared
# machine's load changes fall on every contender alike, long enough to keep each warm.
CHUNK = 20


def interleaved(
    contenders: dict[str, Callable[[int], Callable[[], Any]]],
    sizes: tuple[int, ...],
    blocks: int,
    scale: float,
) -> dict[str, dict[int, list[float]]]:
    """Seconds per request, by contender and batch size: `blocks` blocks, each running every
    contender at every size (after a short warm-up), the contenders' order rotating; within a
    size, the contenders take turns every CHUNK calls."""
    out: dict[str, dict[int, list[float]]] = {name: {n: [] for n in sizes} for name in contenders}
    names = list(contenders)
    calls = {name: {n: make(n) for n in sizes} for name, make in contenders.items()}
    with quiet():
        for block in range(blocks):
            order = names[block % len(names) :] + names[: block % len(names)]
            for n in sizes:
                reps = max(3, int(REPS.get(n, 10) * scale))
                for name in order:
                    for _ in range(max(2, min(CHUNK, reps // 10))):
                        calls[name][n]()
                for done in range(0, reps, CHUNK):
                    for name in order:
                        fn, times = calls[name][n], out[name][n]
                        for _ in range(min(CHUNK, reps - done)):
                            start = time.perf_counter()
                            fn()
                            times.append(time.perf_counter() - start)
    for by_size in out.values():
        for values in by_size.values():
            values.sort()
    return out


def profile(fn: Callable[[], Any], calls: int, top: int = 14) -> str:
    """Own time per function over `calls` calls, the largest first (cProfile)."""
    profiler = cProfile.Profile()
    with quiet():
        profiler.enable()
        for _ in range(calls):
            fn()
        profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    return "\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip())


def import_breakdown(command: list[str], env: dict[str, str], cwd: str) -> list[tuple[str, float]]:
    """`-X importtime` of one cold start: own import time per top-level package (ms), largest
    first (the standard library grouped as one)."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        top = name.strip().split(".")[0]
        group = (
            "(standard library)" if top in sys.stdlib_module_names or top.startswith("_") else top
        )
        by_package[group] = by_package.get(group, 0.0) + int(self_us) / 1000
    return sorted(by_package.items(), key=lambda item: -item[1])


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument(
        "--warm-only",
        action="store_true",
        help="only warm latency and throughput, the request path (benchmarks/compare_predict.py)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile the handler at 1 and 1000 rows"
    )
    parser.add_argument(
        "--compare-with",
        metavar="REV",
        help="also start PredictFunction as built from git revision REV, in the same cold-start"
        " rounds (what a change did to the cold start, side by side)",
    )
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    blocks = 2 if args.quick else 5
    n_cold = 2 if args.quick else 7
    started = f"{time.strftime('%Y-%m-%d %H:%M %Z')}, load average {load()}"

    with embedded_aws() as endpoint, tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        s3 = boto3.client("s3")
        frame, trained = served_churn_model(s3)
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
        minimal = MinimalPath(onnx_model.session, schema)

        events = {n: api_event(rows[:n]) for n in BATCH_SIZES}
        feeds = {
            n: schema.to_onnx_feeds({f: [r.get(f) for r in rows[:n]] for f in features})
            for n in BATCH_SIZES
        }

        def handler_capturing(capture_format: str, n: int) -> Callable[[], Any]:
            event = events[n]

            def call() -> Any:
                service.recording.capture_format = capture_format  # CaptureFormat, per call
                return handler(event, Context())

            return call

        contenders: dict[str, Callable[[int], Callable[[], Any]]] = {
            "handler": partial(handler_capturing, "rows"),
            "handler_requests": partial(handler_capturing, "requests"),
            "minimal": lambda n: partial(minimal, events[n]["body"]),
            "session": lambda n: partial(onnx_model.session.run, None, feeds[n]),
        }
        if not args.warm_only:
            contenders["sklearn"] = lambda n: partial(pipeline.predict_proba, live_x.iloc[:n])
        # One thread for scikit-learn (and anything else using a BLAS or OpenMP pool).
        with threadpool_limits(limits=1):
            warm = interleaved(contenders, BATCH_SIZES, blocks, scale)
        # Where the 1-row time goes: the same event with the service answering a canned
        # response (same metrics): door, logger, metrics, JSON in and out.
        with quiet():
            canned = service.predict(json.loads(events[1]["body"]), source="api", request_id="b")
        module.service = FrameworkOnly(canned, module.metrics)
        framework = interleaved(
            {"framework": lambda n: partial(handler, events[n], Context())}, (1,), blocks, scale
        )
        module.service = service
        warm["framework"] = framework["framework"]
        profiles = {}
        if args.profile:
            for n, calls in ((1, 3000), (1000, 20)):
                profiles[n] = profile(partial(handler, events[n], Context()), calls)

        if args.warm_only:
            report_warm(warm, started, args.quick)
            return

        # ---- capture overhead per sink (the service, so only capture differs)
        capture: dict[str, dict[int, float]] = {}
        sinks: dict[str, Any] = {
            "none": None,
            "log": LogSink(),
            "firehose": FirehoseSink(STREAM, firehose_client=boto3.client("firehose")),
        }
        for name, sink in sinks.items():
            service.recording.sink = sink
            capture[name] = {}
            for n in (1, 100):
                payload = {"instances": rows[:n]}
                reps = max(30, int((400 if n == 1 else 100) * scale))
                capture[name][n] = p(
                    timings(
                        partial(service.predict, payload, source="api", request_id="bench"),
                        reps,
                        warmup=5,
                    ),
                    0.5,
                )
        service.recording.sink = sinks["log"]

        # ---- bundle and cold start
        build_dir = Path(tmp) / "sam-build"
        built = run_sam(["build", "--build-dir", str(build_dir)], Path(tmp))
        if built.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{built.stdout}\n{built.stderr}")
        sizes = {f: bundle_size(build_dir, f) / 1e6 for f in FUNCTIONS}
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
        cold_ours, cold_sklearn, cold_rev = [], [], []
        sklearn_command = [sys.executable, "-c", SKLEARN_COLD, BUCKET, SKLEARN_KEY, str(EVENT)]
        rounds = [(cold_ours, ours_command, ours_env), (cold_sklearn, sklearn_command, base_env)]
        if args.compare_with:
            rev_build = build_revision(args.compare_with, Path(tmp))
            rev_command = built_handler_command(rev_build, "PredictFunction", EVENT, Path(tmp))
            rounds.append((cold_rev, rev_command, ours_env))
        for run in range(n_cold):
            for out, command, env in rounds if run % 2 == 0 else rounds[::-1]:
                out.append(time_to_answer(command, env, tmp))
        imports = import_breakdown(ours_command, ours_env, tmp)
        print(f"(moto server {endpoint})", file=sys.stderr)

    report_warm(warm, started, args.quick)
    report_cold(sorted(cold_ours), sorted(cold_sklearn), imports, sizes, sklearn_mb)
    if cold_rev:
        print(
            f"\nAt {args.compare_with}, in the same rounds: median {statistics.median(cold_rev):.3f} s,"
            f" min {min(cold_rev):.3f}: this tree's cold start is"
            f" {statistics.median(cold_rev) / statistics.median(cold_ours):.2f}x faster"
        )
    report_capture(capture)
    for n, text in profiles.items():
        print(
            f"\nProfile of the handler, {n}-row requests (own time, cProfile)\n\n```\n{text}\n```"
        )
    print(f"\nload average at the end: {load()}")


def build_revision(rev: str, tmp: Path) -> Path:
    """`sam build` of the repository as it was at git revision `rev`."""
    source = tmp / "revision"
    source.mkdir()
    archive = subprocess.run(
        ["git", "archive", rev], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    build_dir = tmp / "revision-build"
    template = str(source / "template.yaml")
    built = run_sam(["build", "--template-file", template, "--build-dir", str(build_dir)], tmp)
    if built.returncode != 0:
        raise RuntimeError(f"sam build of {rev} failed:\n{built.stdout}\n{built.stderr}")
    return build_dir


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


def report_cold(
    cold_ours: list[float],
    cold_sklearn: list[float],
    imports: list[tuple[str, float]],
    sizes: dict[str, float],
    sklearn_mb: float,
) -> None:
    ratio = statistics.median(cold_sklearn) / statistics.median(cold_ours)
    met = "met" if ratio >= 5 else f"missed by {5 / ratio - 1:.0%}"
    print(
        f"\nCold start: ours is {ratio:.1f}× faster than the joblib scikit-learn handler"
        f" (target ≥ 5×: {met})"
    )
    print("(fresh process to first answered request, model from moto's server; seconds)\n")
    print("| contender | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    for label, values in (
        ("PredictFunction (sam build bundle only)", cold_ours),
        ("joblib scikit-learn + pandas handler", cold_sklearn),
    ):
        print(
            f"| {label} | {statistics.median(values):.3f} | {values[0]:.3f} | {values[-1]:.3f} | {len(values)} |"
        )
    total = sum(ms for _, ms in imports)
    print(
        f"\nPredictFunction's imports, `-X importtime`, own time by package (ms; {total:.0f} in all)\n"
    )
    print("| package | ms | share |")
    print("|---|---:|---:|")
    for name, ms in imports[:12]:
        print(f"| {name} | {ms:.1f} | {ms / total:.0%} |")
    print("\nBundle, unzipped (MB): each function plus its layers after `sam build`\n")
    print("| bundle | MB |")
    print("|---|---:|")
    for function, mb in sizes.items():
        print(f"| {function} | {mb:.1f} |")
    print(f"| {' + '.join(SKLEARN_BUNDLE)} (installed) | {sklearn_mb:.1f} |")


def report_capture(capture: dict[str, dict[int, float]]) -> None:
    us = 1e6
    print("\nCapture cost per request, PredictService.predict median (µs)\n")
    print("| sink | 1 row | 100 rows | added, 1 row | added, 100 rows |")
    print("|---|---:|---:|---:|---:|")
    for name, by_rows in capture.items():
        added = {n: (by_rows[n] - capture["none"][n]) * us for n in (1, 100)}
        print(
            f"| {name} | {by_rows[1] * us:.0f} | {by_rows[100] * us:.0f} | {added[1]:.0f} | {added[100]:.0f} |"
        )


def verdict(ratio: float, most: float) -> str:
    """`ratio` against a target of at most `most`, and by how much it is missed."""
    if ratio <= most:
        return f"{ratio:.2f}× (target ≤ {most}×: met)"
    return f"{ratio:.2f}× (target ≤ {most}×: missed by {ratio / most - 1:.1%})"


def report_warm(warm: dict[str, dict[int, list[float]]], started: str, quick: bool) -> None:
    us = 1e6
    med = {name: {n: p(v, 0.5) for n, v in by.items() if v} for name, by in warm.items()}
    print(f"\n{machine()}\nstarted {started}" + (" (quick run)" if quick else ""))
    print("\nWarm requests, ratios of medians (handler / minimal path: lower is better, target")
    print(
        "≤ 2.5× at 1 row and ≤ 1.3× at 1000; scikit-learn / handler: above 1 the handler is faster)\n"
    )
    print(
        "| rows | capture | handler / minimal | scikit-learn / handler | handler / bare session.run |"
    )
    print("|---:|---|---:|---:|---:|")
    for n in med["handler"]:
        for name, capture in (("handler", "rows"), ("handler_requests", "requests")):
            h = med[name][n]
            sk = f"{med['sklearn'][n] / h:.2f}×" if "sklearn" in med else "—"
            print(
                f"| {n} | {capture} | {h / med['minimal'][n]:.2f}× | {sk} "
                f"| {h / med['session'][n]:.1f}× |"
            )
    print("\nAgainst the targets\n")
    for name, capture in (("handler", "rows"), ("handler_requests", "requests")):
        at_one = med[name][1] / med["minimal"][1]
        at_1000 = med[name][1000] / med["minimal"][1000]
        print(
            f"- {capture} capture, 1 row: {verdict(at_one, 2.5)}; 1000 rows: {verdict(at_1000, 1.3)}"
        )
        if "sklearn" in med:
            slowest = min(med["sklearn"][n] / med[name][n] for n in med[name])
            print(
                f"- {capture} capture, faster than scikit-learn at every size: the least margin "
                f"is {slowest:.3f}× ({'met' if slowest > 1 else 'missed'})"
            )
    print("\nWarm latency per request (µs, median and p99 over every block)\n")
    labels = {
        "handler": "PredictFunction handler (API Gateway event, log capture, a record per row)",
        "handler_requests": "PredictFunction handler, a capture record per request",
        "minimal": "minimal path (orjson, numpy columns, session.run, orjson)",
        "sklearn": "scikit-learn predict_proba (ready DataFrame, one thread)",
        "session": "bare session.run (prebuilt feeds)",
    }
    sizes = list(med["handler"])
    print("| contender | " + " | ".join(f"{n} rows" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for name, label in labels.items():
        if name in warm:
            cells = [
                f"{p(warm[name][n], 0.5) * us:,.0f} / {p(warm[name][n], 0.99) * us:,.0f}"
                for n in sizes
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
    f50 = med["framework"][1]
    print(
        f"\n1 row: of the handler's {med['handler'][1] * us:.0f} µs, the door, logger, metrics and "
        f"JSON in/out with the service stubbed take {f50 * us:.0f} µs ({f50 / med['handler'][1]:.0%})."
    )
    # One machine-readable line for benchmarks/compare_predict.py.
    medians = {f"handler_{n}": med["handler"][n] for n in (1, 100, 1000)}
    medians.update({f"handler_requests_{n}": med["handler_requests"][n] for n in (1, 100, 1000)})
    print("WARM " + json.dumps(medians))


if __name__ == "__main__":
    main()
