"""Where a request's size switches paths: cell-by-cell validation against numpy blocks, and
Python rounding of the probabilities against numpy's, by batch size, side by side.

    .venv/bin/python benchmarks/bench_small_batches.py [--quick]

The served churn model's schema and the demo's rows (some values missing). Each block times
both contenders at every size, the order alternating; medians over the blocks, ratios
first, the load average printed. What modelops.serving.columns.FEW_ROWS and
modelops.serving.response.PYTHON_ROUNDING_ROWS were chosen from.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.machine import machine  # noqa: E402
from embedded_aws.churn_data import generate_churn  # noqa: E402
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task  # noqa: E402
from modelops.serving.columns import FEW_ROWS, columnar, gather  # noqa: E402
from modelops.serving.response import PROBABILITY_DECIMALS, PYTHON_ROUNDING_ROWS  # noqa: E402
from modelops.serving.response import rounded as python_or_numpy  # noqa: E402

SIZES = (1, 4, 8, 16, 32, 64, 128, 300, 1000)
NUMERIC = ("tenure_months", "monthly_charges", "total_charges", "support_calls", "age")
CATEGORICAL = ("plan", "contract", "payment_method")
SCHEMA = ModelSchema(
    features=tuple(
        [FeatureSpec(n, FeatureKind.NUMERIC, required=n == "tenure_months") for n in NUMERIC]
        + [FeatureSpec(n, FeatureKind.CATEGORICAL) for n in CATEGORICAL]
    ),
    task=Task.BINARY,
    classes=(0, 1),
)


def rows(count: int) -> list[dict[str, Any]]:
    frame = generate_churn(count, seed=3)
    out = []
    for record in frame[list(SCHEMA.feature_names)].to_dict("records"):
        out.append({k: None if isinstance(v, float) and v != v else v for k, v in record.items()})
    return out


def per_call(fn: Callable[[], Any], seconds: float) -> float:
    """Microseconds per call, over about `seconds`."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            fn()
        calls += 20
    return elapsed / calls * 1e6


def python_rounding(p: np.ndarray) -> list[list[float]]:
    return [[round(x * 1e6) / 1e6 or 0.0 for x in row] for row in p.tolist()]


def numpy_rounding(p: np.ndarray) -> list[list[float]]:
    as_list: list[list[float]] = np.round(p.astype(np.float64), PROBABILITY_DECIMALS).tolist()
    return as_list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter blocks")
    args = parser.parse_args()
    blocks, seconds = (3, 0.05) if args.quick else (7, 0.2)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{machine()}\nstarted {time.strftime('%Y-%m-%d %H:%M %Z')}, load average {load}\n")
    sample = rows(max(SIZES))
    rng = np.random.default_rng(0)
    times: dict[str, dict[int, list[float]]] = {
        k: {n: [] for n in SIZES} for k in ("cells", "blocks", "python", "numpy")
    }
    for block in range(blocks):
        for n in SIZES:
            raw = gather(sample[:n], SCHEMA.feature_names)
            assert raw is not None
            p = rng.random((n, 2), dtype=np.float32)
            pairs: list[tuple[str, Callable[[], Any]]] = [
                ("cells", partial(columnar, raw, n, SCHEMA, few_rows=n)),
                ("blocks", partial(columnar, raw, n, SCHEMA, few_rows=0)),
                # Python's rounding is what `rounded` does up to PYTHON_ROUNDING_ROWS: timed
                # here at every size through the same expression.
                ("python", partial(python_rounding, p)),
                ("numpy", partial(numpy_rounding, p)),
            ]
            for name, fn in pairs if block % 2 == 0 else pairs[::-1]:
                times[name][n].append(per_call(fn, seconds))
    assert python_or_numpy(np.ones((1, 2), np.float32)) == [[1.0, 1.0]]
    median = {k: {n: statistics.median(v) for n, v in by.items()} for k, by in times.items()}
    print(f"Validation: cells (up to FEW_ROWS = {FEW_ROWS}) against numpy blocks; rounding: Python")
    print(f"(up to PYTHON_ROUNDING_ROWS = {PYTHON_ROUNDING_ROWS}) against numpy. Above 1: the")
    print("first is faster. µs per request, medians of the blocks.\n")
    print(
        "| rows | blocks / cells | cells µs | blocks µs | numpy / Python rounding | Python µs | numpy µs |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        c, b, py, nu = (median[k][n] for k in ("cells", "blocks", "python", "numpy"))
        print(f"| {n} | {b / c:.2f}× | {c:.1f} | {b:.1f} | {nu / py:.2f}× | {py:.1f} | {nu:.1f} |")
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
