"""The local loop against its budget, and what the local API adds to a request.

    .venv/bin/python benchmarks/bench_demo.py [--runs 2] [--requests 200]

1. `make demo`'s loop (demo.loop.run_loop, default traffic) run `--runs` times, each on a
   fresh embedded AWS: wall time per step and in total, median over the runs, against the
   3-minute budget of the issue.
2. `make api`: a warm 1-row POST /predict over HTTP through the local API (socket, routing,
   API key, proxy event, handler, HTTP response) against the same request as a direct
   invocation of PredictFunction's handler in-process, same stack, same rows.
Prints Markdown tables (docs/PERFORMANCE.md, "Local loop").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.loop import LoopConfig, run_loop
from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.local_api import stack_api

BUDGET_SECONDS = 180.0
INSTANCE = {
    "tenure_months": 12,
    "plan": "basic",
    "monthly_charges": 42.5,
    "contract": "month-to-month",
}


def machine() -> str:
    try:
        model = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next(
            (
                line.split(":", 1)[1].strip()
                for line in model.splitlines()
                if line.startswith("Model name")
            ),
            "?",
        )
    except OSError:
        name = "?"
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, {name}, Python {platform.python_version()}"
    )


def bench_loop(runs: int) -> None:
    results = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_loop(
                LoopConfig(output_dir=Path(tmp), stack_name=f"bench-{uuid.uuid4().hex[:6]}"),
                say=None,
            )
        if not result.ok:
            failed = [c.what for c in result.checks if not c.ok]
            print(
                f"run {i + 1}: the loop did not close ({failed}); its times are still listed",
                file=sys.stderr,
            )
        results.append(result)
    steps = [name for name, _ in results[0].step_seconds]
    print(f"\n### `make demo` loop, {runs} run(s)\n")
    print("| step | " + " | ".join(f"run {i + 1} (s)" for i in range(runs)) + " | median (s) |")
    print("| --- | " + " | ".join("---:" for _ in range(runs)) + " | ---: |")
    for index, name in enumerate(steps):
        values = [r.step_seconds[index][1] for r in results]
        short = name if len(name) < 70 else name[:67] + "..."
        print(
            f"| {short} | "
            + " | ".join(f"{v:.1f}" for v in values)
            + f" | {statistics.median(values):.1f} |"
        )
    totals = [r.seconds for r in results]
    median = statistics.median(totals)
    print("| **total** | " + " | ".join(f"**{v:.1f}**" for v in totals) + f" | **{median:.1f}** |")
    print(
        f"\nbudget {BUDGET_SECONDS:.0f} s: median uses {median / BUDGET_SECONDS:.0%} of it; loop closed in {sum(r.ok for r in results)}/{runs} runs"
    )


def bench_api(requests: int) -> None:
    key = "bench-key"
    body = json.dumps({"instances": [INSTANCE]}).encode()
    with (
        Path(os.devnull).open("w") as sink,
        stack_api(
            api_key=key, port=0, stdout=sink, stack_name=f"bench-api-{uuid.uuid4().hex[:6]}"
        ) as running,
    ):
        direct = LocalFunction.from_stack(running.stack, "PredictFunction", stdout=sink)
        request = urllib.request.Request(
            f"{running.url}/predict",
            data=body,
            headers={"Content-Type": "application/json", "x-api-key": key},
            method="POST",
        )

        def over_http() -> None:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()

        def in_process() -> None:
            direct.invoke({"instances": [INSTANCE]})

        timings: dict[str, list[float]] = {
            "HTTP through `make api` (urllib client)": [],
            "direct invocation, in-process": [],
        }
        for _ in range(20):  # warm both: cold start, model load, connection
            over_http()
            in_process()
        for _ in range(requests):  # interleaved, so both see the same machine load
            for name, call in (
                ("HTTP through `make api` (urllib client)", over_http),
                ("direct invocation, in-process", in_process),
            ):
                start = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - start) * 1000)
    print(f"\n### `make api`: warm 1-row predict, {requests} requests each\n")
    print("| path | median (ms) | p90 (ms) |")
    print("| --- | ---: | ---: |")
    medians = {}
    for name, values in timings.items():
        values.sort()
        medians[name] = statistics.median(values)
        print(f"| {name} | {medians[name]:.2f} | {values[int(len(values) * 0.9)]:.2f} |")
    http, direct_ms = medians.values()
    print(
        f"\nthe local API adds {http - direct_ms:.2f} ms per request ({http / direct_ms:.2f}x the direct call)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    bench_loop(args.runs)
    bench_api(args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
