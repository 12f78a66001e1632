"""Exact sums of float64 values, independent of order and of how the values are split.

A float sum depends on the order of its additions, so a window scanned in one pass, by
worker processes or in state machine shards would report means and Wasserstein distances
that differ in their last bits. Here every value is split exactly into an integer mantissa
and a power of two (x = m · 2^(e - 53), read from its bits), the mantissas are added per exponent as integers
(numpy, exact below 2^53) and the result is kept as one Python integer in units of
2^-OFFSET: integer addition is associative, so any split and order of the values gives the
same sum, and reading it as a float (`value`) rounds once, correctly.
"""

from __future__ import annotations

import math

import numpy as np

# Units of 2^-OFFSET: every finite double's lowest bit (down to 2^-1074) is a whole unit.
OFFSET = 1074 + 53
_HALF = 26  # mantissas split into two halves, so that group sums stay exact in float64


def split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each finite float64 as (m, s) with value = m · 2^(s - OFFSET) exactly, m an integer
    below 2^53 in magnitude and s >= 0: its bits read as integers (the IEEE 754 fields),
    several times cheaper than `frexp` and `ldexp`. An infinity (the square of a value
    near the largest double) reads as ±2^1024, the first power of two past it, so a sum
    holding one reads back as ±inf (`value`)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    biased = (bits >> 52) & 0x7FF
    mantissa = bits & ((1 << 52) - 1)
    mantissa |= (biased != 0).astype(np.int64) << 52  # the implicit leading bit (not subnormals)
    np.negative(mantissa, out=mantissa, where=bits < 0)
    # A normal value is (2^52 + fraction) · 2^(biased - 1075); a subnormal fraction · 2^-1074.
    shift = np.maximum(biased, 1) + (OFFSET - 1075)
    return mantissa, shift


def exact_sum(values: np.ndarray) -> int:
    """Σ values (finite float64) in units of 2^-OFFSET, exactly."""
    if values.size == 0:
        return 0
    mantissa, shift = split(values)
    low = shift.min()
    index = shift - low
    high = mantissa >> _HALF  # floor: mantissa = high · 2^26 + low_bits for either sign
    bits = mantissa & ((1 << _HALF) - 1)
    # Group sums below 2^53 in magnitude (< 2^27 per value, < 2^26 values): exact as floats.
    highs = np.bincount(index, weights=high.astype(np.float64))
    lows = np.bincount(index, weights=bits.astype(np.float64))
    total = 0
    for i in np.flatnonzero((highs != 0) | (lows != 0)).tolist():
        total += (int(highs[i]) << (_HALF + i)) + (int(lows[i]) << i)
    return total << int(low)


def exact_sums_by_bin(values: np.ndarray, bins: np.ndarray, size: int) -> list[int]:
    """Σ values per bin index (0 <= bins < size), each exact in units of 2^-OFFSET."""
    totals = [0] * size
    if values.size == 0:
        return totals
    order = np.argsort(bins, kind="stable")
    sorted_bins = bins[order]
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    ends = np.r_[starts[1:], sorted_bins.size]
    ordered = values[order]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        totals[int(sorted_bins[start])] += exact_sum(ordered[start:end])
    return totals


def value(total: int) -> float:
    """The exact sum as the nearest float (int / int rounds correctly); ±inf past the
    largest double (a sum of squares of values near it)."""
    try:
        return total / (1 << OFFSET)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


class ExactBinSums:
    """Exact sums of values per bin (a window's fine-bin sums, or one bin: a plain total).

    Each batch's mantissas are added per (bin, exponent) into int64 arrays over the
    exponents seen so far (exact up to 2^36 values per cell: the halves of a mantissa are
    below 2^27), run by run for a sorted batch or in float64 bincounts otherwise (exact: a
    batch is below 2^26 values); sums read back from a partial state, or merged from
    another worker, are carried as Python integers.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._low: int | None = None  # the shift of column 0
        self._high = np.zeros((size, 0), dtype=np.int64)
        self._bits = np.zeros((size, 0), dtype=np.int64)
        self._carried = [0] * size
        self._totals: list[int] | None = None  # read once per report, several times

    def add(self, values: np.ndarray, bins: np.ndarray | None = None) -> None:
        if values.size == 0:
            return
        self._totals = None
        mantissa, shift = split(values)
        self._widen(int(shift.min()), int(shift.max()))
        assert self._low is not None
        width = self._high.shape[1]
        column = shift - self._low
        flat = column if bins is None else bins.astype(np.int64) * width + column
        high, low = mantissa >> _HALF, mantissa & ((1 << _HALF) - 1)
        starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
        if starts.size * 8 > flat.size and self.size * width <= flat.size:
            # Values in no useful order, few cells: one bincount per half over the cells.
            cells = self.size * width
            for target, part in ((self._high, high), (self._bits, low)):
                counts = np.bincount(flat, weights=part.astype(np.float64), minlength=cells)
                target += counts.astype(np.int64).reshape(self.size, width)
            return
        # A sorted batch (fine bins, squares of sorted values) comes in few runs of one cell:
        # each run is added in integers, then the runs into their cells (a cell can have
        # several runs). The cost is in values and runs, not in cells (fine bins × exponents).
        cell = np.divmod(flat[starts], width)
        np.add.at(self._high, cell, np.add.reduceat(high, starts))
        np.add.at(self._bits, cell, np.add.reduceat(low, starts))

    def _widen(self, low: int, high: int) -> None:
        if self._low is None:
            self._low = low
            self._high = np.zeros((self.size, high - low + 1), dtype=np.int64)
            self._bits = np.zeros_like(self._high)
            return
        current_high = self._low + self._high.shape[1] - 1
        if low >= self._low and high <= current_high:
            return
        new_low, new_high = min(low, self._low), max(high, current_high)
        before, after = self._low - new_low, new_high - current_high
        self._high = np.pad(self._high, ((0, 0), (before, after)))
        self._bits = np.pad(self._bits, ((0, 0), (before, after)))
        self._low = new_low

    def totals(self) -> list[int]:
        """Each bin's exact sum, in units of 2^-OFFSET."""
        if self._totals is not None:
            return list(self._totals)
        totals = list(self._carried)
        if self._low is not None:
            rows, cols = np.nonzero((self._high != 0) | (self._bits != 0))
            for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
                shift = self._low + col
                totals[row] += (int(self._high[row, col]) << (_HALF + shift)) + (
                    int(self._bits[row, col]) << shift
                )
        self._totals = totals
        return list(totals)

    def merge(self, other: ExactBinSums) -> None:
        self.carry(other.totals())

    def carry(self, totals: list[int]) -> None:
        """Add exact sums (another worker's, or a partial state's)."""
        self._carried = [a + b for a, b in zip(self._carried, totals, strict=True)]
        self._totals = None

    def values(self) -> np.ndarray:
        """The sums as floats, each correctly rounded."""
        return np.array([value(t) for t in self.totals()], dtype=np.float64)


def encode_exact(total: int) -> list[int]:
    """A compact exact form for JSON: [m, k] with total = m · 2^k (m odd, or 0)."""
    if total == 0:
        return [0, 0]
    k = (total & -total).bit_length() - 1
    return [total >> k, k]


def decode_exact(pair: list[int]) -> int:
    return int(pair[0]) << int(pair[1])
