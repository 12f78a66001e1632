"""Training job cost: train + export + parity on 10k and 100k demo churn rows.

    .venv/bin/python benchmarks/bench_training.py [--runs-10k 3] [--runs-100k 2]

Side by side on the same data in one run:
- "job": modelops_train.api.train, every phase up to publishing (validate, fit, evaluate,
  export, parity gate over holdout + synthetic rows, drift baseline), per-phase medians;
- "bare": what a user would write by hand: the same scikit-learn pipeline fit, then
  skl2onnx.convert_sklearn, no validation, evaluation, parity check or baseline;
- metrics: modelops.metrics.compute_metrics (numpy, runs in the monitor Lambda) against the
  scikit-learn functions it replaces, on the holdout-sized arrays.
Prints a Markdown table (docs/PERFORMANCE.md, "Training").
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sklearn import metrics as skm
from threadpoolctl import threadpool_limits

from embedded_aws.churn_data import TARGET, generate_churn
from modelops.metrics import compute_metrics
from modelops_train.api import TrainOptions, train
from modelops_train.pipeline import build_pipeline, export_onnx
from modelops_train.progress import Progress
from modelops_train.spec import feature_frame, resolve_spec, target_values

PHASES = ("validate", "fit", "evaluate", "export", "parity", "baseline")


def job_run(frame: Any) -> dict[str, float]:
    progress = Progress(io.StringIO())
    start = time.perf_counter()
    train(TrainOptions(data=frame, target=TARGET, model_name="churn", seed=0), progress=progress)
    timings = {p: progress.timings[p] for p in PHASES}
    timings["total"] = time.perf_counter() - start
    return timings


def bare_run(frame: Any) -> dict[str, float]:
    """Fit the same pipeline on the same 80% and convert: the hand-written minimum."""
    spec = resolve_spec(frame, target=TARGET)
    x, y = feature_frame(frame, spec.schema), target_values(frame, spec)
    n_train = int(len(frame) * 0.8)
    start = time.perf_counter()
    pipeline = build_pipeline(spec.schema, seed=0).fit(x.iloc[:n_train], y[:n_train])
    fitted = time.perf_counter()
    export_onnx(pipeline, spec.schema)
    done = time.perf_counter()
    return {"fit": fitted - start, "export": done - fitted, "total": done - start}


def metrics_run(n: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(["no", "yes"], dtype=object), n)
    p_yes = rng.random(n)
    proba = np.column_stack([1 - p_yes, p_yes])
    labels = np.where(p_yes >= 0.5, "yes", "no")
    start = time.perf_counter()
    compute_metrics("binary", y, labels=labels, probabilities=proba, classes=["no", "yes"])
    ours = time.perf_counter() - start
    start = time.perf_counter()
    skm.accuracy_score(y, labels)
    skm.f1_score(y, labels, pos_label="yes")
    skm.roc_auc_score(y == "yes", p_yes)
    skm.log_loss(y, proba, labels=["no", "yes"])
    skm.brier_score_loss(y, p_yes, pos_label="yes")
    return ours, time.perf_counter() - start


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-10k", type=int, default=3)
    parser.add_argument("--runs-100k", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP/BLAS threads (default 1: HistGradientBoosting's spinning OpenMP pool makes "
        "timings meaningless on a shared, oversubscribed machine; Batch gives the job its own vCPUs)",
    )
    args = parser.parse_args()
    sizes = [(10_000, args.runs_10k), (100_000, args.runs_100k)]
    print(
        f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores {platform.machine()}, {cpu_model()}, "
        f"Python {platform.python_version()}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    rows = []
    limits = threadpool_limits(limits=args.threads)
    for n, runs in sizes:
        frame = generate_churn(n, seed=0)
        job = [job_run(frame) for _ in range(runs)]
        bare = [bare_run(frame) for _ in range(runs)]
        ours_m, sk_m = zip(
            *(metrics_run(int(n * 0.2), seed=i) for i in range(max(runs, 3))), strict=True
        )
        rows.append((n, runs, job, bare, statistics.median(ours_m), statistics.median(sk_m)))
        print(f"{n} rows done", file=sys.stderr)
    limits.restore_original_limits()

    print("| rows | runs | " + " | ".join(PHASES) + " | job total | bare fit+export | job / bare |")
    print("|---:|---:|" + "---:|" * len(PHASES) + "---:|---:|---:|")
    for n, runs, job, bare, _, _ in rows:
        cells = " | ".join(f"{median(job, p):.3f}" for p in PHASES)
        ratio = median(job, "total") / median(bare, "total")
        print(
            f"| {n:,} | {runs} | {cells} | {median(job, 'total'):.3f} | {median(bare, 'total'):.3f} | {ratio:.2f}x |"
        )
    print()
    print(
        "| holdout rows | modelops.metrics.compute_metrics (s) | scikit-learn, same 5 metrics (s) | sklearn / ours |"
    )
    print("|---:|---:|---:|---:|")
    for n, _, _, _, ours_m, sk_m in rows:
        print(f"| {int(n * 0.2):,} | {ours_m:.4f} | {sk_m:.4f} | {sk_m / ours_m:.2f}x |")


if __name__ == "__main__":
    main()
