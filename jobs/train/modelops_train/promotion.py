"""The promotion gate: does the new version become champion?

- "force": yes. "never": no.
- "challenger" (the default of the training job): the first version of a model becomes
  champion; any later one becomes the challenger, to earn its traffic on live requests in
  shadow or canary (modelops.rollout decides). The holdout comparison with the champion is
  still made and recorded, but does not decide.
- "auto": yes if there is no champion yet, or if the new version's primary metric is at
  least as good as the champion's, both scored on THIS run's holdout (the champion's ONNX
  model is loaded from the registry and run with onnxruntime), allowing `tolerance` worse.
  A champion that cannot be scored on this holdout (other features, other task) is not
  replaced automatically: that needs "force".

The champion's alias state is read before the comparison and the change is a
compare-and-swap against it (ModelRegistry.set_alias(expected=...)), so a champion promoted
by someone else meanwhile is never silently overwritten: StaleAliasError instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from modelops.inference import OnnxModel
from modelops.metrics import compute_metrics, is_better_or_equal
from modelops.registry import CHAMPION, AliasState, ModelRegistry
from modelops.schema import ModelSchema, PrimaryMetric
from modelops_train.spec import feature_frame

PROMOTE_MODES = ("challenger", "auto", "force", "never")


@dataclass(frozen=True)
class PromotionDecision:
    mode: str
    promote: bool
    reason: str
    metric: PrimaryMetric
    candidate_score: float
    champion_version: int | None = None
    champion_score: float | None = None
    tolerance: float = 0.0
    champion_state: AliasState | None = field(default=None, repr=False, compare=False)
    challenge: bool = False  # publish as the challenger rather than champion

    def as_metadata(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "promote": self.promote,
            "challenge": self.challenge,
            "reason": self.reason,
            "metric": self.metric.name,
            "greater_is_better": self.metric.greater_is_better,
            "tolerance": self.tolerance,
            "candidate_score": self.candidate_score,
            "champion_version": self.champion_version,
            "champion_score": self.champion_score,
        }


def decide(
    *,
    mode: str,
    registry: ModelRegistry,
    model_name: str,
    metric: PrimaryMetric,
    candidate_score: float,
    holdout: pd.DataFrame,
    y_true: np.ndarray,
    tolerance: float = 0.0,
) -> PromotionDecision:
    """Read the champion, compare on the holdout (auto), and say what to do and why."""
    if mode not in PROMOTE_MODES:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE_MODES)}, got {mode!r}")
    state = registry.get_alias(model_name, CHAMPION)
    undecided = PromotionDecision(
        mode=mode,
        promote=False,
        reason="",
        metric=metric,
        candidate_score=candidate_score,
        champion_version=state.version if state else None,
        tolerance=tolerance,
        champion_state=state,
    )
    if mode == "never":
        return replace(undecided, reason="--promote never")
    if mode == "force":
        return replace(undecided, promote=True, reason="--promote force")
    if state is None:
        return replace(
            undecided, promote=True, reason="first version of the model: no champion yet"
        )
    score, problem = _champion_score(registry, model_name, state.version, metric, holdout, y_true)
    if score is None:
        if mode == "challenger":
            return replace(
                undecided,
                challenge=True,
                reason=f"challenger of v{state.version} (not comparable on this holdout: {problem})",
            )
        return replace(
            undecided,
            reason=f"champion v{state.version} cannot be scored on this holdout ({problem}); "
            "use --promote force to replace it",
        )
    better = is_better_or_equal(metric, candidate_score, score, tolerance=tolerance)
    direction = "higher" if metric.greater_is_better else "lower"
    comparison = (
        f"{metric.name} {candidate_score:.6g} vs champion v{state.version} {score:.6g} "
        f"on the same holdout ({direction} is better, tolerance {tolerance:g})"
    )
    if mode == "challenger":
        return replace(
            undecided,
            challenge=True,
            reason=f"challenger of v{state.version}, to be decided on live requests; holdout: "
            + comparison,
            champion_score=score,
        )
    verdict = "at least as good as the champion: " if better else "worse than the champion: "
    return replace(undecided, promote=better, reason=verdict + comparison, champion_score=score)


def _champion_score(
    registry: ModelRegistry,
    name: str,
    version: int,
    metric: PrimaryMetric,
    holdout: pd.DataFrame,
    y_true: np.ndarray,
) -> tuple[float | None, str]:
    metadata = registry.get_metadata(name, version)
    schema = ModelSchema.from_metadata(metadata)
    missing = [f for f in schema.feature_names if f not in holdout.columns]
    if missing:
        return None, f"it needs features this data lacks: {', '.join(missing)}"
    model = OnnxModel(
        registry.get_model_bytes(name, version, expected_sha256=metadata["model_file"]["sha256"]),
        schema,
    )
    inputs = feature_frame(holdout, schema)
    predictions = model.predict_columns({n: inputs[n].to_numpy() for n in schema.feature_names})
    metrics = compute_metrics(
        schema.task,
        y_true,
        labels=predictions.labels,
        probabilities=predictions.probabilities,
        values=predictions.values,
        classes=schema.classes,
    )
    if metric.name not in metrics:
        return None, f"{metric.name} does not apply to its task ({schema.task})"
    return metrics[metric.name], ""
