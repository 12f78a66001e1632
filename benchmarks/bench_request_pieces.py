"""Where a one-row request's time goes: each piece of PredictService.predict alone, the same
pieces one after another, and after the model runs or a sweep of memory, side by side.

    .venv/bin/python benchmarks/bench_request_pieces.py [--quick]

The served churn model (the training job's default, trained on 10k demo rows) answering one
demo row through the PredictFunction module, as bench_predict.py loads it. Each contender is
called in a tight loop; blocks alternate the contenders' order, medians of the blocks, ratios
first, the load average printed. What it shows: the pieces measured alone add up to far less
than the request, and a piece costs more right after the model's run than alone, as much
more as after sweeping 8 MB of memory: the run leaves the caches cold for what follows, so
what the handler does after the model (outputs, capture, response, metrics, log) costs more
than its own instructions. docs/PERFORMANCE.md, "Serving", quotes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.bench_predict import (  # noqa: E402
    Context,
    api_event,
    function_env,
    json_rows,
    load,
    load_handler_module,
    quiet,
    served_churn_model,
)
from benchmarks.machine import machine  # noqa: E402
from embedded_aws.churn_data import generate_churn  # noqa: E402
from embedded_aws.server import embedded_aws  # noqa: E402
from modelops.serving.request import parse_predict_request  # noqa: E402
from modelops.serving.response import prediction_outputs  # noqa: E402


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer blocks and calls")
    args = parser.parse_args()
    blocks, calls = (3, 300) if args.quick else (9, 2000)
    started = f"{time.strftime('%Y-%m-%d %H:%M %Z')}, load average {load()}"
    with embedded_aws():
        _, trained = served_churn_model(boto3.client("s3"))
        os.environ.update(function_env())
        module = load_handler_module()
        service = module.service
        event = api_event(json_rows(generate_churn(1, seed=1), list(trained.schema.feature_names)))
        payload = module.read_json_body(event)
        with quiet():
            module.lambda_handler(event, Context())  # the model loaded, outside the timings
        loaded = service.cache.get()
        schema, model = loaded.schema, loaded.model
        request = parse_predict_request(payload, schema, max_rows=1000)
        feeds = request.feeds()
        raw = model.run(feeds)
        outputs = prediction_outputs(schema, raw)
        memory = np.ones(8 << 20, dtype=np.uint8)

        def parse() -> Any:
            return parse_predict_request(payload, schema, max_rows=1000)

        def run() -> Any:
            return model.run(feeds)

        def capture() -> None:
            service.recording.capture(request, outputs, loaded, source="api", request_id="b")

        def sweep() -> Any:
            return memory[::64].sum()  # one read per cache line of 8 MB

        contenders: dict[str, Callable[[], Any]] = {
            "parse": parse,
            "model run": run,
            "outputs": lambda: prediction_outputs(schema, raw),
            "capture": capture,
            "sweep": sweep,
            "model run, then parse": lambda: (run(), parse()),
            "model run, then capture": lambda: (run(), capture()),
            "sweep, then parse": lambda: (sweep(), parse()),
            "sweep, then capture": lambda: (sweep(), capture()),
            "PredictService.predict": lambda: service.predict(
                payload, source="api", request_id="b"
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        with quiet():
            for block in range(blocks):
                order = list(contenders) if block % 2 == 0 else list(contenders)[::-1]
                for name in order:
                    times[name].append(per_call_us(contenders[name], calls))
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{machine()}\nstarted {started}\n")
    alone = med["parse"] + med["model run"] + med["outputs"] + med["capture"]
    print(
        f"One-row request: parse, model run, outputs and capture alone add up to {alone:.0f} µs;"
        f" PredictService.predict takes {med['PredictService.predict']:.0f} µs"
        f" ({med['PredictService.predict'] / alone:.2f}×).\n"
    )
    print("| piece | alone (µs) | after the model run | after an 8 MB sweep |")
    print("|---|---:|---:|---:|")
    for piece in ("parse", "capture"):
        after_run = med[f"model run, then {piece}"] - med["model run"]
        after_sweep = med[f"sweep, then {piece}"] - med["sweep"]
        print(
            f"| {piece} | {med[piece]:.1f} | {after_run:.1f} ({after_run / med[piece]:.2f}×) "
            f"| {after_sweep:.1f} ({after_sweep / med[piece]:.2f}×) |"
        )
    print("\n| contender | median µs per call |")
    print("|---|---:|")
    for name, value in med.items():
        print(f"| {name} | {value:.1f} |")
    print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    main()
