"""A regression model's window at the default seed (0): its prediction sample gets a seed
of its own that numpy accepts (it was seed - 1 = -1, and every regression window failed)."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.monitoring.accumulators import NumericAccumulator
from modelops.monitoring.window import ScanSettings, VersionWindow


@pytest.mark.parametrize("seed", [0, 1])
def test_a_regression_window_builds_at_the_lowest_seeds(
    regression_champion: dict[str, Any], seed: int
) -> None:
    window = VersionWindow(1, regression_champion, ScanSettings(seed=seed))
    assert isinstance(window.prediction, NumericAccumulator)
