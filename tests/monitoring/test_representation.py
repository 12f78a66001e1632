"""One representation on both sides: the baseline the training job builds and the window the
monitor reads compare the numbers a client sends (float64), so values sitting exactly on a
bin edge (prices, cents, ties) stay in their bin, and a window resampled from the training
data is OK every time. Also: an unknown model is an error, a known one without traffic is
INSUFFICIENT_DATA."""

from __future__ import annotations

import functools
import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.provision import LocalStack
from modelops.baseline import bin_counts, numeric_baseline
from modelops.errors import UnknownModelError
from modelops.monitoring.accumulators import NumericAccumulator
from modelops.monitoring.drift import DriftThresholds, numeric_drift
from modelops.monitoring.window import Window
from modelops.registry import ModelRegistry
from modelops_train.api import TrainOptions, publish_trained, train
from modelops_train.progress import Progress
from tests.monitoring.conftest import WINDOW_EVENT, CaptureWriter, make_monitor

FEATURES = ("price", "cents", "count", "huge", "tiny", "ties")


def awkward_frame(n: int, *, seed: int) -> pd.DataFrame:
    """Numbers that are not exact in float32, or repeat on every bin edge."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "price": rng.choice([19.99, 29.99, 49.99], size=n, p=[0.5, 0.3, 0.2]),
            "cents": rng.integers(100, 500_000, size=n) / 100,
            "count": rng.integers(0, 60, size=n).astype(np.int64),
            "huge": rng.integers(1, 1_000_000, size=n) * 1e9 + 0.37,
            "tiny": rng.random(n) * 1e-7,
            "ties": rng.integers(0, 10, size=n).astype(np.int64),
        }
    )
    logit = 0.02 * (frame["price"] - 30) + 0.3 * (frame["ties"] - 4.5) + rng.normal(0, 1, n)
    frame["bought"] = np.where(logit > 0, "yes", "no")
    return frame


def as_sent(values: np.ndarray) -> np.ndarray:
    """The values as the monitor reads them back from a capture record: JSON numbers."""
    return np.array(json.loads(json.dumps([v.item() for v in values])), dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("feature", FEATURES)
def test_window_resampled_from_training_data_has_no_drift_and_scipys_statistics(
    feature: str, seed: int
) -> None:
    train_values = awkward_frame(4000, seed=100).loc[:, feature].to_numpy(dtype=np.float64)
    baseline = numeric_baseline(train_values)
    window_values = as_sent(np.random.default_rng(seed).choice(train_values, size=1500))
    acc = NumericAccumulator.for_baseline(baseline)
    for part in np.array_split(window_values, 3):
        acc.add(part)
    result = numeric_drift(baseline, acc, DriftThresholds())
    assert not result["drifted"], result["reasons"]
    # PSI on the baseline's bins equals a direct computation on the training data.
    expected = bin_counts(baseline["bin_edges"], train_values) / train_values.size
    actual = bin_counts(baseline["bin_edges"], window_values) / window_values.size
    direct = sum(
        (max(a, 1e-4) - max(e, 1e-4)) * math.log(max(a, 1e-4) / max(e, 1e-4))
        for a, e in zip(actual, expected, strict=True)
    )
    assert result["psi"] == pytest.approx(direct, abs=1e-9)
    assert result["psi"] < 0.05
    # KS and Wasserstein over the whole training data, as scipy computes them.
    theirs = stats.ks_2samp(train_values, window_values)
    assert theirs.statistic - 1e-12 <= (result["ks_statistic"] + result["ks_statistic_error_bound"])
    assert result["ks_statistic"] <= theirs.statistic + 1e-12
    assert result["ks_statistic"] == pytest.approx(theirs.statistic, abs=0.002)
    assert result["ks_p_value"] == pytest.approx(theirs.pvalue, abs=0.02)
    w = stats.wasserstein_distance(train_values, window_values)
    assert result["wasserstein"] <= w * (1 + 1e-9) + 1e-300
    assert result["wasserstein"] + result["wasserstein_error_bound"] >= w * (1 - 1e-9)


def test_float32_edges_would_misplace_every_price() -> None:
    """The failure mode itself: a float32 edge puts the client's 19.99 in the next bin."""
    prices = np.repeat([19.99, 29.99, 49.99], [500, 300, 200])
    float32_baseline = numeric_baseline(prices.astype(np.float32).astype(np.float64))
    acc = NumericAccumulator(float32_baseline["bin_edges"], fine_edges=None)
    acc.add(prices)  # what clients send, compared as if the baseline were float64
    assert numeric_drift(float32_baseline, acc, DriftThresholds())["psi"] > 1.0
    # A format 1 baseline (no representation, no fine bins) is read in its own
    # representation: window values are rounded through float32 first.
    old = {k: v for k, v in float32_baseline.items() if not k.startswith("fine_")} | {
        "sample": sorted(prices.astype(np.float32).astype(float).tolist())[::5]
    }
    del old["representation"]
    acc_old = NumericAccumulator.for_baseline(old)
    acc_old.add(prices)
    result = numeric_drift(old, acc_old, DriftThresholds())
    assert result["psi"] == pytest.approx(0.0, abs=1e-12)
    assert result["statistics_from"] == "samples" and not result["drifted"]


@functools.cache
def awkward_model() -> Any:
    frame = awkward_frame(3000, seed=7)
    options = TrainOptions(data=frame, target="bought", model_name="churn", seed=0)
    with threadpool_limits(limits=1):
        return frame, train(options, progress=Progress(io.StringIO()))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_training_job_baseline_and_monitor_agree_on_a_resampled_window(
    local_stack: LocalStack, s3: Any, registry: ModelRegistry, seed: int
) -> None:
    frame, trained = awkward_model()
    publish_trained(trained, registry=registry, promote="force", progress=Progress(io.StringIO()))
    metadata = registry.get_metadata("churn", 1)
    for name in FEATURES:
        entry = metadata["baseline"]["features"][name]
        assert entry["representation"] == "float64"
        # The client's numbers: no edge is a float32 rounding of a price.
        exact = set(frame[name].astype(float).tolist())
        rounded = set(frame[name].astype(np.float32).astype(float).tolist()) - exact
        assert not rounded & set(entry["bin_edges"] + entry["fine_edges"]), name
    writer = CaptureWriter(s3, local_stack.bucket, registry)
    window = frame.sample(1200, replace=True, random_state=seed).reset_index(drop=True)
    writer.predictions(window)
    report = make_monitor(local_stack).run(Window.from_event(WINDOW_EVENT, window_minutes=60))
    assert report["status"] == "OK", report["status_reason"]
    for name in FEATURES:
        feature = report["drift"]["features"][name]
        assert not feature["drifted"] and feature["psi"] < 0.05, (name, feature["reasons"])
    assert report["drift"]["prediction"]["psi"] < 0.05


def test_unknown_model_is_an_error_naming_it_and_writes_no_report(
    local_stack: LocalStack, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = make_monitor(local_stack)
    with pytest.raises(UnknownModelError, match="'churn' has no published version"):
        monitor.run(Window.from_event(WINDOW_EVENT, window_minutes=60))
    function = LocalFunction.from_stack(local_stack, "MonitorFunction", stdout=io.StringIO())
    with pytest.raises(UnknownModelError, match="churn"):
        function.invoke(WINDOW_EVENT)
    function = LocalFunction.from_stack(local_stack, "MonitorFunction", stdout=io.StringIO())
    scheduled = {"time": "2026-11-26T13:00:05Z", "source": "aws.events"}
    answer = function.invoke(scheduled)
    assert answer["status"] == "ERROR" and answer["error"]["type"] == "UnknownModelError"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and "'churn' has no published version" in getattr(errors[-1], "error", "")
    listed = s3.list_objects_v2(Bucket=local_stack.bucket, Prefix="reports/")
    assert listed.get("KeyCount", 0) == 0


def test_known_model_without_traffic_is_insufficient_data(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    report = make_monitor(local_stack).run(Window.from_event(WINDOW_EVENT, window_minutes=60))
    assert report["status"] == "INSUFFICIENT_DATA"
    assert report["counts"]["predictions"] == 0 and report["model"]["version"] == 1
