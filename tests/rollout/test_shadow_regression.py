"""A shadow challenger of a regression model (docs/OPERATIONS.md, "Safe rollout"): the paired
absolute errors of the two versions on the same rows are recorded with the decision; a
canary's rows are not paired, so none are."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from modelops.metrics import primary_metric
from modelops.rollout.decision import Evidence, decide
from modelops.rollout.statistics import Outputs, paired_errors
from modelops.schema import Task
from tests.rollout.conftest import T0, challenger


@pytest.mark.parametrize("mode", ["shadow", "canary"])
def test_shadow_regression_records_the_paired_errors(mode: str, rng: np.random.Generator) -> None:
    truth = rng.normal(100.0, 10.0, 600)
    champion = truth + rng.normal(0.0, 5.0, truth.size)
    candidate = truth + rng.normal(0.0, 4.0, truth.size)
    evidence = Evidence(
        task=Task.REGRESSION,
        metric=primary_metric("regression"),
        classes=(),
        champion=Outputs(y_true=truth, values=champion),
        challenger=Outputs(y_true=truth, values=candidate),
    )
    decision = decide(evidence, challenger(mode), now=T0 + timedelta(hours=1), seed=1)
    if mode == "shadow":
        assert decision.statistics["paired_errors"] == paired_errors(truth, champion, candidate)
    else:
        assert "paired_errors" not in decision.statistics
