"""The drift baseline stored with every model version (metadata.json, key "baseline").

Built by the training job from the training data, read by the monitor, which compares each
window's per-bin and per-category counts with it. numpy only: it runs in Lambda.

Format (format_version 1):

    {"format_version": 1, "rows": <training rows>,
     "features": {
        "<numeric>": {"kind": "numeric", "count": n, "missing_share": 0.02,
                      "bin_edges": [e1, ..., ek],      # interior cut points, ascending, unique
                      "bin_shares": [s0, ..., sk],     # k+1 shares of present values, sum 1
                      "mean": .., "std": .., "min": .., "max": ..,
                      "sample": [...]},                # bounded random sample, sorted (KS, Wasserstein)
        "<categorical>": {"kind": "categorical", "count": n, "missing_share": 0.01,
                          "category_shares": {"basic": 0.5, ...},   # of present values, sum 1
                          "other_share": 0.0}},       # categories beyond MAX_CATEGORIES, lumped
     "prediction": {<a numeric or categorical entry as above, of the model's outputs:
                     class labels as categories, or regression values>},
     "performance": {<holdout metrics>}}

Bin i of a numeric feature holds values v with edges[i-1] < v <= edges[i] (bin 0 is
everything <= edges[0], the last bin everything > edges[-1]): see `bin_index`, the one
definition both the training job and the monitor use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from modelops.schema import MISSING_CATEGORY, FeatureKind, categorical_token

BASELINE_FORMAT_VERSION = 1
DEFAULT_NUMERIC_BINS = 10
DEFAULT_SAMPLE_SIZE = 1000
MAX_CATEGORIES = 200


def bin_index(edges: np.ndarray | list[float], values: np.ndarray) -> np.ndarray:
    """Index of the bin each (present, non-NaN) value falls in; len(edges)+1 bins."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")


def bin_counts(edges: np.ndarray | list[float], values: np.ndarray) -> np.ndarray:
    """Counts per bin of the present values (NaN must be removed by the caller)."""
    return np.bincount(bin_index(edges, values), minlength=len(edges) + 1)


def numeric_baseline(
    values: Iterable[Any],
    *,
    bins: int = DEFAULT_NUMERIC_BINS,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
) -> dict[str, Any]:
    """Quantile bins, moments and a bounded reference sample of a numeric column."""
    arr = np.asarray(
        [np.nan if v is None else v for v in values]
        if not isinstance(values, np.ndarray)
        else values,
        dtype=np.float64,
    )
    count = int(arr.size)
    present = arr[~np.isnan(arr)]
    entry: dict[str, Any] = {
        "kind": FeatureKind.NUMERIC.value,
        "count": count,
        "missing_share": float(1.0 - present.size / count) if count else 0.0,
    }
    if present.size == 0:
        entry.update(
            bin_edges=[], bin_shares=[], mean=None, std=None, min=None, max=None, sample=[]
        )
        return entry
    quantiles = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    edges = np.unique(np.quantile(present, quantiles))
    # A cut point equal to the maximum would leave the last bin always empty.
    edges = edges[edges < present.max()]
    counts = bin_counts(edges, present)
    rng = np.random.default_rng(seed)
    sample = (
        present
        if present.size <= sample_size
        else rng.choice(present, size=sample_size, replace=False)
    )
    entry.update(
        bin_edges=[float(e) for e in edges],
        bin_shares=[float(c) / present.size for c in counts],
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
        sample=[float(v) for v in np.sort(sample)],
    )
    return entry


def categorical_baseline(
    values: Iterable[Any], *, max_categories: int = MAX_CATEGORIES
) -> dict[str, Any]:
    """Category shares (of present values) and the missing share of a categorical column."""
    tokens = [categorical_token(v) for v in values]
    count = len(tokens)
    present = [t for t in tokens if t != MISSING_CATEGORY]
    entry: dict[str, Any] = {
        "kind": FeatureKind.CATEGORICAL.value,
        "count": count,
        "missing_share": float(1.0 - len(present) / count) if count else 0.0,
    }
    if not present:
        entry.update(category_shares={}, other_share=0.0)
        return entry
    cats, counts = np.unique(np.asarray(present, dtype=object).astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    kept = order[:max_categories]
    total = float(len(present))
    entry["category_shares"] = {str(cats[i]): float(counts[i]) / total for i in kept}
    entry["other_share"] = float(counts[order[max_categories:]].sum()) / total
    return entry


def build_baseline(
    columns: Mapping[str, Any],
    kinds: Mapping[str, FeatureKind],
    *,
    predictions: Any,
    prediction_kind: FeatureKind,
    performance: Mapping[str, float],
    bins: int = DEFAULT_NUMERIC_BINS,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
) -> dict[str, Any]:
    """The whole baseline: every feature column, the model's predictions and its holdout metrics."""

    def entry(values: Any, kind: FeatureKind) -> dict[str, Any]:
        if kind is FeatureKind.NUMERIC:
            return numeric_baseline(values, bins=bins, sample_size=sample_size, seed=seed)
        return categorical_baseline(values)

    rows = {len(v) for v in columns.values()}
    if len(rows) > 1:
        raise ValueError(f"baseline columns have different lengths: {sorted(rows)}")
    return {
        "format_version": BASELINE_FORMAT_VERSION,
        "rows": rows.pop() if rows else 0,
        "features": {name: entry(values, kinds[name]) for name, values in columns.items()},
        "prediction": entry(predictions, prediction_kind),
        "performance": dict(performance),
    }
