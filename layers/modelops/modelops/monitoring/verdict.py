"""The window's drift verdict: four rules over what the monitor measured, each reported in words.

In this order (`rules` in the report, one entry each, fired or not):

drifted_share      the share of drifted features reaches `drifted_share` (Evidently's rule)
important_feature  a feature among the model's `top_features` most important ones drifted
weighted_score     the importance-weighted drift score reaches `weighted_score`: the share of
                   the model's total importance carried by drifted features (0 to 1)
prediction_drift   the model's outputs drifted against its holdout predictions

`dataset_drift` is true when any of the first three (the input rules) fired; the window is
DRIFT when any rule fired. Importance is the permutation importance the training job measured
on its holdout (metadata.json, "feature_importance"): without it (older versions) the two
importance rules are not evaluated and say so. Per-feature thresholds may be overridden by the
version's metadata ("drift_thresholds", set with `modelops train --drift-threshold`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from modelops.monitoring.accumulators import NumericAccumulator
from modelops.monitoring.drift import DriftThresholds, categorical_drift, numeric_drift
from modelops.monitoring.window import VersionWindow

# The per-feature thresholds a version may override, and the range of each.
FEATURE_THRESHOLDS: dict[str, tuple[float, float]] = {
    "psi": (0.0, float("inf")),
    "p_value": (0.0, 1.0),
    "wasserstein": (0.0, float("inf")),
    "jensen_shannon": (0.0, 1.0),
    "unseen_share": (0.0, 1.0),
    "missing_share_change": (0.0, 1.0),
}
_BY_KIND = {
    "numeric": ("psi", "p_value", "wasserstein", "missing_share_change"),
    "categorical": ("psi", "p_value", "jensen_shannon", "unseen_share", "missing_share_change"),
}


def version_drift(part: VersionWindow, thresholds: DriftThresholds) -> dict[str, Any]:
    """Every feature's and the predictions' drift, and the window verdict, of one version's
    rows: judged by the version's own threshold overrides and its recorded importance."""
    overrides = part.metadata.get("drift_thresholds") or {}
    features: dict[str, dict[str, Any]] = {}
    for name in part.schema.feature_names:
        own = feature_thresholds(thresholds, overrides, name)
        entry = part.baseline["features"][name]
        if name in part.numeric:
            features[name] = numeric_drift(entry, part.numeric[name], own)
        else:
            features[name] = categorical_drift(entry, part.categorical[name], own)
        features[name]["threshold"] = thresholds_used(features[name]["kind"], own)
    prediction_baseline = part.baseline.get("prediction")
    prediction = None
    if prediction_baseline:
        if isinstance(part.prediction, NumericAccumulator):
            prediction = numeric_drift(prediction_baseline, part.prediction, thresholds)
        else:
            prediction = categorical_drift(prediction_baseline, part.prediction, thresholds)
    importance = importance_shares(part.metadata, list(part.schema.feature_names))
    return {
        **window_verdict(features, prediction, importance, thresholds),
        "features": features,
        "prediction": prediction,
    }


def feature_thresholds(
    thresholds: DriftThresholds, overrides: Mapping[str, Mapping[str, float]], name: str
) -> DriftThresholds:
    """The thresholds one feature is judged by: the stack's, with the version's overrides."""
    own: dict[str, Any] = {
        k: float(v) for k, v in (overrides.get(name) or {}).items() if k in FEATURE_THRESHOLDS
    }
    return dataclasses.replace(thresholds, **own) if own else thresholds


def thresholds_used(kind: str, thresholds: DriftThresholds) -> dict[str, float]:
    """The thresholds that apply to a feature of this kind (reported with the feature)."""
    return {k: getattr(thresholds, k) for k in _BY_KIND[kind]}


def importance_shares(metadata: Mapping[str, Any], features: list[str]) -> dict[str, float] | None:
    """Each feature's share of the model's total importance, or None when none was recorded
    (or none of it is positive: the model did not depend on any single feature)."""
    recorded = (metadata.get("feature_importance") or {}).get("shares")
    if not isinstance(recorded, Mapping):
        return None
    shares = {f: max(float(recorded.get(f) or 0.0), 0.0) for f in features}
    total = sum(shares.values())
    return {f: s / total for f, s in shares.items()} if total > 0 else None


def window_verdict(
    features: dict[str, dict[str, Any]],
    prediction: dict[str, Any] | None,
    importance: dict[str, float] | None,
    thresholds: DriftThresholds,
) -> dict[str, Any]:
    """Apply the four rules; every feature gains its `importance` (share or None)."""
    for name, feature in features.items():
        feature["importance"] = importance.get(name) if importance is not None else None
    drifted = [name for name, f in features.items() if f["drifted"]]
    share = len(drifted) / len(features) if features else 0.0
    rules = [_share_rule(share, drifted, len(features), thresholds.drifted_share)]
    weighted: float | None = None
    if importance is None:
        missing = "this version has no recorded feature importance"
        rules.append(_rule("important_feature", False, f"not evaluated: {missing}"))
        rules.append(_rule("weighted_score", False, f"not evaluated: {missing}"))
    else:
        ranked = sorted((n for n in features if importance[n] > 0), key=lambda n: -importance[n])
        top = ranked[: thresholds.top_features]
        hits = [n for n in top if features[n]["drifted"]]
        listed = ", ".join(f"{n} ({importance[n]:.0%})" for n in top) or "none"
        rules.append(
            _rule(
                "important_feature",
                bool(hits),
                f"drifted among the {thresholds.top_features} most important features "
                f"[{listed}]: {', '.join(hits)}"
                if hits
                else f"none of the {thresholds.top_features} most important features [{listed}] drifted",
            )
        )
        weighted = sum(importance[n] for n in drifted)
        fired = weighted >= thresholds.weighted_score
        rules.append(
            _rule(
                "weighted_score",
                fired,
                f"drifted features carry {weighted:.0%} of the model's importance "
                f"({'>=' if fired else '<'} the threshold {thresholds.weighted_score:.0%})",
            )
        )
    predicted = prediction is not None and bool(prediction["drifted"])
    rules.append(
        _rule(
            "prediction_drift",
            predicted,
            "the predictions drifted: " + "; ".join(prediction["reasons"])
            if predicted and prediction is not None
            else "the predictions did not drift"
            if prediction is not None
            else "not evaluated: the baseline has no predictions",
        )
    )
    return {
        "dataset_drift": any(r["fired"] for r in rules[:3]),
        "drifted_share": share,
        "drifted_features": drifted,
        "threshold": thresholds.drifted_share,
        "weighted_score": weighted,
        "rules": rules,
    }


def _share_rule(share: float, drifted: list[str], total: int, threshold: float) -> dict[str, Any]:
    fired = total > 0 and share >= threshold
    names = f": {', '.join(drifted)}" if drifted else ""
    return _rule(
        "drifted_share",
        fired,
        f"{len(drifted)} of {total} features drifted ({share:.0%}, "
        f"{'>=' if fired else '<'} the threshold {threshold:.0%}){names}",
    )


def _rule(rule: str, fired: bool, detail: str) -> dict[str, Any]:
    return {"rule": rule, "fired": fired, "detail": detail}


def drift_reason(drift: Mapping[str, Any]) -> str | None:
    """The status reason of a drifted window: the detail of every rule that fired."""
    fired = [r["detail"] for r in drift.get("rules") or [] if r["fired"]]
    return "; ".join(fired) if fired else None
