"""Model outputs as the contract's per-row prediction objects (section 3).

The same objects are the response's predictions (plus the inference id) and the captured
records' `output`, so what was served and what was recorded cannot disagree.
"""

from __future__ import annotations

from itertools import repeat
from math import copysign
from typing import Any

import numpy as np

from modelops.inference import Predictions
from modelops.schema import ModelSchema

# Probabilities are float32 inside the model; 6 decimals keep all their information that
# matters and spare clients float32 noise such as 0.8199999928474426.
PROBABILITY_DECIMALS = 6
_SCALE = 10.0**PROBABILITY_DECIMALS
# Up to this many rows the rounding costs less in Python than numpy's calls (even at about 8:
# benchmarks/bench_small_batches.py, figures in docs/PERFORMANCE.md).
PYTHON_ROUNDING_ROWS = 8


def prediction_outputs(schema: ModelSchema, predictions: Predictions) -> list[dict[str, Any]]:
    """One {"label", "probabilities"} or {"value"} object per row."""
    if not schema.task.is_classification:
        assert predictions.values is not None
        # float32 -> its shortest decimal (12.3, not 12.300000190734863).
        return [{"value": float(text)} for text in predictions.values.astype(np.str_).tolist()]
    assert predictions.labels is not None and predictions.probabilities is not None
    keys = schema.class_keys
    probabilities = rounded(predictions.probabilities)
    if probabilities and len(probabilities[0]) != len(keys):
        raise ValueError(f"{len(probabilities[0])} probabilities for {len(keys)} classes")
    labels = predictions.labels.tolist()
    if len(keys) == 2:
        # Binary, the common case: a dict display per row, a third of dict(zip(...))'s cost.
        first, second = keys
        return [
            {"label": label, "probabilities": {first: p_first, second: p_second}}
            for label, (p_first, p_second) in zip(labels, probabilities, strict=True)
        ]
    # The rows' objects made by C loops (map), not by a Python loop per row and class.
    by_class = map(dict, map(zip, repeat(keys), probabilities))
    return [
        {"label": label, "probabilities": row} for label, row in zip(labels, by_class, strict=True)
    ]


def rounded(probabilities: np.ndarray) -> list[list[float]]:
    """The probabilities (float32 [n, k]) as float64 rounded to PROBABILITY_DECIMALS, exactly
    as np.round gives them (x * 10**6, rounded half to even, / 10**6; a zero keeps its sign).
    A few rows in Python: numpy's calls cost more than the arithmetic there."""
    if len(probabilities) <= PYTHON_ROUNDING_ROWS:
        try:
            return [
                [round(p * _SCALE) / _SCALE or copysign(0.0, p) for p in row]
                for row in probabilities.tolist()
            ]
        except (ValueError, OverflowError):  # NaN or an infinity: numpy's answer
            pass
    as_list: list[list[float]] = np.round(
        probabilities.astype(np.float64), PROBABILITY_DECIMALS
    ).tolist()
    return as_list
