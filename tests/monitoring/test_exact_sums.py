"""Exact sums (modelops.monitoring.exact): every path gives the exact rational sum of the
values, per bin, however the values are ordered and split into batches; the values' bits
are read right at the edges of float64 (subnormals, signed zeros, the largest finite)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from modelops.monitoring.exact import OFFSET, ExactBinSums, exact_sum, split, value

EDGES = [
    5e-324,  # the smallest subnormal
    -5e-324,
    2.2250738585072009e-308,  # the largest subnormal
    2.2250738585072014e-308,  # the smallest normal
    -0.0,
    0.0,
    1.7976931348623157e308,  # the largest finite
    -1.7976931348623157e308,
    1.0,
    -3.0,
    0.1,
    2.0**53 + 2,
]


def _exact(values: np.ndarray, bins: np.ndarray, size: int) -> list[int]:
    totals = [Fraction(0)] * size
    for v, b in zip(values.tolist(), bins.tolist(), strict=True):
        totals[b] += Fraction(v)
    units = [t * (1 << OFFSET) for t in totals]
    assert all(u.denominator == 1 for u in units)  # every double is whole in these units
    return [int(u) for u in units]


def test_split_reads_each_value_exactly() -> None:
    values = np.array(EDGES)
    mantissa, shift = split(values)
    assert (shift >= 0).all()
    assert (np.abs(mantissa) < 2**53).all()
    for v, m, s in zip(EDGES, mantissa.tolist(), shift.tolist(), strict=True):
        assert Fraction(m) * Fraction(2) ** (s - OFFSET) == Fraction(v)


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
@pytest.mark.parametrize("size", [1, 3, 4001])
def test_bin_sums_are_exact_whatever_the_order_and_batches(order: str, size: int) -> None:
    rng = np.random.default_rng(7 + size)
    values = np.concatenate(
        [rng.normal(0, 50, 3000), rng.lognormal(0, 30, 1000), rng.choice(EDGES, 500)]
    )
    bins = rng.integers(0, size, values.size)
    if order == "sorted":  # as the fine bins get them: by bin, then by value
        keep = np.lexsort((values, bins))
        values, bins = values[keep], bins[keep]
    expected = _exact(values, bins, size)
    whole = ExactBinSums(size)
    whole.add(values, bins)
    assert whole.totals() == expected
    split_up = ExactBinSums(size)
    for piece in np.array_split(np.arange(values.size), 7):  # exponents widen batch by batch
        split_up.add(values[piece], bins[piece])
    assert split_up.totals() == expected
    merged = ExactBinSums(size)
    merged.add(values[:100], bins[:100])
    other = ExactBinSums(size)
    other.add(values[100:], bins[100:])
    merged.merge(other)
    assert merged.totals() == expected


def test_one_run_of_many_equal_values_stays_exact() -> None:
    """A run of a million values in one cell: its integer sum is far past 2^53."""
    values = np.full(1_000_000, np.nextafter(2.0, 3.0))
    sums = ExactBinSums(2)
    sums.add(values, np.ones(values.size, dtype=np.int64))
    assert sums.totals() == [0, int(Fraction(float(values[0])) * 1_000_000 * (1 << OFFSET))]
    assert value(sums.totals()[1]) == 1_000_000 * float(values[0])


def test_exact_sum_of_the_edges() -> None:
    values = np.array(EDGES * 3)
    assert exact_sum(values) == _exact(values, np.zeros(values.size, dtype=np.int64), 1)[0]
    assert exact_sum(values[:0]) == 0
