"""Drift statistics in numpy only.

The monitor runs in Lambda next to onnxruntime and numpy; scipy would take the bundle past
the 200 MB limit, so the few statistics it needs are implemented here and tested against
scipy (tests/monitoring/test_statistics.py: equal within 1e-6):

- `psi`: population stability index on shares, with an epsilon floor for empty bins;
- `ks_2samp`: two-sample Kolmogorov-Smirnov statistic and its *exact* two-sided p-value
  (what scipy's `ks_2samp` computes in its default mode when both samples have at most
  10 000 values);
- `ks_binned`, `ks_pvalue`: the KS statistic of two whole data sets given only their counts
  on shared fine bins (with its error bound), and the p-value from the full sizes n and m
  (exact up to 10 000 values a side, Smirnov's limit with Stephens' correction above);
- `wasserstein_distance`: first Wasserstein distance between two empirical samples, and
  `wasserstein_binned` from per-bin counts and sums (with its error bound);
- `jensenshannon_distance`: as `scipy.spatial.distance.jensenshannon`;
- `chi2_contingency`: chi-square test of homogeneity on a 2 x k table (with Yates'
  correction when dof == 1, as scipy does by default) and `chi2_sf`.

Every function returns finite floats for degenerate input (empty or constant samples,
single category) instead of NaN, because a report must be strict JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Shares below this are raised to it before the log in PSI: an empty bin on one side would
# otherwise make PSI infinite. 1e-4 keeps one empty bin's contribution around 0.1-1 for
# shares of 1-10 %, i.e. "large" but finite, and is the floor common in PSI tooling.
PSI_EPSILON = 1e-4
# scipy switches from the exact KS distribution to an asymptotic one above this size.
KS_EXACT_MAX_N = 10_000


def psi(expected: np.ndarray, actual: np.ndarray, *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index sum((a - e) * ln(a / e)) over shares floored at `epsilon`.

    Both inputs are counts or shares over the same bins; each is normalised to sum 1.
    Returns 0.0 when either side is empty (no evidence of a shift).
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"psi needs bins of equal shape, got {e.shape} and {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), epsilon)
    a = np.maximum(a / a.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class TestResult:
    statistic: float
    pvalue: float


def ks_2samp(reference: np.ndarray, current: np.ndarray) -> TestResult:
    """Two-sided two-sample KS test; equals scipy.stats.ks_2samp(method="exact")."""
    x = np.sort(np.asarray(reference, dtype=np.float64))
    y = np.sort(np.asarray(current, dtype=np.float64))
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return TestResult(0.0, 1.0)
    if max(n1, n2) > KS_EXACT_MAX_N:
        raise ValueError(
            f"ks_2samp is exact only up to {KS_EXACT_MAX_N} values per sample, got {n1} and {n2}"
        )
    both = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, both, side="right") / n1
    cdf_y = np.searchsorted(y, both, side="right") / n2
    d = float(np.max(np.abs(cdf_x - cdf_y)))
    return TestResult(d, _ks_exact_pvalue(n1, n2, d))


@dataclass(frozen=True)
class BoundedValue:
    """A statistic computed from binned data and how far the exact value can be from it:
    exact in [value, value + error] (both statistics here are read as lower bounds)."""

    value: float
    error: float


def ks_binned(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    edges: np.ndarray | None = None,
    sums: tuple[np.ndarray, np.ndarray] | None = None,
) -> BoundedValue:
    """KS distance of two data sets from their counts on the same bins (edges shared).

    Read at the edges, both empirical CDFs are exact, so the largest gap there is a lower
    bound of the KS statistic; inside a bin each CDF rises by that bin's share at most,
    which bounds the gap anywhere in it. `error` is that bound minus the value: at most
    the largest share one bin holds on either side (about 1/bins for the reference). With
    the bins' `edges` and value `sums`, a bin whose values all sit on its right edge (a
    repeated price, an integer) is known not to rise inside, which tightens the bound.
    """
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if r.sum() <= 0 or c.sum() <= 0:
        return BoundedValue(0.0, 0.0)
    cdf_r = np.concatenate([[0.0], np.cumsum(r) / r.sum()])
    cdf_c = np.concatenate([[0.0], np.cumsum(c) / c.sum()])
    at_edges = float(np.max(np.abs(cdf_r - cdf_c)))
    # Just below each bin's right end: the CDF at the right edge, or at the left edge when
    # the bin's values all equal the right edge.
    below_r, below_c = cdf_r[1:].copy(), cdf_c[1:].copy()
    if edges is not None and sums is not None and len(edges):
        right = np.asarray(edges, dtype=np.float64)
        for counts, total, below, cdf in (
            (r, sums[0], below_r, cdf_r),
            (c, sums[1], below_c, cdf_c),
        ):
            # Sums carry rounding (1e-16 per addition), hence the relative 1e-9: a bin
            # whose values are all within 1e-9 of its right edge counts as on the edge.
            on_edge = np.isclose(
                np.asarray(total, dtype=np.float64)[:-1], counts[:-1] * right, rtol=1e-9, atol=0
            )
            below[:-1] = np.where(on_edge, cdf[:-2], below[:-1])
    inside = float(max(np.max(below_r - cdf_c[:-1]), np.max(below_c - cdf_r[:-1]), at_edges))
    return BoundedValue(at_edges, inside - at_edges)


def ks_pvalue(statistic: float, n1: int, n2: int) -> float:
    """Two-sided KS p-value for samples of sizes n1 and n2 (scipy's choice of method).

    Exact (lattice paths) when both have at most KS_EXACT_MAX_N values, as scipy; above,
    scipy uses the one-sample distribution of size n1 n2 / (n1 + n2); here Kolmogorov's
    limit with Stephens' finite-size correction, within 1e-3 of scipy's (measured in
    tests/monitoring/test_full_window_statistics.py) and accurate to a few % relative for
    the tiny p-values of gross shifts (1e-149, where a 1000-value sample floors at 1e-12).
    """
    if n1 == 0 or n2 == 0 or statistic <= 0.0:
        return 1.0
    if max(n1, n2) <= KS_EXACT_MAX_N:
        # The distribution is symmetric in n1, n2; the lattice walk is cheaper over the smaller.
        return _ks_exact_pvalue(max(n1, n2), min(n1, n2), statistic)
    en = math.sqrt(n1 * n2 / (n1 + n2))
    return _kolmogorov_sf((en + 0.12 + 0.11 / en) * statistic)


def _kolmogorov_sf(x: float) -> float:
    """P(K > x) of Kolmogorov's distribution (alternating series; theta form for small x)."""
    if x <= 0.0:
        return 1.0
    if x < 1.0:
        total = sum(
            math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * x * x)) for k in range(1, 20)
        )
        return float(min(max(1.0 - math.sqrt(2.0 * math.pi) / x * total, 0.0), 1.0))
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * x * x)
        total += term
        if abs(term) < 1e-300:
            break
    return float(min(max(total, 0.0), 1.0))


def wasserstein_binned(
    edges: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray],
    current: tuple[np.ndarray, np.ndarray],
    *,
    low: float,
    high: float,
) -> BoundedValue:
    """First Wasserstein distance of two data sets from (counts, sums) per shared bin.

    W = integral of |F - G|. Over a bin (a, b] the *signed* integral of F - G is exact from
    the counts and sums: the integral of F over (a, b] is b F(b) - a F(a) - (sum of the
    values in the bin) / n, the open tails likewise (E[(a - X)+], E[(X - b)+]). Summing its
    absolute value per bin is exact wherever F - G keeps its sign inside a bin; where it
    may change sign, the loss is at most the bin's width times the rise of F and G in it:
    that sum is `error`. `low` and `high` are the smallest and largest value on either side
    (the outer bins' extent).
    """
    r_counts, r_sums = (np.asarray(a, dtype=np.float64) for a in reference)
    c_counts, c_sums = (np.asarray(a, dtype=np.float64) for a in current)
    n_r, n_c = r_counts.sum(), c_counts.sum()
    if n_r <= 0 or n_c <= 0:
        return BoundedValue(0.0, 0.0)
    e = np.asarray(edges, dtype=np.float64)
    cdf_r = np.cumsum(r_counts)[:-1] / n_r  # at each edge
    cdf_c = np.cumsum(c_counts)[:-1] / n_c
    mean_r, mean_c = r_sums / n_r, c_sums / n_c
    if e.size == 0:  # one bin: W is at least the difference of the means
        return BoundedValue(float(abs(mean_c.sum() - mean_r.sum())), float(high - low))
    # integral of F over each interior bin (e[i-1], e[i]], minus the same for G
    f_int = e[1:] * cdf_r[1:] - e[:-1] * cdf_r[:-1] - mean_r[1:-1]
    g_int = e[1:] * cdf_c[1:] - e[:-1] * cdf_c[:-1] - mean_c[1:-1]
    # tails: integral of F below e[0] = e0 F(e0) - (sum below) / n; above the last edge,
    # integral of (1 - F) = (sum above) / n - e_last (1 - F(e_last))
    below = (e[0] * cdf_r[0] - mean_r[0]) - (e[0] * cdf_c[0] - mean_c[0])
    above = (mean_c[-1] - e[-1] * (1 - cdf_c[-1])) - (mean_r[-1] - e[-1] * (1 - cdf_r[-1]))
    signed = np.concatenate([[below], f_int - g_int, [above]])
    width = np.diff(np.concatenate([[min(low, e[0])], e, [max(high, e[-1])]]))
    left_r, right_r = np.concatenate([[0.0], cdf_r]), np.concatenate([cdf_r, [1.0]])
    left_c, right_c = np.concatenate([[0.0], cdf_c]), np.concatenate([cdf_c, [1.0]])
    # F - G can change sign in a bin only if its range there, [F(a) - G(b), F(b) - G(a)],
    # contains zero inside; the loss is then at most width x (rise of F + rise of G).
    crossing = (left_r - right_c < 0) & (right_r - left_c > 0)
    rise = (right_r - left_r) + (right_c - left_c)
    error = float(np.sum(np.where(crossing, width * rise, 0.0)))
    return BoundedValue(float(np.sum(np.abs(signed))), error)


def _ks_exact_pvalue(n1: int, n2: int, d: float) -> float:
    """P(D >= d) for two samples of sizes n1, n2 from one continuous distribution.

    Counts the monotone lattice paths from (0, 0) to (n1, n2) that stay strictly inside
    |x/n1 - y/n2| < d (every path is equally likely under the null); p = 1 - inside / total.
    Column by column, the count at (x, y) is a cumulative sum of the previous column over
    the band, so each step is one numpy cumsum; columns are rescaled and the scale kept as
    a logarithm, because the counts are binomial coefficients far beyond float range.
    """
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    h = round(d * lcm)  # d on the lattice of attainable values, as scipy rounds it
    if h == 0:
        return 1.0
    bound = h * g  # inside: |n2 * x - n1 * y| < bound
    column = np.zeros(n2 + 1)
    column[0] = 1.0  # the column "before" x = 0: every path starts at y = 0
    log_scale = 0.0
    for x in range(n1 + 1):
        lo = max((n2 * x - bound) // n1 + 1, 0)
        hi = min(-((-(n2 * x + bound)) // n1) - 1, n2)
        if lo > hi:
            return 1.0
        band = np.cumsum(column[lo : hi + 1])
        column[:] = 0.0
        top = band.max()
        if top <= 0.0:
            return 1.0
        column[lo : hi + 1] = band / top
        log_scale += math.log(top)
    if column[n2] <= 0.0:
        return 1.0
    log_total = math.lgamma(n1 + n2 + 1) - math.lgamma(n1 + 1) - math.lgamma(n2 + 1)
    inside = math.exp(math.log(column[n2]) + log_scale - log_total)
    return float(min(max(1.0 - inside, 0.0), 1.0))


def wasserstein_distance(u: np.ndarray, v: np.ndarray) -> float:
    """First Wasserstein distance between two empirical distributions (scipy's definition)."""
    u = np.sort(np.asarray(u, dtype=np.float64))
    v = np.sort(np.asarray(v, dtype=np.float64))
    if u.size == 0 or v.size == 0:
        return 0.0
    both = np.sort(np.concatenate([u, v]), kind="mergesort")
    deltas = np.diff(both)
    u_cdf = np.searchsorted(u, both[:-1], side="right") / u.size
    v_cdf = np.searchsorted(v, both[:-1], side="right") / v.size
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas))


def jensenshannon_distance(p: np.ndarray, q: np.ndarray, *, base: float = 2.0) -> float:
    """Jensen-Shannon distance of two (unnormalised) distributions; in [0, 1] for base 2."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    divergence = (_rel_entr(p, m).sum() + _rel_entr(q, m).sum()) / 2.0
    divergence /= math.log(base)
    return float(math.sqrt(max(divergence, 0.0)))


def _rel_entr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    pos = a > 0
    out[pos] = a[pos] * np.log(a[pos] / b[pos])
    return out


@dataclass(frozen=True)
class Chi2Result:
    statistic: float
    pvalue: float
    dof: int


def chi2_contingency(table: np.ndarray) -> Chi2Result:
    """Chi-square test of homogeneity; equals scipy.stats.chi2_contingency(table) (r x k).

    Columns (categories) empty in every row are dropped first (scipy refuses zero expected
    counts); with fewer than two rows or columns left there is nothing to test: p = 1.
    """
    observed = np.asarray(table, dtype=np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    observed = observed[observed.sum(axis=1) > 0, :]
    if observed.ndim != 2 or min(observed.shape) < 2:
        return Chi2Result(0.0, 1.0, 0)
    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    if dof == 1:
        # Yates' continuity correction, limited to the difference (scipy's default).
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return Chi2Result(statistic, chi2_sf(statistic, dof), dof)


def chi2_sf(x: float, dof: int) -> float:
    """Survival function of the chi-square distribution: Q(dof / 2, x / 2)."""
    if dof <= 0:
        raise ValueError("chi-square needs dof >= 1")
    return _gammaincc(dof / 2.0, x / 2.0)


def _gammaincc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above)."""
    if x <= 0.0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = 1.0 / a
        total = term
        n = 1
        while abs(term) > abs(total) * 1e-17 and n < 10_000:
            term *= x / (a + n)
            total += term
            n += 1
        return float(min(max(1.0 - math.exp(log_prefix) * total, 0.0), 1.0))
    # Modified Lentz for the continued fraction of Q(a, x) (Numerical Recipes, gcf).
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return float(min(max(math.exp(log_prefix) * h, 0.0), 1.0))
