"""CBPE estimates against known cases: scores that are perfectly calibrated by construction
(labels drawn from them), so the realized metric is known and the estimate must track it."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from modelops.estimation.accumulator import EstimationAccumulator
from modelops.estimation.calibration import CalibrationMap
from modelops.estimation.cbpe import estimate, roc_auc_from_bins
from modelops.metrics import accuracy_score, f1_score, roc_auc_score

IDENTITY = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))


def identity_map(k: int) -> CalibrationMap:
    keys = tuple(str(i) for i in range(k))
    curves = {"1": IDENTITY} if k == 2 else dict.fromkeys(keys, IDENTITY)
    return CalibrationMap(keys, curves)


def binary_window(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive-class scores, labels drawn from them (calibrated), predictions at 0.5."""
    rng = np.random.default_rng(seed)
    score = rng.beta(2.0, 3.0, n)
    truth = (rng.random(n) < score).astype(np.int64)
    return score, truth, (score >= 0.5).astype(np.int64)


def binary_accumulator(score: np.ndarray, predicted: np.ndarray) -> EstimationAccumulator:
    acc = EstimationAccumulator(identity_map(2), classes=(0, 1))
    acc.add(predicted, np.column_stack((1.0 - score, score)))
    return acc


def test_binary_estimate_tracks_the_realized_metrics_of_calibrated_scores() -> None:
    score, truth, predicted = binary_window(200_000, seed=101)
    estimates, bound = estimate(binary_accumulator(score, predicted))
    assert estimates["roc_auc"].value == pytest.approx(roc_auc_score(truth, score), abs=0.004)
    assert estimates["accuracy"].value == pytest.approx(accuracy_score(truth, predicted), abs=0.004)
    assert estimates["f1"].value == pytest.approx(f1_score(truth, predicted), abs=0.006)
    assert 0.0 < bound < 0.001  # 2000 bins: ties within a bin barely matter


def test_the_band_holds_the_realized_metric_about_as_often_as_it_claims() -> None:
    inside = {"roc_auc": 0, "accuracy": 0, "f1": 0}
    widths = []
    seeds = range(200, 230)
    for seed in seeds:
        score, truth, predicted = binary_window(3_000, seed=seed)
        estimates, _ = estimate(binary_accumulator(score, predicted), confidence=0.95)
        realized = {
            "roc_auc": roc_auc_score(truth, score),
            "accuracy": accuracy_score(truth, predicted),
            "f1": f1_score(truth, predicted),
        }
        for name, value in realized.items():
            inside[name] += estimates[name].lower <= value <= estimates[name].upper
        widths.append(estimates["roc_auc"].upper - estimates["roc_auc"].lower)
    # 95 % bands: 30 windows, at least 25 inside (a binomial(30, 0.95) falls below 1 % of the time).
    assert all(count >= 25 for count in inside.values()), inside
    # ...and not so wide that they hold anything: a 3 000-row ROC AUC band is about ±0.02.
    assert 0.02 < float(np.mean(widths)) < 0.06


def test_band_narrows_with_more_rows() -> None:
    small = estimate(binary_accumulator(*binary_window(2_000, seed=301)[::2]))[0]["roc_auc"]
    large = estimate(binary_accumulator(*binary_window(50_000, seed=302)[::2]))[0]["roc_auc"]
    assert (large.upper - large.lower) < (small.upper - small.lower) / 3
    assert small.lower < small.value < small.upper


def test_multiclass_estimate_tracks_the_realized_metrics_of_calibrated_scores() -> None:
    rng = np.random.default_rng(401)
    n, k = 100_000, 3
    scores = rng.dirichlet([1.0, 2.0, 3.0], n)
    truth = (rng.random(n)[:, None] > np.cumsum(scores, axis=1)).sum(axis=1)
    predicted = scores.argmax(axis=1)
    acc = EstimationAccumulator(identity_map(k), classes=(0, 1, 2))
    acc.add(predicted, scores)
    estimates, _ = estimate(acc)
    assert estimates["accuracy"].value == pytest.approx(accuracy_score(truth, predicted), abs=0.006)
    realized_f1 = f1_score(truth, predicted, average="macro")
    assert estimates["f1_macro"].value == pytest.approx(realized_f1, abs=0.008)
    one_vs_rest = np.mean(
        [roc_auc_score(truth == c, scores[:, c], pos_label=True) for c in range(k)]
    )
    assert estimates["roc_auc_macro"].value == pytest.approx(one_vs_rest, abs=0.006)


def test_auc_from_one_row_per_bin_equals_the_rank_definition_with_ties() -> None:
    rng = np.random.default_rng(501)
    score = rng.integers(0, 40, 500)  # ties on purpose
    truth = rng.integers(0, 2, 500)
    rows = np.bincount(score, minlength=40).astype(float)
    positives = np.bincount(score, weights=truth, minlength=40)
    assert roc_auc_from_bins(rows, positives) == pytest.approx(
        roc_auc_score(truth, score), abs=1e-12
    )


def test_coarser_bins_move_the_estimate_by_no_more_than_the_binning_bound() -> None:
    score, _, predicted = binary_window(50_000, seed=601)
    fine = binary_accumulator(score, predicted)
    coarse = EstimationAccumulator(identity_map(2), classes=(0, 1), bins=20)
    coarse.add(predicted, np.column_stack((1.0 - score, score)))
    fine_auc = estimate(fine)[0]["roc_auc"].value
    coarse_auc, coarse_bound = estimate(coarse)[0]["roc_auc"].value, estimate(coarse)[1]
    assert coarse_bound > 0.005  # 20 bins: the bound is not trivially small...
    assert abs(coarse_auc - fine_auc) <= coarse_bound  # ...and it holds


def outputs(score: np.ndarray, predicted: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"label": int(p), "probabilities": {"0": 1.0 - s, "1": s}}
        for s, p in zip(score.tolist(), predicted.tolist(), strict=True)
    ]


def test_merging_workers_equals_one_pass_exactly_in_any_order() -> None:
    score, _, predicted = binary_window(9_000, seed=701)
    calibration = CalibrationMap(
        ("0", "1"), {"1": (np.array([0.1, 0.4, 0.9]), np.array([0.05, 0.3, 0.97]))}
    )
    rows = outputs(score, predicted)
    single = EstimationAccumulator(calibration, classes=(0, 1))
    for start in range(0, len(rows), 1_000):
        single.add_outputs(rows[start : start + 1_000])
    parts = [rows[i::3] for i in range(3)]
    for order in ([0, 1, 2], [2, 0, 1]):
        workers = []
        for i in order:
            worker = EstimationAccumulator(calibration, classes=(0, 1))
            worker.add_outputs(parts[i])
            workers.append(worker)
        merged = workers[0]
        for worker in workers[1:]:
            merged.merge(worker)
        assert merged.rows == single.rows == 9_000
        assert np.array_equal(merged.confusion, single.confusion)
        assert np.array_equal(merged.bin_rows, single.bin_rows)
        assert np.array_equal(merged.bin_positives, single.bin_positives)
        assert estimate(merged)[0] == estimate(single)[0]


def test_outputs_without_usable_scores_are_counted_and_left_out() -> None:
    acc = EstimationAccumulator(
        CalibrationMap(("no", "yes"), {"yes": IDENTITY}), classes=("no", "yes")
    )
    acc.add_outputs(
        [
            {"label": "yes", "probabilities": {"no": 0.2, "yes": 0.8}},
            {"label": "maybe", "probabilities": {"no": 0.2, "yes": 0.8}},  # unknown class
            {"label": "no"},  # no probabilities
            {"label": "no", "probabilities": {"no": 0.5, "yes": "high"}},  # not a number
            {"label": "no", "probabilities": {"no": -0.5, "yes": 1.5}},  # not a probability
            {"label": ["no"], "probabilities": {"no": 0.9, "yes": 0.1}},  # unhashable label
            {"label": "no", "probabilities": {"no": 0.9, "yes": 0.1}},
        ]
    )
    assert (acc.rows, acc.unscored) == (2, 5)
    assert acc.expected_confusion() == pytest.approx(np.array([[0.9, 0.1], [0.2, 0.8]]))


def test_labels_passed_by_the_caller_give_the_state_of_labels_read_from_the_outputs() -> None:
    """The monitor hands over the labels it already read; the result must not change, for
    usable outputs and for every kind of unusable one (unknown, unhashable label)."""
    rng = np.random.default_rng(7)
    outputs: list[dict[str, Any]] = []
    for p in rng.random(500).tolist():
        outputs.append(
            {"label": "yes" if p >= 0.5 else "no", "probabilities": {"no": 1 - p, "yes": p}}
        )
    outputs[3]["label"] = "maybe"
    with_unhashable = [*outputs, {"label": ["no"], "probabilities": {"no": 0.9, "yes": 0.1}}]
    for batch in (outputs, with_unhashable):
        read = EstimationAccumulator(
            CalibrationMap(("no", "yes"), {"yes": IDENTITY}), classes=("no", "yes")
        )
        read.add_outputs(batch)
        given = EstimationAccumulator(
            CalibrationMap(("no", "yes"), {"yes": IDENTITY}), classes=("no", "yes")
        )
        given.add_outputs(batch, labels=[o["label"] for o in batch])
        assert (given.rows, given.unscored) == (read.rows, read.unscored)
        assert given.rows == 499  # the unknown and the unhashable label are unscored
        assert np.array_equal(given.confusion, read.confusion)
        assert np.array_equal(given.bin_positives, read.bin_positives)


def test_a_tiny_window_gives_its_band_without_a_warning() -> None:
    # Four rows of low scores: most drawn replicates have no positive row, so their area is
    # undefined; the band comes from the defined ones, and nothing is written to the
    # function's log for each undefined replicate.
    score = np.array([0.05, 0.1, 0.15, 0.6])
    acc = binary_accumulator(score, (score >= 0.5).astype(np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimates, _ = estimate(acc)
    band = estimates["roc_auc"]
    assert 0.0 <= band.lower <= band.value <= band.upper <= 1.0
