"""Promote, reject or keep observing: one window's evidence against the challenger's rule.

In order, the first that holds decides:
1. the challenger could not be loaded, or failed on more than `max_error_rate` of the rows
   it was asked to score: reject;
2. its predictions drifted while the champion's did not: reject;
3. fewer than `min_labeled_rows` labeled rows: keep observing (reject once past max age);
4. the test (paired for shadow, unpaired for canary) of the primary metric: promote when the
   lower bound of challenger-minus-champion is at least -margin (not worse by more than the
   margin, with the confidence) and, in shadow classification, McNemar does not say it gets
   significantly more rows wrong by more than the margin; reject when the upper bound is
   below -margin (confidently worse) or McNemar says so;
5. otherwise keep observing, and reject once the rollout is older than `max_age_hours`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from modelops.registry import Challenger
from modelops.rollout.statistics import (
    DEFAULT_RESAMPLES,
    Outputs,
    mcnemar,
    paired_bootstrap,
    paired_errors,
    unpaired_bootstrap,
)
from modelops.schema import PrimaryMetric, Task

PROMOTE = "promote"
REJECT = "reject"
OBSERVE = "observe"


@dataclass(frozen=True)
class Evidence:
    """What a window says about the champion and the challenger.

    Shadow: `champion` and `challenger` hold the same labeled rows in the same order.
    Canary: each holds the labeled rows that version answered."""

    task: Task
    metric: PrimaryMetric
    classes: Sequence[Any]
    champion: Outputs
    challenger: Outputs
    challenger_attempts: int = 0  # rows the challenger was asked to score (labeled or not)
    challenger_errors: int = 0  # of those, rows it failed on
    load_error: str | None = None
    agreement: float | None = None  # share of shadow rows where both predicted alike
    champion_drift: bool | None = None  # prediction drift of each version's outputs
    challenger_drift: bool | None = None


@dataclass(frozen=True)
class Decision:
    action: str  # promote | reject | observe
    reason: str
    statistics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, "statistics": self.statistics}


def decision_seed(model_name: str, challenger_version: int, window_key: str) -> int:
    """The same window of the same rollout always resamples alike: re-runs decide alike."""
    digest = hashlib.sha256(f"{model_name}:{challenger_version}:{window_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def decide(
    evidence: Evidence,
    challenger: Challenger,
    *,
    now: datetime,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
) -> Decision:
    rule = challenger.rule
    expired = challenger.expired(now)
    age_hours = challenger.age(now).total_seconds() / 3600
    stats: dict[str, Any] = {
        "mode": challenger.mode,
        "metric": evidence.metric.name,
        "greater_is_better": evidence.metric.greater_is_better,
        "margin": rule.margin,
        "confidence": rule.confidence,
        "labeled_rows": {
            "champion": len(evidence.champion),
            "challenger": len(evidence.challenger),
        },
        "challenger_attempts": evidence.challenger_attempts,
        "challenger_errors": evidence.challenger_errors,
        "agreement": evidence.agreement,
        "age_hours": round(age_hours, 3),
    }
    if evidence.load_error:
        return Decision(REJECT, f"the challenger could not be loaded: {evidence.load_error}", stats)
    if evidence.challenger_errors:
        rate = evidence.challenger_errors / max(evidence.challenger_attempts, 1)
        stats["challenger_error_rate"] = rate
        if rate > rule.max_error_rate:
            return Decision(
                REJECT,
                f"the challenger failed on {evidence.challenger_errors} of "
                f"{evidence.challenger_attempts} rows ({rate:.2%} > {rule.max_error_rate:.2%})",
                stats,
            )
    if evidence.challenger_drift and not evidence.champion_drift:
        return Decision(
            REJECT, "the challenger's predictions drifted where the champion's did not", stats
        )
    labeled = min(len(evidence.champion), len(evidence.challenger))
    if labeled < rule.min_labeled_rows:
        return _undecided(
            expired,
            f"{labeled} labeled rows of the {rule.min_labeled_rows} needed",
            stats,
        )
    test = paired_bootstrap if challenger.mode == "shadow" else unpaired_bootstrap
    interval = test(
        evidence.metric,
        evidence.champion,
        evidence.challenger,
        evidence.classes,
        confidence=rule.confidence,
        seed=seed,
        resamples=resamples,
    )
    stats["test"] = {
        "kind": "paired bootstrap" if challenger.mode == "shadow" else "unpaired bootstrap",
        **interval.as_dict(),
    }
    worse_on_rows = _paired_row_test(evidence, challenger, stats)
    name = evidence.metric.name
    summary = (
        f"{name} {interval.challenger:.4g} vs champion {interval.champion:.4g} on "
        f"{labeled} labeled rows; difference {interval.difference:+.4g}, "
        f"{rule.confidence:.0%} bounds [{interval.lower:+.4g}, {interval.upper:+.4g}], "
        f"margin {rule.margin:g}"
    )
    if math.isnan(interval.lower):
        return _undecided(expired, f"{name} is undefined on these rows", stats)
    verdict = interval_verdict(interval.lower, interval.upper, rule.margin)
    if verdict == REJECT:
        return Decision(REJECT, f"the challenger is worse: {summary}", stats)
    if worse_on_rows:
        return Decision(REJECT, f"the challenger is worse: {worse_on_rows}; {summary}", stats)
    if verdict == PROMOTE:
        return Decision(PROMOTE, f"the challenger is not worse: {summary}", stats)
    return _undecided(expired, f"inconclusive: {summary}", stats)


def interval_verdict(lower: float, upper: float, margin: float) -> str:
    """The rule on the bounds of challenger-minus-champion (positive: better): confidently
    worse than -margin (upper bound below it) rejects; not worse than -margin (lower bound at
    or above it) promotes; an interval across -margin is inconclusive."""
    if upper < -margin:
        return REJECT
    if lower >= -margin:
        return PROMOTE
    return OBSERVE


def _undecided(expired: bool, why: str, stats: dict[str, Any]) -> Decision:
    if expired:
        return Decision(REJECT, f"maximum age reached undecided ({why})", stats)
    return Decision(OBSERVE, f"keep observing: {why}", stats)


def _paired_row_test(evidence: Evidence, challenger: Challenger, stats: dict[str, Any]) -> str:
    """Shadow only: McNemar (classification) or paired errors (regression), recorded; a
    McNemar verdict of "significantly more rows wrong, by more than the margin" also rejects
    (a model can keep its ROC AUC while its labels get much worse)."""
    if challenger.mode != "shadow":
        return ""
    champion, other = evidence.champion, evidence.challenger
    if evidence.task is Task.REGRESSION:
        if champion.values is not None and other.values is not None:
            stats["paired_errors"] = paired_errors(champion.y_true, champion.values, other.values)
        return ""
    if champion.labels is None or other.labels is None:
        return ""
    truth = np.asarray([str(v) for v in champion.y_true.tolist()], dtype=object)
    right_a = truth == np.asarray([str(v) for v in champion.labels.tolist()], dtype=object)
    right_b = truth == np.asarray([str(v) for v in other.labels.tolist()], dtype=object)
    test = mcnemar(right_a, right_b)
    stats["mcnemar"] = test.as_dict()
    accuracy_drop = float(right_a.mean() - right_b.mean())
    if (
        test.challenger_worse
        and test.p_value < 1 - challenger.rule.confidence
        and accuracy_drop > challenger.rule.margin
    ):
        return (
            f"McNemar p={test.p_value:.3g}: {test.champion_only} rows only the champion got "
            f"right vs {test.challenger_only}, accuracy {accuracy_drop:.3f} lower"
        )
    return ""
