"""Report documents for the HTML tests, in the exact shape the monitor writes, with every
field the verdict rules and the label-free estimate add (drift.rules, per-feature importance
and threshold, drift.weighted_score, estimated_performance, performance.confusion_matrix,
trend), and the same report as an earlier format wrote it (none of those fields)."""

from __future__ import annotations

import copy
from typing import Any

# Edges as float arithmetic leaves them: 17 significant digits, two of them 0.01 apart.
PRICE_EDGES = [19.990000000000002, 29.989999999999998, 39.99, 49.990000000000002, 50.0]


def _numeric(
    edges: list[float], baseline: list[float], current: list[float], **extra: Any
) -> dict[str, Any]:
    feature = {
        "kind": "numeric",
        "drifted": False,
        "method": "psi",
        "score": 0.01,
        "reasons": [],
        "psi": 0.01,
        "ks_statistic": 0.02,
        "ks_p_value": 0.61,
        "wasserstein": 0.4,
        "wasserstein_normalized": 0.031,
        "missing_share": {"baseline": 0.0, "current": 0.0, "change": 0.0},
        "rows": 2500,
        "present": 2500,
        "current": {"mean": 1.0, "std": 1.0, "min": 0.0, "max": 2.0, "bin_shares": current},
        "baseline": {"mean": 1.0, "std": 1.0, "bin_edges": edges, "bin_shares": baseline},
    }
    feature.update(extra)
    return feature


def _categorical(
    categories: list[str], baseline: list[float], current: list[float], **extra: Any
) -> dict[str, Any]:
    feature = {
        "kind": "categorical",
        "drifted": False,
        "method": "psi",
        "score": 0.002,
        "reasons": [],
        "psi": 0.002,
        "chi2_p_value": 0.4,
        "jensen_shannon": 0.01,
        "unseen_share": 0.0,
        "missing_share": {"baseline": 0.01, "current": 0.012, "change": 0.002},
        "categories": categories,
        "baseline": {"shares": baseline},
        "current": {"shares": current},
    }
    feature.update(extra)
    return feature


def rich_report() -> dict[str, Any]:
    """A DEGRADED window whose input drift came from one important feature while the share of
    drifted features stayed under its threshold; labels and a label-free estimate present."""
    features = {
        "monthly_price": _numeric(
            PRICE_EDGES,
            [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
            [0.05, 0.05, 0.1, 0.2, 0.2, 0.4],
            drifted=True,
            score=5.1,
            psi=5.1,
            ks_p_value=1.2e-149,
            wasserstein_normalized=1.7,
            reasons=["PSI 5.100 >= 0.2"],
            importance=0.42,
            threshold={"psi": 0.15},
        ),
        "total_spend": _numeric(
            [1234.5678, 98765.4321, 1.5e6],
            [0.25, 0.25, 0.25, 0.25],
            [0.24, 0.26, 0.25, 0.25],
            importance=0.08,
            threshold={"psi": 0.2},
        ),
        "tiny_rate": _numeric(
            [1.2345e-7, 2.5e-7],
            [0.3, 0.4, 0.3],
            [0.31, 0.39, 0.3],
            importance=0.05,
            threshold={"psi": 0.2},
        ),
        "plan": _categorical(
            ["basic", "premium", "a-very-long-category-name-indeed", "__unseen__"],
            [0.5, 0.3, 0.2, 0.0],
            [0.4, 0.3, 0.15, 0.15],
            drifted=True,
            score=0.9,
            psi=0.9,
            chi2_p_value=3e-40,
            jensen_shannon=0.31,
            unseen_share=0.15,
            reasons=["unseen categories are 15.0% of values >= 5%"],
            importance=0.3,
            threshold={"psi": 0.2, "unseen_share": 0.05},
        ),
    }
    for i in range(8):  # the model's other, unimportant and stable, inputs
        features[f"stable_{i}"] = _numeric(
            [float(i), i + 0.5],
            [0.3, 0.4, 0.3],
            [0.3, 0.4, 0.3],
            importance=0.15 / 8,
            threshold={"psi": 0.2},
        )
    prediction = _categorical(["no", "yes", "__unseen__"], [0.7, 0.3, 0.0], [0.62, 0.38, 0.0])
    rules = [
        {
            "rule": "drifted_share",
            "fired": False,
            "detail": "2 of 12 features drifted (16.7%), below the threshold of 50%",
        },
        {
            "rule": "important_feature",
            "fired": True,
            "detail": "monthly_price, the most important feature (42% of importance), drifted",
        },
        {
            "rule": "weighted_score",
            "fired": True,
            "detail": "importance-weighted drift score 0.72 reached the threshold 0.3",
        },
        {
            "rule": "prediction_drift",
            "fired": False,
            "detail": "the predicted class shares did not drift (PSI 0.031 < 0.2)",
        },
    ]
    drift = {
        "dataset_drift": True,
        "drifted_share": 2 / 12,
        "threshold": 0.5,
        "drifted_features": ["monthly_price", "plan"],
        "features": features,
        "prediction": prediction,
        "rules": rules,
        "weighted_score": 0.72,
    }
    performance = {
        "labeled": 1600,
        "evaluated": 1600,
        "label_coverage": 0.64,
        "primary_metric": "roc_auc",
        "greater_is_better": True,
        "baseline": {
            "accuracy": 0.7275,
            "f1": 0.7328,
            "roc_auc": 0.8163,
            "log_loss": 0.5289,
            "brier_score": 0.177,
        },
        "metrics": {
            "accuracy": 0.6012,
            "f1": 0.5511,
            "roc_auc": 0.7012,
            "log_loss": 0.7731,
            "brier_score": 0.2411,
        },
        "degraded": True,
        "reason": "roc_auc 0.7012 vs baseline 0.8163: 0.1151 worse, allowed 0.0408 worse (5% of baseline)",
        "change": -0.1151,
        "confusion_matrix": {"labels": ["no", "yes"], "matrix": [[700, 420], [218, 262]]},
    }
    estimate = {
        "method": "CBPE",
        "primary_metric": "roc_auc",
        "metrics": {"roc_auc": 0.7204, "accuracy": 0.6203, "f1": 0.5702},
        "value": 0.7204,
        "lower": 0.7011,
        "upper": 0.7398,
        "confidence": 0.95,
        "rows": 2500,
        "baseline": 0.8163,
        "degraded": True,
        "reason": "estimated roc_auc 0.7204 vs baseline 0.8163: 0.0959 worse, allowed 0.0408 worse",
    }
    window = {"start": "2026-11-26T12:00:00Z", "end": "2026-11-26T13:00:00Z"}
    trend = []
    for hour in range(12):
        realized = None if hour in (3, 4) else round(0.82 - 0.01 * max(hour - 7, 0) ** 1.5, 4)
        trend.append(
            {
                "window": {
                    "start": f"2026-11-26T{hour:02d}:00:00Z",
                    "end": f"2026-11-26T{hour + 1:02d}:00:00Z",
                },
                "metric": "roc_auc",
                "realized": realized,
                "estimated": round(0.815 - 0.008 * max(hour - 7, 0) ** 1.4, 4),
                "status": "OK" if hour < 9 else ("DRIFT" if hour < 11 else "DEGRADED"),
                "baseline": 0.8163,
            }
        )
    trend[-1].update(window=window, realized=0.7012, estimated=0.7204)
    version_block = {
        "version": 3,
        "status": "DEGRADED",
        "status_reason": performance["reason"],
        "rows": 2500,
        "labeled": 1600,
        "task": "binary",
        "drift": drift,
        "performance": performance,
        "estimated_performance": estimate,
    }
    return {
        "report_format_version": 1,
        "model": {"name": "churn", "version": 3},
        "window": window,
        "generated_at": "2026-11-26T13:00:05.123Z",
        "status": "DEGRADED",
        "status_reason": performance["reason"],
        "counts": {
            "predictions": 2500,
            "labeled": 1600,
            "malformed": 3,
            "outside_window": 812,
            "unknown_version": 0,
            "feedback_indexed": 5120,
            "feedback_malformed": 1,
            "capture_objects": 28,
        },
        "drift": drift,
        "performance": performance,
        "estimated_performance": estimate,
        "versions": {"3": version_block},
        "thresholds": {"min_rows": 200, "drift": {"psi": 0.2}, "performance": {"tolerance": 0.05}},
        "timings_seconds": {"scan": 1.2, "analysis": 0.3},
        "retraining": {
            "triggered": True,
            "reason": "status DEGRADED: submitted training job modelops-retrain-churn-x",
            "job_id": "job-1",
        },
        "trend": trend,
        "reports": {"json": "s3://b/r.json", "html": "s3://b/r.html"},
    }


def legacy_report() -> dict[str, Any]:
    """The same window as a report written before rules, importance, estimates, confusion
    matrices and trends: DEGRADED from labels while the input share rule did not fire."""
    report = copy.deepcopy(rich_report())
    for key in ("estimated_performance", "trend"):
        report.pop(key)
    drift = report["drift"]
    for key in ("rules", "weighted_score"):
        drift.pop(key)
    drift["dataset_drift"] = False
    for feature in drift["features"].values():
        feature.pop("importance")
        feature.pop("threshold")
    report["performance"].pop("confusion_matrix")
    report["versions"]["3"].pop("estimated_performance")
    return report


def rollout_block(action: str = "promoted") -> dict[str, Any]:
    """The report's `rollout` block as the monitor writes it (modelops.rollout.evidence) for
    a shadow challenger decided on 960 labeled rows: promoted, or (action "rejected") the
    same rows with the challenger worse."""
    promoted = action == "promoted"
    champion_auc, challenger_auc = (0.2703, 0.7115) if promoted else (0.7184, 0.527)
    difference = challenger_auc - champion_auc
    lower, upper = (0.3881, 0.4956) if promoted else (-0.2394, -0.1486)
    reason = (
        "the challenger is not worse: " if promoted else "the challenger is worse: "
    ) + f"roc_auc {challenger_auc} vs champion {champion_auc} on 960 labeled rows"
    versions = (1, 2) if promoted else (2, 3)
    return {
        "champion_version": versions[0],
        "challenger_version": versions[1],
        "mode": "shadow",
        "weight": 1.0,
        "started_at": "2026-11-30T18:20:40.000Z",
        "rule": {"margin": 0.01, "confidence": 0.95, "min_labeled_rows": 200,
                 "max_age_hours": 72.0, "max_error_rate": 0.01},
        "rows": 1200,
        "comparison": {
            "champion": {"version": versions[0], "labeled_rows": 960,
                         "metrics": {"accuracy": 0.3104, "f1": 0.41, "roc_auc": champion_auc,
                                     "log_loss": 1.21, "brier_score": 0.38},
                         "latency_ms": {"requests": 24, "p50": 0.412, "p95": 0.9}, "errors": 0},
            "challenger": {"version": versions[1], "labeled_rows": 960,
                           "metrics": {"accuracy": 0.69, "f1": 0.39, "roc_auc": challenger_auc,
                                       "log_loss": 0.61, "brier_score": 0.21},
                           "latency_ms": {"requests": 24, "p50": 0.388, "p95": 1.02},
                           "scored_rows": 1200, "errors": 0},
        },
        "decision": {
            "action": "promote" if promoted else "reject",
            "reason": reason,
            "statistics": {
                "mode": "shadow", "metric": "roc_auc", "greater_is_better": True,
                "margin": 0.01, "confidence": 0.95,
                "labeled_rows": {"champion": 960, "challenger": 960},
                "challenger_attempts": 1200, "challenger_errors": 0,
                "agreement": 0.4125, "age_hours": 0.011,
                "test": {"kind": "paired bootstrap", "difference": difference, "lower": lower,
                         "upper": upper, "confidence": 0.95, "champion": champion_auc,
                         "challenger": challenger_auc, "rows": 960, "resamples": 1000},
                "mcnemar": {"champion_only_correct": 61, "challenger_only_correct": 430,
                            "p_value": 1.2e-70},
            },
        },
        "outcome": {"action": action, "champion_version": versions[1] if promoted else versions[0],
                    "challenger_version": versions[1], "reason": reason, "event_sent": True},
    }  # fmt: skip
