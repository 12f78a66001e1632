"""Per-feature drift against the baseline of the model version that served the rows.

Each feature gets every statistic that applies to its kind (see docs/MONITORING.md for the
thresholds and why) and one verdict:

numeric      drifted if PSI >= psi, or (KS p-value < p_value and Wasserstein / baseline
             std >= wasserstein), or |missing share change| >= missing_share_change
categorical  drifted if PSI >= psi, or (chi-square p-value < p_value and Jensen-Shannon
             distance >= jensen_shannon), or unseen-category share >= unseen_share, or
             |missing share change| >= missing_share_change

A significance test alone never decides: on large windows tiny, harmless shifts are
"significant", so a p-value counts only together with an effect size. PSI is the headline
score (`method: "psi"`) because it has the same meaning for both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops.monitoring import statistics
from modelops.monitoring.accumulators import (
    OVERFLOW_CATEGORY,
    CategoricalAccumulator,
    NumericAccumulator,
)

# Categories of the window the baseline never saw (and the baseline's lumped "other"
# categories) share one PSI bin, so a brand-new category is a shift, not an error.
UNSEEN_BIN = "__unseen__"


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2
    p_value: float = 0.05
    wasserstein: float = 0.2
    jensen_shannon: float = 0.1
    unseen_share: float = 0.05
    missing_share_change: float = 0.1
    drifted_share: float = 0.5
    top_features: int = 3
    weighted_score: float = 0.3
    psi_epsilon: float = statistics.PSI_EPSILON


def numeric_drift(
    baseline: dict[str, Any], window: NumericAccumulator, thresholds: DriftThresholds
) -> dict[str, Any]:
    """Statistics and verdict of a numeric feature (or regression output)."""
    reference_shares = np.asarray(baseline.get("bin_shares") or [1.0], dtype=np.float64)
    current_counts = (
        window.counts if len(window.counts) == len(reference_shares) else np.array([window.present])
    )
    psi = statistics.psi(reference_shares, current_counts, epsilon=thresholds.psi_epsilon)
    ks, distance, errors = _ks_and_wasserstein(baseline, window)
    scale = _scale(baseline)
    wasserstein_norm = distance / scale
    missing_before = float(baseline.get("missing_share") or 0.0)
    missing_now = window.missing / window.rows if window.rows else 0.0
    reasons = []
    if psi >= thresholds.psi:
        reasons.append(f"PSI {psi:.3f} >= {thresholds.psi}")
    if ks.pvalue < thresholds.p_value and wasserstein_norm >= thresholds.wasserstein:
        reasons.append(
            f"KS p-value {ks.pvalue:.2g} < {thresholds.p_value} with Wasserstein {wasserstein_norm:.3f} "
            f"baseline std >= {thresholds.wasserstein}"
        )
    reasons += _missing_reason(missing_before, missing_now, thresholds)
    return {
        "kind": "numeric",
        "drifted": bool(reasons),
        "method": "psi",
        "score": psi,
        "reasons": reasons,
        "psi": psi,
        "ks_statistic": ks.statistic,
        "ks_p_value": ks.pvalue,
        "wasserstein": distance,
        "wasserstein_normalized": wasserstein_norm,
        **errors,
        "missing_share": {
            "baseline": missing_before,
            "current": missing_now,
            "change": missing_now - missing_before,
        },
        "rows": window.rows,
        "present": window.present,
        "current": {
            "mean": window.mean(),
            "std": window.std(),
            "min": window.minimum if window.present else None,
            "max": window.maximum if window.present else None,
            "bin_shares": _shares(current_counts),
        },
        "baseline": {
            "mean": baseline.get("mean"),
            "std": baseline.get("std"),
            "bin_edges": list(baseline.get("bin_edges") or []),
            "bin_shares": [float(s) for s in reference_shares],
        },
    }


def _ks_and_wasserstein(
    baseline: dict[str, Any], window: NumericAccumulator
) -> tuple[statistics.TestResult, float, dict[str, Any]]:
    """KS (statistic, p-value) and Wasserstein over the whole window and the whole reference,
    from the fine bins; for a format 1 baseline (no fine bins), from the two bounded samples.
    The third item says which, with the error bounds of the binned figures."""
    fine = window.fine
    if fine is None or baseline.get("fine_edges") is None:
        reference = np.asarray(baseline.get("sample") or [], dtype=np.float64)
        ks = statistics.ks_2samp(reference, window.sample)
        distance = statistics.wasserstein_distance(reference, window.sample)
        return ks, distance, {"statistics_from": "samples"}
    reference_counts = np.asarray(baseline["fine_counts"], dtype=np.float64)
    reference_sums = np.asarray(baseline["fine_sums"], dtype=np.float64)
    ks_bounded = statistics.ks_binned(
        reference_counts, fine.counts, edges=fine.edges, sums=(reference_sums, fine.sums)
    )
    pvalue = statistics.ks_pvalue(ks_bounded.value, int(reference_counts.sum()), window.present)
    low = min(float(baseline.get("min") or 0.0), window.minimum)
    high = max(float(baseline.get("max") or 0.0), window.maximum)
    w = statistics.wasserstein_binned(
        fine.edges, (reference_counts, reference_sums), (fine.counts, fine.sums), low=low, high=high
    )
    return (
        statistics.TestResult(ks_bounded.value, pvalue),
        w.value,
        {
            "statistics_from": "fine_bins",
            "ks_statistic_error_bound": ks_bounded.error,
            "wasserstein_error_bound": w.error,
        },
    )


def _scale(baseline: dict[str, Any]) -> float:
    """The unit of the normalised Wasserstein distance: the baseline's standard deviation;
    for a constant baseline column, max(|its value|, 1), so a shift still registers."""
    std = baseline.get("std") or 0.0
    if std > 0:
        return float(std)
    return max(abs(float(baseline.get("mean") or 0.0)), 1.0)


def categorical_drift(
    baseline: dict[str, Any], window: CategoricalAccumulator, thresholds: DriftThresholds
) -> dict[str, Any]:
    """Statistics and verdict of a categorical feature (or predicted class)."""
    baseline_shares: dict[str, float] = dict(baseline.get("category_shares") or {})
    categories = list(baseline_shares)
    unseen_count = (
        sum(c for k, c in window.counts.items() if k not in baseline_shares) + window.overflow
    )
    reference = np.array(
        [baseline_shares[c] for c in categories] + [float(baseline.get("other_share") or 0.0)]
    )
    current = np.array(
        [window.counts.get(c, 0) for c in categories] + [unseen_count], dtype=np.float64
    )
    psi = statistics.psi(reference, current, epsilon=thresholds.psi_epsilon)
    js = statistics.jensenshannon_distance(reference, current)
    # Homogeneity test on counts: the baseline's shares times its number of present values.
    baseline_present = float(baseline.get("count") or 0) * (
        1.0 - float(baseline.get("missing_share") or 0.0)
    )
    chi2 = statistics.chi2_contingency(np.vstack([reference * baseline_present, current]))
    unseen_share = unseen_count / window.present if window.present else 0.0
    missing_before = float(baseline.get("missing_share") or 0.0)
    missing_now = window.missing / window.rows if window.rows else 0.0
    reasons = []
    if psi >= thresholds.psi:
        reasons.append(f"PSI {psi:.3f} >= {thresholds.psi}")
    if chi2.pvalue < thresholds.p_value and js >= thresholds.jensen_shannon:
        reasons.append(
            f"chi-square p-value {chi2.pvalue:.2g} < {thresholds.p_value} with Jensen-Shannon {js:.3f} "
            f">= {thresholds.jensen_shannon}"
        )
    if window.present and unseen_share >= thresholds.unseen_share:
        reasons.append(
            f"unseen categories are {unseen_share:.1%} of values >= {thresholds.unseen_share:.0%}"
        )
    reasons += _missing_reason(missing_before, missing_now, thresholds)
    top_unseen = sorted(
        ((k, c) for k, c in window.counts.items() if k not in baseline_shares),
        key=lambda kc: -kc[1],
    )
    current_shares = _shares(current)
    return {
        "kind": "categorical",
        "drifted": bool(reasons),
        "method": "psi",
        "score": psi,
        "reasons": reasons,
        "psi": psi,
        "chi2_statistic": chi2.statistic,
        "chi2_p_value": chi2.pvalue,
        "jensen_shannon": js,
        "unseen_share": unseen_share,
        "unseen_categories": {k: c for k, c in top_unseen[:20]}
        | ({OVERFLOW_CATEGORY: window.overflow} if window.overflow else {}),
        "missing_share": {
            "baseline": missing_before,
            "current": missing_now,
            "change": missing_now - missing_before,
        },
        "rows": window.rows,
        "present": window.present,
        "categories": [*categories, UNSEEN_BIN],
        "current": {"shares": current_shares},
        "baseline": {"shares": [float(s) for s in reference]},
    }


def _missing_reason(before: float, now: float, thresholds: DriftThresholds) -> list[str]:
    if abs(now - before) >= thresholds.missing_share_change:
        return [
            f"missing share {before:.1%} -> {now:.1%} (change >= {thresholds.missing_share_change:.0%})"
        ]
    return []


def _shares(counts: np.ndarray) -> list[float]:
    total = float(np.sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]
