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

import hashlib
import heapq
import marshal
import math
import operator
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np

from modelops.baseline import (
    FLOAT64,
    as_representation,
    bin_counts,
    numeric_representation,
    sorted_bin_counts,
)
from modelops.monitoring.exact import ExactBinSums
from modelops.monitoring.exact import value as exact_value
from modelops.schema import MISSING_CATEGORY, categorical_token

DEFAULT_SAMPLE_SIZE = 1000
DEFAULT_MAX_CATEGORIES = 1000
OVERFLOW_CATEGORY = "__overflow__"


class _MomentBins(dict[int, np.ndarray]):
    """Bin indexes of a batch's moments, cached per batch size (the batches repeat sizes):
    [0] * n + [1] * n (values, then squares), or [1] * n (squares alone)."""

    def __init__(self, bins: tuple[int, ...]) -> None:
        super().__init__()
        self.bins = np.array(bins, dtype=np.int64)

    def __missing__(self, n: int) -> np.ndarray:
        bins = np.repeat(self.bins, n)
        if len(self) < 64:
            self[n] = bins
        return bins


_TWO_SUMS = _MomentBins((0, 1))
_SQUARES = _MomentBins((1,))


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
        # Exact, so one pass, workers and state machine shards report the same mean and std.
        # Bin 0: the values (kept by the fine bins when there are fine bins), 1: their squares.
        self.sums = ExactBinSums(2)
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
        if self.fine is not None:
            # Sorted once, every count is a search of the edges in the batch, and the fine
            # bins' exact sums are the values' sum: only the squares are summed apart.
            present = np.sort(present)
            self.counts += sorted_bin_counts(self.edges, present)
            self.fine.add_sorted(present)
            with np.errstate(over="ignore"):  # a square past the largest double: inf
                squares = present * present
            self.sums.add(squares, _SQUARES[present.size])
            self.minimum = min(self.minimum, float(present[0]))
            self.maximum = max(self.maximum, float(present[-1]))
            return
        self.counts += bin_counts(self.edges, present)
        self.sums.add(np.concatenate([present, present * present]), _TWO_SUMS[present.size])
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
        self.sums.merge(other.sums)
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

    def sample_with_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """The bounded sample and its keys (a partial state on S3 keeps both)."""
        return self._sample, self._sample_keys

    def offer_sample(self, values: np.ndarray, keys: np.ndarray) -> None:
        """Merge a sample with its keys (read back from a partial state)."""
        self._keep(
            np.concatenate([self._sample, values]), np.concatenate([self._sample_keys, keys])
        )

    def moment_totals(self) -> list[int]:
        """Exact [sum of the values, sum of their squares], in units of exact.OFFSET."""
        values, squares = self.sums.totals()
        if self.fine is not None:
            values += sum(self.fine.exact_sums.totals())
        return [values, squares]

    def carry_moments(self, totals: list[int]) -> None:
        """Add exact moment totals read back from a partial state (whose fine sums, when
        there are fine bins, already carry the values)."""
        values, squares = totals
        self.sums.carry([0 if self.fine is not None else values, squares])

    @property
    def total(self) -> float:
        return exact_value(self.moment_totals()[0])

    @property
    def total_squares(self) -> float:
        return exact_value(self.moment_totals()[1])

    def mean(self) -> float | None:
        return self.total / self.present if self.present else None

    def std(self) -> float | None:
        if not self.present:
            return None
        total, squares = (exact_value(t) for t in self.moment_totals())
        mean = total / self.present
        return math.sqrt(max(squares / self.present - mean * mean, 0.0))


class FineBins:
    """Counts and sums of values per fine baseline bin: the whole window's CDF at every fine
    edge (KS) and its integral over every bin (Wasserstein), in O(fine bins) memory.
    Counts merge exactly; sums add (float rounding only)."""

    def __init__(self, edges: Sequence[float]) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.counts = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.exact_sums = ExactBinSums(self.edges.size + 1)
        self._bin_numbers = np.arange(self.edges.size + 1, dtype=np.int64)

    def add_sorted(self, ordered: np.ndarray) -> None:
        """Add present values sorted ascending: each bin's values are one run of them."""
        counts = sorted_bin_counts(self.edges, ordered)
        self.counts += counts
        self.exact_sums.add(ordered, np.repeat(self._bin_numbers, counts))

    def merge(self, other: FineBins) -> None:
        self.counts += other.counts
        self.exact_sums.merge(other.exact_sums)

    @property
    def sums(self) -> np.ndarray:
        """Each bin's sum, exact until read (then rounded once): independent of how the
        values were split between workers or shards."""
        return self.exact_sums.values()


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


def _identity_key(identity: str) -> float:
    """A uniform key in [0, 1) from an id: 53 bits of its BLAKE2b hash."""
    return _identity_keys([identity])[0]


def _identity_keys(identities: Sequence[str]) -> list[float]:
    """`_identity_key` of each id; the digests' bits converted in one numpy pass (exact: a
    53-bit integer over 2^53)."""
    blake2b = hashlib.blake2b
    digests = b"".join(
        [blake2b(i.encode("utf-8", "surrogatepass"), digest_size=8).digest() for i in identities]
    )
    keys = (np.frombuffer(digests, dtype=">u8") >> 11).astype(np.float64) / float(1 << 53)
    return cast(list[float], keys.tolist())


def _pack(output: Any) -> Any:
    """An output object as compact bytes (marshal: exact for every JSON value, NaN included,
    and about a fifth of the dict's memory); an object marshal cannot hold stays as it is.
    JSON never gives bytes, so bytes here are always a packed output."""
    try:
        return marshal.dumps(output)
    except ValueError:
        return output


def _unpack(item: Any) -> Any:
    return marshal.loads(item) if item.__class__ is bytes else item


_TRUTH = operator.itemgetter(2)
_OUTPUT = operator.itemgetter(3)


class LabeledRows:
    """True labels with the model's outputs for rows whose feedback joined (bounded sample).

    `seen` counts every labeled row; at most `capacity` are kept: those with the smallest
    random keys (a uniform sample, and two samples merge exactly, as for numeric values).
    Outputs are kept packed (`_pack`): a window's 100k labeled rows as dicts held 50 MB.
    """

    def __init__(self, *, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self.seen = 0
        # Max-heap by key (negated) of (key, order, truth, packed output): the largest key
        # leaves first.
        self._heap: list[tuple[float, int, Any, Any]] = []
        self._random = random.Random(seed)
        self._sorted: list[tuple[float, int, Any, Any]] | None = None
        self._outputs: list[Any] | None = None

    def add(self, truth: Any, output: dict[str, Any], identity: str | None = None) -> None:
        """`identity` (the row's inference id) gives the row its key: the same rows are kept,
        in the same order, however the window was split between workers or shards."""
        self.seen += 1
        key = _identity_key(identity) if identity is not None else self._random.random()
        self._offer(-key, truth, _pack(output))

    def add_many(
        self, truths: Sequence[Any], outputs: Sequence[Any], identities: Sequence[str]
    ) -> None:
        """`add` of each (truth, output, identity), the keys computed together."""
        for key, truth, output in zip(_identity_keys(identities), truths, outputs, strict=True):
            self.seen += 1
            self._offer(-key, truth, _pack(output))

    def _offer(self, negated_key: float, truth: Any, packed: Any) -> None:
        item = (negated_key, self.seen, truth, packed)
        self._sorted = None
        self._outputs = None
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, item)
        elif negated_key > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def merge(self, other: LabeledRows) -> None:
        seen = self.seen + other.seen
        for negated_key, _, truth, packed in other._heap:
            self.seen += 1  # a tie-breaker only; `seen` is set right after
            self._offer(negated_key, truth, packed)
        self.seen = seen

    def entries(self) -> list[list[Any]]:
        """[negated key, truth, output] of every kept row (a partial state on S3 keeps them)."""
        return [[key, truth, _unpack(packed)] for key, _, truth, packed in self._heap]

    def add_entries(self, seen: int, entries: list[list[Any]]) -> None:
        """Merge rows read back from a partial state that had seen `seen` labeled rows."""
        total = self.seen + seen
        for negated_key, truth, output in entries:
            self.seen += 1  # a tie-breaker only, as in merge
            self._offer(float(negated_key), truth, _pack(output))
        self.seen = total

    def _ordered(self) -> list[tuple[float, int, Any, Any]]:
        # By key, not heap order: float metrics add in one order whatever the merge order.
        # Sorted once per report (truth and outputs are read several times).
        if self._sorted is None:
            self._sorted = sorted(self._heap, key=operator.itemgetter(0))
        return self._sorted

    @property
    def truth(self) -> list[Any]:
        return list(map(_TRUTH, self._ordered()))

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The kept rows' output objects, in key order (unpacked once per report)."""
        if self._outputs is None:
            self._outputs = list(map(_unpack, map(_OUTPUT, self._ordered())))
        return list(self._outputs)

    def __len__(self) -> int:
        return len(self._heap)
