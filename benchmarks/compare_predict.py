"""The request path before and after a change, side by side: PredictFunction's warm latency
(bench_predict.py --warm-only) for a base git ref and this checkout, interleaved in blocks.

    .venv/bin/python benchmarks/compare_predict.py [--base main] [--rounds 3] [--quick]

The base is checked out in a temporary git worktree and runs this checkout's bench_predict.py
against its own code (modelops, functions, embedded AWS), so only the code differs. Each block
runs base then this checkout (alternating which goes first), each in a fresh process; the
load average is printed before each run because the machine may be shared. Ratios first
(this / base, median of the blocks' medians; below 1 is faster), then the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("handler_1", "handler_100", "handler_1000")


def run_once(checkout: Path, quick: bool) -> dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(checkout / p) for p in ("layers/modelops", "jobs/train", ".")
    )
    command = [sys.executable, str(checkout / "benchmarks" / "bench_predict.py"), "--warm-only"]
    done = subprocess.run(
        command + (["--quick"] if quick else []),
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WARM ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"bench_predict failed in {checkout}:\n{done.stdout}\n{done.stderr}")
    figures: dict[str, float] = json.loads(line[5:])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="main", help="git ref to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=3, help="blocks of (base, this)")
    parser.add_argument("--quick", action="store_true", help="bench_predict --quick in each run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="compare-predict-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
        )
        try:
            # The same benchmark script on both sides.
            shutil.copy(ROOT / "benchmarks" / "bench_predict.py", base / "benchmarks")
            runs: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
            for block in range(args.rounds):
                order = [("base", base), ("this", ROOT)]
                for name, checkout in order if block % 2 == 0 else order[::-1]:
                    load = os.getloadavg()
                    figures = run_once(checkout, args.quick)
                    runs[name].append(figures)
                    print(
                        f"block {block + 1} {name}: load {load[0]:.1f} "
                        + " ".join(f"{k}={v * 1e6:.0f}µs" for k, v in figures.items()),
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )

    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores {platform.machine()}, "
        f"Python {platform.python_version()}, base {args.base}, {args.rounds} blocks\n"
    )
    print("| request | this / base (median) | base median (µs) | this median (µs) |")
    print("|---|---:|---:|---:|")
    for key in KEYS:
        b = statistics.median(r[key] for r in runs["base"])
        t = statistics.median(r[key] for r in runs["this"])
        print(
            f"| {key.replace('handler_', '')} rows | {t / b:.2f} | {b * 1e6:.0f} | {t * 1e6:.0f} |"
        )


if __name__ == "__main__":
    main()
