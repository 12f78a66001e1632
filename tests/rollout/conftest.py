"""Rollout fixtures: challengers as read, and predictions of known quality."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from modelops.registry import AliasState, Challenger, RolloutRule
from modelops.rollout.statistics import Outputs

CLASSES = ("no", "yes")
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def challenger(
    mode: str = "shadow", *, version: int = 2, champion: int = 1, **rule: float
) -> Challenger:
    state = AliasState("challenger", version, 1, '"etag"', {"version": version})
    return Challenger(
        version=version,
        status="active",
        mode=mode,
        weight=1.0 if mode == "shadow" else 0.1,
        started_at="2026-11-30T12:00:00.000Z",
        rule=RolloutRule(**rule),  # type: ignore[arg-type]
        champion_version=champion,
        state=state,
    )


def binary_outputs(y: np.ndarray, noise: float, rng: np.random.Generator) -> Outputs:
    """Probabilities that separate the classes less the larger `noise` is."""
    positive = y == "yes"
    p = np.clip(0.25 + 0.5 * positive + rng.normal(0, noise, y.size), 0.001, 0.999)
    return Outputs(
        y_true=y,
        labels=np.where(p >= 0.5, "yes", "no").astype(object),
        probabilities=np.column_stack([1 - p, p]),
    )


def binary_truth(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(n) < 0.4, "yes", "no").astype(object)
