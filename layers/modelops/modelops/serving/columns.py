"""A request's validated rows as the model's input columns, checked a column at a time.

`columnar` gathers each feature's values in one pass (or takes them as sent, for column-wise
formats) and checks each column whole: the set of its value types, float32's range, NaN only
where the client sent null or left the feature out, integers that float64 holds exactly,
required features present. It gives up (None) at the first column holding anything the exact
cell-by-cell validation (modelops.serving.request) would have to name, so every problem is
still reported in that path's words, order and places; valid batches never pay for it.

Both paths give the same columns, as the model takes them (ModelSchema.to_onnx_feeds'
conversion, which `exact_columns` applies to rows already checked): float32 with NaN for a
missing value, categories as strings with MISSING_CATEGORY for a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, compress
from types import NoneType
from typing import Any

import numpy as np

from modelops.messages import FLOAT32_MAX
from modelops.schema import MISSING_CATEGORY, FeatureKind, ModelSchema, categorical_token

__all__ = ["FEW_ROWS", "Columns", "columnar", "exact_columns", "gather", "plain_cells"]

# (columns, per row the imputed optional features in schema order; rows with none left out)
Columns = tuple[dict[str, np.ndarray], dict[int, list[str]]]

NUMBER_TYPES = frozenset({float, int, NoneType})
CATEGORY_TYPES = frozenset({str, int, bool, NoneType})
# Beyond this an integer's float64 is rounded: float32 conversion and the range check are the
# exact path's (Python's int comparisons are exact).
EXACT_INTEGERS = 2.0**53
_NULL = np.array(None, dtype=object)
# Up to this many rows, a Python pass over the cells costs less than the block's numpy calls,
# whose fixed cost is most of a small request's validation (benchmarks/bench_small_batches.py;
# its figures in docs/PERFORMANCE.md: the two are even at about 300 rows).
FEW_ROWS = 128


def gather(rows: Sequence[Any], names: Sequence[str]) -> dict[str, list[Any]] | None:
    """Each feature's values from row objects (None for null or absent), or None when a row
    is not an object or holds a key that is not a feature."""
    if {*map(type, rows)} != {dict}:
        return None
    if sum(map(len, rows)) == len(names) * len(rows):
        try:
            # Every row holds every feature (and so nothing else): the common batch.
            return {name: [row[name] for row in rows] for name in names}
        except KeyError:
            pass  # a row has an unknown key in place of a feature
    if not set(names).issuperset(set().union(*rows)):
        return None
    return {name: [row.get(name) for row in rows] for name in names}


def columnar(
    raw: Mapping[str, Sequence[Any]], count: int, schema: ModelSchema, *, few_rows: int = FEW_ROWS
) -> Columns | None:
    """The model's columns from `count` rows' values per feature (a feature not in `raw` is
    missing from every row), or None when any column needs the exact path. Up to `few_rows`
    rows of plain values (numbers, strings, null) are checked cell by cell in one pass."""
    absent_column = [None] * count
    if count <= few_rows and (plain := plain_cells(raw, absent_column, schema)) is not None:
        return plain
    numeric = [spec for spec in schema.features if spec.kind is FeatureKind.NUMERIC]
    # The numeric features as one block: each check is one numpy call per request, not per
    # column (what a small request's cost is made of).
    block = _numbers([raw.get(spec.name, absent_column) for spec in numeric])
    if block is None:
        return None
    numbers, numbers_absent = block
    found = {spec.name: (numbers[i], numbers_absent[i]) for i, spec in enumerate(numeric)}
    columns: dict[str, np.ndarray] = {}
    missing: list[tuple[int, np.ndarray]] = []
    for j, spec in enumerate(schema.features):
        column = found.get(spec.name) or _categories(raw.get(spec.name, absent_column))
        if column is None:
            return None
        columns[spec.name], absent = column
        if absent is not None and absent.any():
            if spec.required:
                return None
            missing.append((j, absent))
    return columns, _imputed(missing, schema.feature_names, count)


def plain_cells(
    raw: Mapping[str, Sequence[Any]], absent_column: list[None], schema: ModelSchema
) -> Columns | None:
    """`columnar`'s answer for a few rows whose every value is plain: a number that float32
    holds and float64 holds exactly, or a string, or null where the feature is optional.
    None for anything else, which the block's checks then decide."""
    columns: dict[str, np.ndarray] = {}
    imputed: dict[int, list[str]] = {}
    for spec in schema.features:
        values = raw.get(spec.name, absent_column)
        if spec.kind is FeatureKind.NUMERIC:
            for value in values:
                kind = type(value)
                if kind is float:
                    if not -FLOAT32_MAX <= value <= FLOAT32_MAX:  # NaN fails too
                        return None
                elif kind is int:
                    if not -EXACT_INTEGERS < value < EXACT_INTEGERS:
                        return None
                elif value is not None:
                    return None
            # None becomes NaN; an integer float64 holds exactly rounds to float32 as it does
            # through float64 (the block's conversion): one rounding either way.
            columns[spec.name] = np.array(values, dtype=np.float32)
        else:
            for value in values:
                if type(value) is not str and value is not None:
                    return None
            columns[spec.name] = np.array(
                [MISSING_CATEGORY if value is None else value for value in values], dtype=object
            )
        if None in values:
            if spec.required:
                return None
            for row, value in enumerate(values):
                if value is None:
                    imputed.setdefault(row, []).append(spec.name)
    return columns, dict(sorted(imputed.items()))


def _numbers(values: list[Sequence[Any]]) -> tuple[np.ndarray, Any] | None:
    """The numeric features' values (one sequence each) as a float32 [features, rows] block
    and where each is missing (None: nowhere), or None if any value needs the exact path."""
    if not values:
        return np.empty((0, 0), dtype=np.float32), []
    kinds = {*map(type, chain.from_iterable(values))}
    if not kinds <= NUMBER_TYPES:
        return None
    try:
        wide = np.array(values, dtype=np.float64).reshape(len(values), -1)  # None becomes NaN
    except OverflowError:  # an integer beyond float64
        return None
    magnitude = np.abs(wide)
    in_range = magnitude <= FLOAT32_MAX  # False for NaN and infinities
    absent: Any = [None] * len(values)
    if NoneType in kinds:
        absent = ~in_range
        # Every null is out of range; anything else out of range is a problem to name.
        if np.count_nonzero(absent, axis=1).tolist() != [v.count(None) for v in values]:
            return None
    elif not in_range.all():
        return None
    if int in kinds and (magnitude >= EXACT_INTEGERS).any() and _inexact_integer(values):
        return None
    return wide.astype(np.float32), absent


def _inexact_integer(values: list[Sequence[Any]]) -> bool:
    # Only where a column holds a large magnitude: a float may be the large one.
    return any(type(v) is int and abs(v) >= EXACT_INTEGERS for v in chain.from_iterable(values))


def _categories(values: Sequence[Any]) -> tuple[np.ndarray, Any] | None:
    kinds = {*map(type, values)}
    if not kinds <= CATEGORY_TYPES:
        return None
    if kinds == {str}:
        return np.array(values, dtype=object), None
    if kinds == {str, NoneType}:
        tokens = np.array(values, dtype=object)
        absent = np.equal(tokens, _NULL)
        tokens[absent] = MISSING_CATEGORY
        return tokens, absent
    absent = np.array([v is None for v in values]) if NoneType in kinds else None
    return np.array([categorical_token(v) for v in values], dtype=object), absent


def _imputed(missing: list[tuple[int, np.ndarray]], names: Sequence[str], count: int) -> dict:
    if not missing:
        return {}
    matrix = np.zeros((count, len(names)), dtype=bool)
    for j, absent in missing:
        matrix[:, j] = absent
    rows = np.flatnonzero(matrix.any(axis=1))
    return {
        row: list(compress(names, flags))
        for row, flags in zip(rows.tolist(), matrix[rows].tolist(), strict=True)
    }


def exact_columns(rows: Sequence[Mapping[str, Any]], schema: ModelSchema) -> dict[str, np.ndarray]:
    """The model's columns from rows the exact path checked (missing: None or absent)."""
    feeds = schema.to_onnx_feeds(
        {name: [row.get(name) for row in rows] for name in schema.feature_names}
    )
    return {name: feed.reshape(-1) for name, feed in feeds.items()}
