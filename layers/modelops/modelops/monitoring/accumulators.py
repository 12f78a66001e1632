"""Per-window state that does not grow with the number of records.

A window is fed in batches (one batch per few thousand capture lines); each accumulator keeps
only what the drift statistics need:

- numeric: counts per baseline bin, the missing count, running moments, and counts and
  sums per fine baseline bin (`FineBins`: what the full-window KS and Wasserstein need);
  for a format 1 baseline, which has no fine bins, a uniform bounded sample instead
  (bottom-k of random keys: each batch merges into the sample in one numpy step, so the
  sample is the same as if records came one by one);
- categorical: counts per category, with at most `max_categories` distinct categories
  tracked and the rest lumped into one overflow count;
- labeled rows: true label and prediction of rows whose feedback joined, as a bounded
  uniform sample (reservoir) for the performance metrics.

Memory is O(bins + max_categories + sample sizes) per feature, whatever the window's size.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from modelops.baseline import (
    FLOAT64,
    as_representation,
    bin_counts,
    bin_index,
    numeric_representation,
)
from modelops.schema import MISSING_CATEGORY, categorical_token

DEFAULT_SAMPLE_SIZE = 1000
DEFAULT_MAX_CATEGORIES = 1000
OVERFLOW_CATEGORY = "__overflow__"


class NumericAccumulator:
    """Bin counts on fixed edges, missing count, moments and a bounded uniform sample."""

    def __init__(
        self,
        edges: Sequence[float],
        *,
        fine_edges: Sequence[float] | None = None,
        representation: str = FLOAT64,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        seed: int = 0,
    ) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.representation = representation
        # With fine bins the statistics see every value; the sample is only the fallback.
        self.fine = FineBins(fine_edges) if fine_edges is not None else None
        if self.fine is not None:
            sample_size = 0
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.rows = 0
        self.missing = 0
        self.total = 0.0
        self.total_squares = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.sample_size = sample_size
        self._rng = np.random.default_rng(seed)
        self._sample = np.empty(0, dtype=np.float64)
        self._sample_keys = np.empty(0, dtype=np.float64)

    @classmethod
    def for_baseline(
        cls, entry: Mapping[str, Any], *, sample_size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0
    ) -> NumericAccumulator:
        """Counts on a baseline entry's bins, in its representation (float32-rounded for a
        format 1 baseline); fine bins when it has them, else the bounded sample."""
        return cls(
            entry.get("bin_edges") or [],
            fine_edges=entry.get("fine_edges"),
            representation=numeric_representation(entry),
            sample_size=sample_size,
            seed=seed,
        )

    def add(self, values: np.ndarray) -> None:
        """Add a batch of float64 values (NaN = missing)."""
        values = as_representation(np.asarray(values, dtype=np.float64), self.representation)
        self.rows += int(values.size)
        present = values[~np.isnan(values)]
        self.missing += int(values.size - present.size)
        if present.size == 0:
            return
        self.counts += bin_counts(self.edges, present)
        if self.fine is not None:
            self.fine.add(present)
        self.total += float(present.sum())
        self.total_squares += float(np.dot(present, present))
        self.minimum = min(self.minimum, float(present.min()))
        self.maximum = max(self.maximum, float(present.max()))
        if not self.sample_size:
            return
        # Bottom-k sampling: keep the values with the k smallest random keys.
        keys = self._rng.random(present.size)
        self._keep(
            np.concatenate([self._sample, present]), np.concatenate([self._sample_keys, keys])
        )

    def merge(self, other: NumericAccumulator) -> None:
        """Add another accumulator's state (same edges): the result is what one accumulator
        fed both streams would hold; bottom-k samples merge exactly."""
        self.counts += other.counts
        self.rows += other.rows
        self.missing += other.missing
        self.total += other.total
        self.total_squares += other.total_squares
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if self.fine is not None and other.fine is not None:
            self.fine.merge(other.fine)
        self._keep(
            np.concatenate([self._sample, other._sample]),
            np.concatenate([self._sample_keys, other._sample_keys]),
        )

    def _keep(self, values: np.ndarray, keys: np.ndarray) -> None:
        if self.sample_size == 0:
            values, keys = values[:0], keys[:0]
        elif keys.size > self.sample_size:
            keep = np.argpartition(keys, self.sample_size - 1)[: self.sample_size]
            values, keys = values[keep], keys[keep]
        self._sample, self._sample_keys = values, keys

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def sample(self) -> np.ndarray:
        return np.sort(self._sample)

    def mean(self) -> float | None:
        return self.total / self.present if self.present else None

    def std(self) -> float | None:
        if not self.present:
            return None
        mean = self.total / self.present
        return math.sqrt(max(self.total_squares / self.present - mean * mean, 0.0))


class FineBins:
    """Counts and sums of values per fine baseline bin: the whole window's CDF at every fine
    edge (KS) and its integral over every bin (Wasserstein), in O(fine bins) memory.
    Counts merge exactly; sums add (float rounding only)."""

    def __init__(self, edges: Sequence[float]) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.counts = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.sums = np.zeros(self.edges.size + 1, dtype=np.float64)

    def add(self, present: np.ndarray) -> None:
        index = bin_index(self.edges, present)
        size = self.edges.size + 1
        self.counts += np.bincount(index, minlength=size)
        self.sums += np.bincount(index, weights=present, minlength=size)

    def merge(self, other: FineBins) -> None:
        self.counts += other.counts
        self.sums += other.sums


class CategoricalAccumulator:
    """Counts per category (missing counted apart), bounded in distinct categories."""

    def __init__(self, *, max_categories: int = DEFAULT_MAX_CATEGORIES) -> None:
        self.counts: Counter[str] = Counter()
        self.overflow = 0
        self.rows = 0
        self.missing = 0
        self.max_categories = max_categories

    def add(self, values: Iterable[Any]) -> None:
        """Add a batch of raw values (None / NaN = missing; others compared as strings)."""
        self.add_counts(Counter(values))

    def merge(self, other: CategoricalAccumulator) -> None:
        self.add_counts(other.counts)
        self.missing += other.missing
        self.rows += other.missing
        self.overflow += other.overflow
        self.rows += other.overflow

    def add_counts(self, raw: Mapping[Any, int]) -> None:
        """Add counts of raw values (counted first: one str() per distinct value, not per row)."""
        for value, count in raw.items():
            token = categorical_token(value)
            self.rows += count
            if token == MISSING_CATEGORY:
                self.missing += count
            elif token in self.counts or len(self.counts) < self.max_categories:
                self.counts[token] += count
            else:
                self.overflow += count

    @property
    def present(self) -> int:
        return self.rows - self.missing


class LabeledRows:
    """True labels with the model's outputs for rows whose feedback joined (bounded sample).

    `seen` counts every labeled row; at most `capacity` are kept: those with the smallest
    random keys (a uniform sample, and two samples merge exactly, as for numeric values).
    """

    def __init__(self, *, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self.seen = 0
        # Max-heap by key (negated) of (key, order, truth, output): the largest key leaves first.
        self._heap: list[tuple[float, int, Any, dict[str, Any]]] = []
        self._random = random.Random(seed)

    def add(self, truth: Any, output: dict[str, Any]) -> None:
        self.seen += 1
        self._offer(-self._random.random(), truth, output)

    def _offer(self, negated_key: float, truth: Any, output: dict[str, Any]) -> None:
        item = (negated_key, self.seen, truth, output)
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, item)
        elif negated_key > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def merge(self, other: LabeledRows) -> None:
        seen = self.seen + other.seen
        for negated_key, _, truth, output in other._heap:
            self.seen += 1  # a tie-breaker only; `seen` is set right after
            self._offer(negated_key, truth, output)
        self.seen = seen

    @property
    def truth(self) -> list[Any]:
        return [item[2] for item in self._heap]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return [item[3] for item in self._heap]

    def __len__(self) -> int:
        return len(self._heap)
