"""The monitor's documented rules at their boundaries (docs/MONITORING.md), each against the
code that decides: the PSI floor's documented figure as a number, the minimum of labeled
rows for DEGRADED, prediction drift alone making a window DRIFT, DEGRADED outranking DRIFT
when versions combine, the latest label winning, and the 31-day window limit."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from modelops.errors import InvalidInput
from modelops.monitoring import statistics
from modelops.monitoring.accumulators import LabeledRows
from modelops.monitoring.drift import DriftThresholds
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.performance import PerformanceThresholds, evaluate
from modelops.monitoring.report import Status, overall_status, version_status
from modelops.monitoring.verdict import window_verdict
from modelops.monitoring.window import Window
from modelops.schema import ModelSchema

# ---- PSI: the documented epsilon figure ---------------------------------------------------


def test_an_emptied_ten_percent_bin_contributes_about_0_69_to_psi() -> None:
    """docs: a bin that held 10 % of the baseline and is empty now contributes
    (0.1 - 0.0001)·ln(0.1 / 0.0001) ≈ 0.69. The expectation is a literal, not the constant."""
    # Two bins: 10 % emptied, 90 % -> 100 % (which contributes 0.1·ln(1/0.9) = 0.010536).
    assert statistics.psi(np.array([10.0, 90.0]), np.array([0.0, 100.0])) == pytest.approx(
        0.690086 + 0.010536, abs=1e-5
    )
    # The emptied bin alone (the other bins unchanged): ≈ 0.69 and finite.
    expected = np.array([10.0, 45.0, 45.0])
    actual = np.array([0.0, 50.0, 50.0])
    rest = 2 * (0.5 - 0.45) * math.log(0.5 / 0.45)
    assert statistics.psi(expected, actual) - rest == pytest.approx(0.690086, abs=1e-5)
    # A bin empty on both sides contributes 0.
    assert statistics.psi(np.append(expected, 0.0), np.append(actual, 0.0)) == pytest.approx(
        statistics.psi(expected, actual), abs=1e-12
    )


# ---- DEGRADED needs at least the minimum of labeled rows ----------------------------------

BINARY = ModelSchema.from_metadata(
    {"task": "binary", "classes": ["no", "yes"], "features": [{"name": "x", "kind": "numeric"}]}
)


def wrong_answers(n: int) -> LabeledRows:
    """`n` labeled rows, every one confidently wrong (ROC AUC 0), both classes present."""
    rows = LabeledRows(capacity=10_000, seed=1)
    for i in range(n):
        truth = "yes" if i % 2 else "no"
        wrong = "no" if truth == "yes" else "yes"
        p_yes = 0.9 if wrong == "yes" else 0.1
        rows.add(truth, {"label": wrong, "probabilities": {"no": 1 - p_yes, "yes": p_yes}})
    return rows


@pytest.mark.parametrize(("labeled", "degraded"), [(49, False), (50, True), (51, True)])
def test_degraded_only_from_the_minimum_of_labeled_rows(labeled: int, degraded: bool) -> None:
    block = evaluate(
        BINARY,
        wrong_answers(labeled),
        rows=1000,
        baseline={"roc_auc": 0.9},
        thresholds=PerformanceThresholds(tolerance=0.05, min_labeled=50),
    )
    assert block is not None
    assert block["metrics"]["roc_auc"] == 0.0  # the metric is reported either way
    assert block["label_coverage"] == labeled / 1000  # labeled rows / rows
    assert sum(map(sum, block["confusion_matrix"]["matrix"])) == labeled
    assert block["degraded"] is degraded
    if not degraded:
        assert block["reason"] == f"only {labeled} labeled rows, fewer than the minimum 50"
    status, _ = version_status(rows=1000, min_rows=200, drift=None, performance=block)
    assert status is (Status.DEGRADED if degraded else Status.OK)


@pytest.mark.parametrize("baseline", [{}, {"accuracy": 0.9}])
def test_no_verdict_when_the_baseline_lacks_the_primary_metric(baseline: dict[str, float]) -> None:
    block = evaluate(
        BINARY, wrong_answers(60), rows=100, baseline=baseline, thresholds=PerformanceThresholds()
    )
    assert block is not None and block["degraded"] is False
    assert block["reason"] == "roc_auc is not available for both the window and the baseline"


def test_the_documented_defaults_of_the_degradation_rule() -> None:
    """docs/OPERATIONS.md: PerformanceTolerance 0.05, MonitorMinLabeledRows 50."""
    assert (PerformanceThresholds().tolerance, PerformanceThresholds().min_labeled) == (0.05, 50)


# ---- prediction drift alone makes the window DRIFT ----------------------------------------


def feature(drifted: bool) -> dict[str, Any]:
    return {"drifted": drifted, "reasons": ["psi 0.5 >= 0.2"] if drifted else []}


@pytest.mark.parametrize("predictions_drifted", [False, True])
def test_prediction_drift_alone_makes_the_window_drift(predictions_drifted: bool) -> None:
    features = {"a": feature(False), "b": feature(False)}
    prediction = feature(predictions_drifted)
    drift = window_verdict(features, prediction, {"a": 0.5, "b": 0.5}, DriftThresholds())
    assert [r["rule"] for r in drift["rules"] if r["fired"]] == (
        ["prediction_drift"] if predictions_drifted else []
    )
    assert drift["dataset_drift"] is False  # the inputs did not drift
    status, reason = version_status(rows=500, min_rows=200, drift=drift, performance=None)
    if predictions_drifted:
        assert (status, reason) == (Status.DRIFT, "the predictions drifted: psi 0.5 >= 0.2")
    else:
        assert status is Status.OK


def test_the_drifted_share_rule_fires_at_its_threshold_not_below() -> None:
    thresholds = DriftThresholds(drifted_share=0.5)
    at = window_verdict({"a": feature(True), "b": feature(False)}, None, None, thresholds)
    below = window_verdict(
        {"a": feature(True), "b": feature(False), "c": feature(False)}, None, None, thresholds
    )
    assert (at["rules"][0]["fired"], below["rules"][0]["fired"]) == (True, False)


# ---- combining versions: DEGRADED > DRIFT > OK > INSUFFICIENT_DATA ------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([Status.DRIFT, Status.DEGRADED], Status.DEGRADED),
        ([Status.DEGRADED, Status.DRIFT], Status.DEGRADED),
        ([Status.OK, Status.DRIFT], Status.DRIFT),
        ([Status.DRIFT, Status.OK], Status.DRIFT),
        ([Status.INSUFFICIENT_DATA, Status.OK], Status.OK),
        ([Status.OK, Status.INSUFFICIENT_DATA], Status.OK),
        ([Status.INSUFFICIENT_DATA], Status.INSUFFICIENT_DATA),
        ([], Status.INSUFFICIENT_DATA),
    ],
)
def test_the_most_severe_version_status_wins(statuses: list[Status], expected: Status) -> None:
    assert overall_status(statuses) is expected


def test_a_version_below_the_minimum_of_rows_is_insufficient_even_if_degraded() -> None:
    degraded = {"degraded": True, "reason": "roc_auc fell"}
    assert version_status(rows=199, min_rows=200, drift=None, performance=degraded)[0] is (
        Status.INSUFFICIENT_DATA
    )
    assert version_status(rows=200, min_rows=200, drift=None, performance=degraded)[0] is (
        Status.DEGRADED
    )


# ---- the latest label wins -----------------------------------------------------------------


def label(inference_id: str, value: str, received: str) -> bytes:
    return orjson.dumps({"inferenceId": inference_id, "label": value, "receivedTime": received})


@pytest.mark.parametrize("latest_first", [False, True])
@pytest.mark.parametrize("split_batches", [False, True])
def test_when_an_id_is_labeled_twice_the_latest_received_label_wins(
    latest_first: bool, split_batches: bool
) -> None:
    earlier = label("id-1", "no", "2026-11-26T12:00:00.000Z")
    later = label("id-1", "yes", "2026-11-26T12:00:00.001Z")  # one millisecond later
    other = label("id-2", "no", "2026-11-26T12:30:00.000Z")
    lines = [later, other, earlier] if latest_first else [earlier, other, later]
    batches = [[line] for line in lines] if split_batches else [lines]
    index = FeedbackIndex.from_records(batches)
    assert len(index) == 2
    positions = index.lookup(["id-1", "id-2", "id-3"])
    assert index.truth(int(positions[0])) == "yes"
    assert index.truth(int(positions[1])) == "no"
    assert positions[2] == -1


@pytest.mark.parametrize("duplicated", ["id-1", "id-2"])
@pytest.mark.parametrize("labels_of_duplicate", [2, 3])
def test_the_latest_of_two_or_three_labels_wins_whichever_id_sorts_last(
    duplicated: str, labels_of_duplicate: int
) -> None:
    """Three records (one id labeled twice, another once) and four (one id three times): the
    index keeps exactly one entry per id, the latest. Ids are hashed with a per-process salt,
    so both ids take a turn at being the one labeled several times: in one of the two cases it
    sorts last in the index."""
    single = "id-2" if duplicated == "id-1" else "id-1"
    received = [f"2026-11-26T12:00:00.00{n}Z" for n in range(labels_of_duplicate)]
    values = ["no", "yes", "maybe"][:labels_of_duplicate]
    lines = [label(duplicated, value, at) for value, at in zip(values, received, strict=True)]
    lines.append(label(single, "single", "2026-11-26T11:00:00.000Z"))
    for order in (lines, lines[::-1]):
        index = FeedbackIndex.from_records([order])
        assert len(index) == 2
        assert sorted(index.hashes.tolist()) == index.hashes.tolist()
        positions = index.lookup([duplicated, single])
        assert index.truths(positions) == [values[-1], "single"]


def test_one_id_labeled_three_times_keeps_only_the_latest() -> None:
    times = ["2026-11-26T12:00:00.002Z", "2026-11-26T12:00:00.000Z", "2026-11-26T12:00:00.001Z"]
    lines = [label("id-1", value, at) for value, at in zip(["c", "a", "b"], times, strict=True)]
    index = FeedbackIndex.from_records([lines])
    assert len(index) == 1
    assert index.truth(int(index.lookup(["id-1"])[0])) == "c"


@pytest.mark.parametrize(
    ("other_time", "winner"),
    [
        ("2026-11-26T14:00:00.000+02:00", "no"),  # 12:00:00.000Z: a millisecond earlier
        ("2026-11-26T12:00:00.002+00:00", "yes"),  # a millisecond later
        ("2026-11-26T12:00:00.002", "yes"),  # naive: UTC
        ("2026-11-26T12:00:00.0015Z", "yes"),  # half a millisecond later, a digit more
        ("2026-11-26T12:00:00.0005Z", "no"),
    ],
)
def test_received_times_in_any_form_order_the_labels_alike(other_time: str, winner: str) -> None:
    """The canonical times of a batch are read together (numpy), any other form one by one:
    a batch mixing both orders them as the same instants."""
    canonical = label("id-1", "no", "2026-11-26T12:00:00.001Z")
    other = label("id-1", "yes", other_time)
    for lines in ([canonical, other], [other, canonical]):
        index = FeedbackIndex.from_records(
            [lines, [label("id-2", "x", "2026-11-26T12:00:00.000Z")]]
        )
        assert (len(index), index.malformed) == (2, 0)
        assert index.truths(index.lookup(["id-1", "id-2"])) == [winner, "x"]


@pytest.mark.parametrize(
    "bad_time", ["2026-13-26T12:00:00.000Z", "2026-11-26T25:00:00.000Z", "2026-02-30T12:00:00.000Z"]
)
def test_a_canonical_looking_time_that_is_not_a_time_is_malformed(bad_time: str) -> None:
    lines = [
        label("id-1", "no", "2026-11-26T12:00:00.001Z"),
        label("id-2", "no", bad_time),
        label("id-3", "yes", "2026-11-26T12:00:00.002Z"),
    ]
    index = FeedbackIndex.from_records([lines])
    assert (len(index), index.malformed) == (2, 1)
    assert index.truths(index.lookup(["id-1", "id-3"])) == ["no", "yes"]
    assert index.lookup(["id-2"]).tolist() == [-1]


# Each line is one way a stored feedback record can be unreadable (contract section 5 records:
# inferenceId, label or value, receivedTime). Every one is skipped and counted once.
MALFORMED_FEEDBACK: dict[str, bytes] = {
    "not JSON": b'{"inferenceId": "bad-1", ',
    "not an object": b'["bad-2", "no", "2026-11-26T12:00:00Z"]',
    "a bare string": b'"bad-3"',
    "no inferenceId": b'{"label": "no", "receivedTime": "2026-11-26T12:00:00Z"}',
    "empty inferenceId": b'{"inferenceId": "", "label": "no", "receivedTime": "2026-11-26T12:00:00Z"}',
    "numeric inferenceId": b'{"inferenceId": 7, "label": "no", "receivedTime": "2026-11-26T12:00:00Z"}',
    "no receivedTime": b'{"inferenceId": "bad-7", "label": "no"}',
    "bad receivedTime": b'{"inferenceId": "bad-8", "label": "no", "receivedTime": "yesterday"}',
    "numeric receivedTime": b'{"inferenceId": "bad-9", "label": "no", "receivedTime": 5}',
    "label a list": b'{"inferenceId": "bad-10", "label": ["no"], "receivedTime": "2026-11-26T12:00:00Z"}',
    "label an object": b'{"inferenceId": "bad-11", "label": {"a": 1}, "receivedTime": "2026-11-26T12:00:00Z"}',
    "null label, no value": b'{"inferenceId": "bad-12", "label": null, "receivedTime": "2026-11-26T12:00:00Z"}',
    "neither label nor value": b'{"inferenceId": "bad-13", "receivedTime": "2026-11-26T12:00:00Z"}',
    "value not a number": b'{"inferenceId": "bad-14", "value": "much", "receivedTime": "2026-11-26T12:00:00Z"}',
    "value null": b'{"inferenceId": "bad-15", "value": null, "receivedTime": "2026-11-26T12:00:00Z"}',
}
GOOD_FEEDBACK = [
    b'{"inferenceId": "good-label", "label": "no", "receivedTime": "2026-11-26T12:00:00Z"}',
    b'{"inferenceId": "good-zero", "label": 0, "receivedTime": "2026-11-26T12:00:00Z"}',
    b'{"inferenceId": "good-false", "label": false, "receivedTime": "2026-11-26T12:00:00Z"}',
    b'{"inferenceId": "good-value", "value": 0.0, "receivedTime": "2026-11-26T12:00:00Z"}',
    b'{"inferenceId": "good-null-label", "label": null, "value": 17.5, "receivedTime": "2026-11-26T12:00:00Z"}',
]
GOOD_IDS = ["good-label", "good-zero", "good-false", "good-value", "good-null-label"]


@pytest.mark.parametrize("kind", sorted(MALFORMED_FEEDBACK))
def test_each_malformed_feedback_line_is_counted_once_and_skipped(kind: str) -> None:
    line = MALFORMED_FEEDBACK[kind]
    index = FeedbackIndex.from_records([[GOOD_FEEDBACK[0], line, GOOD_FEEDBACK[3]]])
    assert index.malformed == 1
    assert len(index) == 2
    assert index.truths(index.lookup(["good-label", "good-value"])) == ["no", 0.0]


def test_malformed_feedback_is_counted_across_batches_and_the_good_lines_all_join() -> None:
    bad = list(MALFORMED_FEEDBACK.values())
    index = FeedbackIndex.from_records(
        [bad[:7] + GOOD_FEEDBACK[:2], GOOD_FEEDBACK[2:] + bad[7:], []]
    )
    assert index.malformed == 15
    assert len(index) == 5
    truths = index.truths(index.lookup(GOOD_IDS))
    assert truths == ["no", 0, False, 0.0, 17.5]
    assert [type(t) for t in truths] == [str, int, bool, float, float]
    # nothing of a skipped line reached the index
    assert index.lookup([f"bad-{n}" for n in range(1, 16)]).tolist() == [-1] * 15


def test_only_malformed_feedback_gives_an_empty_index_that_counts_them() -> None:
    index = FeedbackIndex.from_records([list(MALFORMED_FEEDBACK.values())[:2]])
    assert (len(index), index.malformed) == (0, 2)
    assert index.lookup(["bad-2"]).tolist() == [-1]


# ---- the 31-day window limit ---------------------------------------------------------------

START = datetime(2026, 10, 1, tzinfo=UTC)


def window_event(span: timedelta) -> dict[str, Any]:
    iso = "%Y-%m-%dT%H:%M:%S.%fZ"
    return {"window": {"start": START.strftime(iso), "end": (START + span).strftime(iso)}}


@pytest.mark.parametrize(
    ("span", "accepted"),
    [
        (timedelta(days=31) - timedelta(microseconds=1), True),
        (timedelta(days=31), True),
        (timedelta(days=31) + timedelta(microseconds=1), False),
    ],
)
def test_a_window_may_span_at_most_31_days(span: timedelta, accepted: bool) -> None:
    if accepted:
        window = Window.from_event(window_event(span), window_minutes=60)
        assert (window.start, window.end) == (START, START + span)
        return
    with pytest.raises(InvalidInput) as caught:
        Window.from_event(window_event(span), window_minutes=60)
    assert [(p.field, p.problem) for p in caught.value.problems] == [
        ("window.end", "a window may span at most 31 days")
    ]


def test_a_window_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidInput):
        Window.from_event(window_event(timedelta(0)), window_minutes=60)
    assert Window.from_event(window_event(timedelta(microseconds=1)), window_minutes=60)


# ---- an empty side is no evidence of drift (each statistic, either side) -----------------


@pytest.mark.parametrize("empty_first", [True, False])
def test_an_empty_side_is_no_evidence_of_drift(empty_first: bool) -> None:
    def both(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (a, b) if empty_first else (b, a)

    values = np.array([1.0, 2.0, 2.5, 7.0])
    counts = np.array([3.0, 0.0, 5.0])
    assert statistics.psi(*both(np.zeros(3), counts)) == 0.0
    assert statistics.jensenshannon_distance(*both(np.zeros(3), counts)) == 0.0
    assert statistics.ks_2samp(*both(np.array([]), values)) == statistics.TestResult(0.0, 1.0)
    assert statistics.wasserstein_distance(*both(np.array([]), values)) == 0.0


def test_ks_is_exact_up_to_10_000_values_per_sample() -> None:
    small = np.array([0.5, 1.5, 2.5])
    result = statistics.ks_2samp(np.linspace(0.0, 3.0, 10_000), small)
    assert 0.0 <= result.statistic <= 1.0 and 0.0 < result.pvalue <= 1.0
    with pytest.raises(ValueError, match="exact only up to 10000 values"):
        statistics.ks_2samp(np.linspace(0.0, 3.0, 10_001), small)


def test_chi2_drops_empty_rows_and_a_perfect_fit_is_p_1() -> None:
    table = np.array([[10.0, 20.0, 30.0], [12.0, 18.0, 33.0]])
    with_empty_row = np.vstack([table, np.zeros(3)])
    assert statistics.chi2_contingency(with_empty_row) == statistics.chi2_contingency(table)
    # 2x2 with observed == expected in every cell: Yates' correction moves nothing.
    assert statistics.chi2_contingency(np.array([[10.0, 20.0], [10.0, 20.0]])) == (
        statistics.Chi2Result(0.0, 1.0, 1)
    )
    # A category seen once keeps its column (only columns empty everywhere are dropped).
    assert statistics.chi2_contingency(np.array([[1.0, 10.0], [0.0, 12.0]])).dof == 1


def test_each_rule_says_in_words_why_it_fired_or_not() -> None:
    thresholds = DriftThresholds(drifted_share=0.5, weighted_score=0.3, top_features=1)
    importance = {"a": 0.25, "b": 0.75}
    fired = window_verdict(
        {"a": feature(True), "b": feature(False)}, feature(False), importance, thresholds
    )
    assert [(r["rule"], r["fired"], r["detail"]) for r in fired["rules"]] == [
        ("drifted_share", True, "1 of 2 features drifted (50%, >= the threshold 50%): a"),
        (
            "important_feature",
            False,
            "none of the 1 most important features [b (75%)] drifted",
        ),
        (
            "weighted_score",
            False,
            "drifted features carry 25% of the model's importance (< the threshold 30%)",
        ),
        ("prediction_drift", False, "the predictions did not drift"),
    ]
    quiet = window_verdict({"a": feature(False)}, None, None, thresholds)
    assert [(r["fired"], r["detail"]) for r in quiet["rules"]] == [
        (False, "0 of 1 features drifted (0%, < the threshold 50%)"),
        (False, "not evaluated: this version has no recorded feature importance"),
        (False, "not evaluated: this version has no recorded feature importance"),
        (False, "not evaluated: the baseline has no predictions"),
    ]


def test_a_model_with_one_feature_drifts_when_that_feature_does() -> None:
    drift = window_verdict({"only": feature(True)}, None, None, DriftThresholds())
    assert (drift["drifted_share"], drift["rules"][0]["fired"], drift["dataset_drift"]) == (
        1.0,
        True,
        True,
    )
