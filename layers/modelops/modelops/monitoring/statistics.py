"""Drift statistics in numpy only.

The monitor runs in Lambda next to onnxruntime and numpy; scipy would take the bundle past
the 200 MB limit, so the few statistics it needs are implemented here and tested against
scipy (tests/monitoring/test_statistics.py: equal within 1e-6):

- `psi`: population stability index on shares, with an epsilon floor for empty bins;
- `ks_2samp`: two-sample Kolmogorov-Smirnov statistic and its *exact* two-sided p-value
  (what scipy's `ks_2samp` computes in its default mode when both samples have at most
  10 000 values, which the monitor's bounded samples always have);
- `wasserstein_distance`: first Wasserstein distance between two empirical samples;
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
