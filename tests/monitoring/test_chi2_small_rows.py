"""Chi-square equals scipy's (docs/MONITORING.md, drift statistics) down to the smallest
rows: a row (a window, or the baseline) holding one value, or two, is tested, not dropped;
only a row holding none is."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelops.monitoring import statistics


@pytest.mark.parametrize(
    "table",
    [
        [[1.0, 0.0, 0.0], [10.0, 12.0, 30.0]],  # one value in the first row
        [[0.0, 1.0], [25.0, 3.0]],
        [[2.0, 0.0, 0.0], [10.0, 12.0, 30.0]],
        [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [5.0, 7.0, 9.0]],
    ],
)
def test_a_row_holding_one_or_two_values_is_tested_like_scipy(table: list[list[float]]) -> None:
    ours = statistics.chi2_contingency(np.array(table))
    theirs = stats.chi2_contingency(np.array(table))
    assert ours.dof == theirs.dof
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.pvalue < 1.0
