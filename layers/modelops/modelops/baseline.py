"""The drift baseline stored with every model version (metadata.json, key "baseline").

Built by the training job from the training data, read by the monitor, which compares each
window's per-bin and per-category counts with it. numpy only: it runs in Lambda.

Format (format_version 2):

    {"format_version": 2, "rows": <training rows>,
     "features": {
        "<numeric>": {"kind": "numeric", "count": n, "missing_share": 0.02,
                      "representation": "float64",     # values as the client sends them
                      "bin_edges": [e1, ..., ek],      # interior cut points, ascending, unique
                      "bin_shares": [s0, ..., sk],     # k+1 shares of present values, sum 1
                      "mean": .., "std": .., "min": .., "max": ..,
                      "fine_edges": [f1, ..., fj],     # ~2000 quantile cut points (KS, Wasserstein)
                      "fine_counts": [c0, ..., cj],    # present values per fine bin (integers)
                      "fine_sums": [t0, ..., tj]},     # sum of the values in each fine bin
        "<categorical>": {"kind": "categorical", "count": n, "missing_share": 0.01,
                          "category_shares": {"basic": 0.5, ...},   # of present values, sum 1
                          "other_share": 0.0}},       # categories beyond MAX_CATEGORIES, lumped
     "prediction": {<a numeric or categorical entry as above, of the model's outputs:
                     class labels as categories, or regression values>},
     "performance": {<holdout metrics>}}

Bin i of a numeric feature holds values v with edges[i-1] < v <= edges[i] (bin 0 is
everything <= edges[0], the last bin everything > edges[-1]): see `bin_index`, the one
definition both the training job and the monitor use, for the coarse and the fine bins.

Representation: numeric values are binned as the float64 numbers a client sends (the JSON
number 19.99), never as the float32 the model computes with: an edge taken from float32
training values (19.989999771...) would put every window value 19.99 in the next bin.
Format 1 baselines (before the fine bins) were built from float32 values and kept a
1000-value `sample` instead of the fine bins; the monitor still reads them, rounding window
values through float32 (`numeric_representation`) and using the sample for KS/Wasserstein.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from modelops.schema import MISSING_CATEGORY, FeatureKind, categorical_token

BASELINE_FORMAT_VERSION = 2
DEFAULT_NUMERIC_BINS = 10
# Fine quantile bins: the KS statistic read at their edges is off by at most one bin's mass
# (~1/2000 of the reference), and 3 x 2000 numbers per feature keep metadata.json small.
DEFAULT_FINE_BINS = 2000
MAX_CATEGORIES = 200
FLOAT64 = "float64"
FLOAT32 = "float32"


def numeric_representation(entry: Mapping[str, Any]) -> str:
    """How a baseline entry's numeric values were taken: "float64" (the client's numbers) or,
    for format 1 baselines, which binned the model's float32 inputs, "float32"."""
    return str(entry.get("representation") or FLOAT32)


def as_representation(values: np.ndarray, representation: str) -> np.ndarray:
    """float64 values in a baseline's representation (float32 rounding for format 1)."""
    if representation == FLOAT32:
        return values.astype(np.float32).astype(np.float64)
    return values


def bin_index(edges: np.ndarray | list[float], values: np.ndarray) -> np.ndarray:
    """Index of the bin each (present, non-NaN) value falls in; len(edges)+1 bins."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")


def bin_counts(edges: np.ndarray | list[float], values: np.ndarray) -> np.ndarray:
    """Counts per bin of the present values (NaN must be removed by the caller)."""
    return np.bincount(bin_index(edges, values), minlength=len(edges) + 1)


def sorted_bin_counts(edges: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """`bin_counts` of values already sorted: the edges are searched in the values
    (edges × log n) instead of every value in the edges (n × log edges)."""
    below = np.searchsorted(ordered, edges, side="right")  # values <= each edge
    return np.diff(below, prepend=0, append=ordered.size)


def numeric_baseline(
    values: Iterable[Any],
    *,
    bins: int = DEFAULT_NUMERIC_BINS,
    fine_bins: int = DEFAULT_FINE_BINS,
) -> dict[str, Any]:
    """Quantile bins, moments and fine quantile bins (counts, sums) of a numeric column.

    `values` must be the numbers as a client would send them (float64), not the model's
    float32 inputs: see the module's docstring."""
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
        "representation": FLOAT64,
    }
    if present.size == 0:
        entry.update(
            bin_edges=[], bin_shares=[], mean=None, std=None, min=None, max=None,
            fine_edges=[], fine_counts=[], fine_sums=[],
        )  # fmt: skip
        return entry
    quantiles = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    edges = np.unique(np.quantile(present, quantiles))
    # A cut point equal to the maximum would leave the last bin always empty.
    edges = edges[edges < present.max()]
    counts = bin_counts(edges, present)
    # Fine edges are values of the data (inverted CDF), so a value repeated many times sits
    # exactly on an edge and the CDF there is exact on both sides.
    # The outer edges, just below the minimum and at the maximum, leave the first and last
    # fine bins empty in the reference: a window value outside the training range is seen.
    low, high = present.min(), present.max()
    fine = np.quantile(present, np.linspace(0.0, 1.0, fine_bins + 1)[1:-1], method="inverted_cdf")
    fine = np.unique(np.concatenate([[np.nextafter(low, -np.inf)], fine, [high]]))
    fine_index = bin_index(fine, present)
    entry.update(
        bin_edges=[float(e) for e in edges],
        bin_shares=[float(c) / present.size for c in counts],
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(low),
        max=float(high),
        fine_edges=[float(e) for e in fine],
        fine_counts=np.bincount(fine_index, minlength=fine.size + 1).tolist(),
        fine_sums=np.bincount(fine_index, weights=present, minlength=fine.size + 1).tolist(),
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
    fine_bins: int = DEFAULT_FINE_BINS,
) -> dict[str, Any]:
    """The whole baseline: every feature column (numeric ones as float64, as clients send
    them), the model's predictions (as the service answers) and its holdout metrics."""

    def entry(values: Any, kind: FeatureKind) -> dict[str, Any]:
        if kind is FeatureKind.NUMERIC:
            return numeric_baseline(values, bins=bins, fine_bins=fine_bins)
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
