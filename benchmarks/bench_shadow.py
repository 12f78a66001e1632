"""What a shadow challenger adds to a prediction: 1-row p50 of PredictService.predict with no
challenger against a shadow scoring every request, side by side in one run.

    .venv/bin/python benchmarks/bench_shadow.py [--quick]

Both contenders are the same service (validation, ONNX, response, capture to the log sink
written to /dev/null) over the training job's HistGradientBoosting churn model; the shadow
is a second version of the same pipeline. Timings are interleaved in blocks (the order of
the contenders alternating from block to block) so load on a shared machine hits both
alike; the ratio comes first (the median of the per-block ratios too, which a load change
between blocks cannot bias), absolute figures are for this machine, with its load average
before and after. Prints a Markdown table (docs/PERFORMANCE.md, "Shadow cost").
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402
from embedded_aws.churn_data import TARGET, generate_churn  # noqa: E402
from embedded_aws.provision import create_bucket  # noqa: E402
from modelops.capture import LogSink  # noqa: E402
from modelops.registry import ChallengerStage, ModelRegistry  # noqa: E402
from modelops.rollout.serving import ChallengerServer, RolloutServing  # noqa: E402
from modelops.serving.model_cache import ModelCache  # noqa: E402
from modelops.serving.service import PredictService  # noqa: E402
from modelops_train.api import TrainOptions, train_and_publish  # noqa: E402
from modelops_train.progress import Progress  # noqa: E402


def service(registry: ModelRegistry, *, shadow: bool) -> PredictService:
    cache = ModelCache(
        registry, "churn", alias="champion", pinned_version=None, refresh_seconds=3600
    )
    rollout = None
    if shadow:
        server = ChallengerServer(registry, "churn", refresh_seconds=3600)
        rollout = RolloutServing(server, on_failure=lambda exc: None)
    return PredictService(
        cache,
        max_batch_rows=1000,
        sink=LogSink(stream=Path(os.devnull).open("w")),
        sample_rate=1.0,
        rollout=rollout,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    blocks, per_block = (5, 200) if args.quick else (20, 500)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        bucket = create_bucket(s3, "bench-shadow")
        registry = ModelRegistry(bucket, s3_client=s3)
        frame = generate_churn(10_000, seed=1)
        for seed in (0, 1):
            train_and_publish(
                TrainOptions(
                    data=frame,
                    target=TARGET,
                    model_name="churn",
                    seed=seed,
                    promote="force" if seed == 0 else "never",
                ),
                registry=registry,
                progress=Progress(io.StringIO()),
            )
        ChallengerStage(registry).start("churn", 2, mode="shadow", weight=1.0, reason="bench")
        contenders = {
            "no challenger": service(registry, shadow=False),
            "shadow (every request)": service(registry, shadow=True),
        }
        row = frame.drop(columns=[TARGET]).iloc[0].to_dict()
        payload = {"instances": [{k: (None if v != v else v) for k, v in row.items()}]}
        times: dict[str, list[float]] = {name: [] for name in contenders}
        block_ratios: list[float] = []
        load_before = os.getloadavg()
        with contextlib.redirect_stdout(io.StringIO()):  # the services' EMF lines
            for svc in contenders.values():
                for _ in range(50):
                    svc.predict(payload, source="api", request_id="warm")
            for block in range(blocks):
                order = list(contenders.items())
                block_p50 = {}
                for name, svc in order if block % 2 == 0 else order[::-1]:
                    sample = []
                    for _ in range(per_block):
                        started = time.perf_counter()
                        svc.predict(payload, source="api", request_id="b")
                        sample.append(time.perf_counter() - started)
                    times[name].extend(sample)
                    block_p50[name] = statistics.median(sample)
                block_ratios.append(
                    block_p50["shadow (every request)"] / block_p50["no challenger"]
                )
    p50 = {name: statistics.median(v) * 1e6 for name, v in times.items()}
    base = p50["no challenger"]
    cpu = cpu_name()
    print(
        f"load average {load_before} before, {os.getloadavg()} after; {cpu}; "
        f"{datetime.now(UTC):%Y-%m-%d}; {blocks}x{per_block} requests each, interleaved"
    )
    print(
        f"shadow / no challenger, median of the {blocks} per-block p50 ratios: "
        f"{statistics.median(block_ratios):.2f}x (range {min(block_ratios):.2f}-{max(block_ratios):.2f})"
    )
    print("| contender | p50 vs no challenger | p50 | p99 |")
    print("| --- | --- | --- | --- |")
    for name, v in times.items():
        ordered = sorted(v)
        p99 = ordered[int(0.99 * (len(ordered) - 1))] * 1e6
        print(f"| {name} | {p50[name] / base:.2f}x | {p50[name]:.0f} µs | {p99:.0f} µs |")


if __name__ == "__main__":
    main()
