"""Wide training data: time and peak memory of `modelops_train.api.train` on 500 x 3,000.

    .venv/bin/python benchmarks/bench_wide_training.py [--rows 500] [--columns 3000]
        [--runs 1] [--baseline DIR]

Each measurement runs in a fresh child process (peak RSS is the child's VmHWM, so runs do
not inherit each other's heap). The data: `columns` numeric features (5 % missing) and a
binary target that depends on the first five, generated from a fixed seed.

`--baseline DIR` also measures another checkout of this repository (e.g. a `git worktree`
of an older commit) on the same data, interleaved with this one (baseline, current,
baseline, current, ...), and prints the ratios first. Prints a Markdown table
(docs/TRAINING.md, "Wide data").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_training import cpu_model

ROOT = Path(__file__).resolve().parent.parent


def make_frame(rows: int, columns: int, seed: int = 0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, columns))
    signal = x[:, :5].sum(axis=1) + rng.normal(scale=0.5, size=rows)
    x[rng.random(size=x.shape) < 0.05] = np.nan
    frame = pd.DataFrame(x, columns=[f"f{i:04d}" for i in range(columns)])
    frame["label"] = np.where(signal > 0, "yes", "no")
    return frame


def child(rows: int, columns: int) -> None:
    """One measurement, in this process: prints a JSON line."""
    import io

    from modelops_train.api import TrainOptions, train
    from modelops_train.progress import Progress

    frame = make_frame(rows, columns)
    progress = Progress(io.StringIO())
    start = time.perf_counter()
    trained = train(
        TrainOptions(data=frame, target="label", model_name="wide", seed=0), progress=progress
    )
    seconds = time.perf_counter() - start
    peak_kib = 0
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak_kib = int(line.split()[1])
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mib": peak_kib / 1024,
                "phases": dict(progress.timings),
                "onnx_bytes": len(trained.onnx_bytes),
                "roc_auc": trained.metrics.get("roc_auc"),
            }
        )
    )


def measure(code: Path, rows: int, columns: int) -> dict[str, Any]:
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="1")
    # The checkout under test comes first on the path (its modelops and modelops_train).
    paths = [str(code / "layers" / "modelops"), str(code / "jobs" / "train"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--rows", str(rows), "--columns", str(columns)],
        env=env,
        cwd=code,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--columns", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.columns)
        return
    subjects = {"current": ROOT}
    if args.baseline:
        subjects = {"baseline": args.baseline.resolve(), **subjects}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in subjects}
    print(f"load average before: {os.getloadavg()}", flush=True)
    for run in range(args.runs):
        for name, code in subjects.items():  # interleaved: baseline, current, baseline, ...
            result = measure(code, args.rows, args.columns)
            results[name].append(result)
            print(
                f"run {run + 1} {name}: {result['seconds']:.1f} s, "
                f"peak {result['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()}")
    summary = {
        name: {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
            "phases": {
                phase: statistics.median(r["phases"][phase] for r in runs)
                for phase in runs[0]["phases"]
            },
        }
        for name, runs in results.items()
    }
    if "baseline" in summary:
        base, cur = summary["baseline"], summary["current"]
        print(
            f"\nratios (baseline / current): time {base['seconds'] / cur['seconds']:.1f}x, "
            f"peak RSS {base['peak_rss_mib'] / cur['peak_rss_mib']:.1f}x"
        )
    print(
        f"\n{args.rows} rows x {args.columns} numeric columns, median of {args.runs}; "
        f"{cpu_model()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n"
    )
    phases = list(next(iter(summary.values()))["phases"])
    print("| code | total s | peak RSS MiB | " + " | ".join(phases) + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in phases) + " |")
    for name, s in summary.items():
        cells = " | ".join(f"{s['phases'].get(p, 0):.1f}" for p in phases)
        print(f"| {name} | {s['seconds']:.1f} | {s['peak_rss_mib']:.0f} | {cells} |")


if __name__ == "__main__":
    main()
