"""The drift statistics on counts and arrays: distances, tests and their null thresholds.

Pure numpy/scipy, no frames. Distances compare two binned distributions
(reference cells from ``reference.json``, current values counted into the same
cells); tests give p-values; ``*_critical`` functions give the value a distance
stays under, with probability ``1 - alpha``, when nothing changed, so a threshold
can be raised to it when samples are small. Each has a cheap approximation and an
``exact`` (simulated) form; callers pay for the simulation only when a statistic
passes the approximate threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

PSI_EPS = 1e-4  # an empty bin counts as this share in PSI (the usual convention)
_MIN_EXPECTED = 5.0  # chi-square cells with fewer expected rows are pooled
_BRIDGE_SIMS = 1000
_BRIDGE_GRID = 256
_NULL_SIMS = 1000


@dataclass(frozen=True)
class BinnedValues:
    """Finite current values counted into a reference's fine cells.

    ``counts`` has ``len(edges) + 1`` entries: below the first edge, one per
    cell, at or above the last edge. ``below_area`` / ``above_area`` are the
    sums of distances of those outside values to the edge they passed.
    """

    counts: np.ndarray
    below_area: float
    above_area: float
    low: float = math.nan  # the smallest and largest value
    high: float = math.nan

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def bin_values(values: np.ndarray, edges: np.ndarray) -> BinnedValues:
    """Count finite ``values`` into the cells ``edges[i] <= x < edges[i + 1]`` plus two tails."""
    cells = len(edges) - 1
    if cells < 1 or len(values) == 0:
        return BinnedValues(np.zeros(max(cells, 0) + 2, dtype=np.int64), 0.0, 0.0)
    slot = np.searchsorted(edges, values, side="right")  # 0 = below, cells + 1 = above
    counts = np.bincount(slot, minlength=cells + 2)
    below_area = above_area = 0.0
    if counts[0]:
        below_area = float((edges[0] - values[values < edges[0]]).sum())
    if counts[-1]:
        above_area = float((values[values >= edges[-1]] - edges[-1]).sum())
    low = float(values.min()) if counts[0] else math.nan
    high = float(values.max()) if counts[-1] else math.nan
    return BinnedValues(counts, below_area, above_area, low, high)


def wasserstein(edges: np.ndarray, ref_cells: np.ndarray, current: BinnedValues) -> float:
    """Wasserstein-1 distance between the reference CDF and the current values.

    Both CDFs are exact at the edges and linear inside a cell; values outside
    the reference range add their exact distance to the range.
    """
    n_ref, n_cur = float(ref_cells.sum()), float(current.n)
    if n_ref == 0 or n_cur == 0:
        return math.nan
    inside = current.counts[1:-1].astype(np.float64)
    area = _cell_areas(edges, ref_cells / n_ref, inside / n_cur, current.counts[0] / n_cur)
    return float(area + (current.below_area + current.above_area) / n_cur)


def _cell_areas(
    edges: np.ndarray, ref_shares: np.ndarray, cur_shares: np.ndarray, cur_below: Any = 0.0
) -> Any:
    """Integral of |F - G| over the cells (rows of shares give one value each)."""
    zero = np.zeros((*ref_shares.shape[:-1], 1))
    f = np.concatenate([zero, np.cumsum(ref_shares, axis=-1)], axis=-1)
    g = np.concatenate([zero, np.cumsum(cur_shares, axis=-1)], axis=-1) + np.asarray(cur_below)
    d = f - g
    left, right = np.abs(d[..., :-1]), np.abs(d[..., 1:])
    total = left + right
    crossing = np.divide(left**2 + right**2, 2.0 * total, out=np.zeros_like(total), where=total > 0)
    area = np.where(d[..., :-1] * d[..., 1:] >= 0, total / 2.0, crossing)
    return (area * np.diff(edges)).sum(axis=-1)


@lru_cache(maxsize=1)
def _bridge_mid_abs() -> np.ndarray:
    """|B(u)| of standard Brownian bridges between consecutive grid points (seeded)."""
    rng = np.random.default_rng(20261129)
    u = (np.arange(_BRIDGE_GRID) + 0.5) / _BRIDGE_GRID
    steps = np.diff(np.concatenate([[0.0], u, [1.0]]))
    walk = np.cumsum(rng.standard_normal((_BRIDGE_SIMS, len(steps))) * np.sqrt(steps), axis=1)
    bridge = walk[:, :-1] - u * walk[:, -1:]
    return np.abs((bridge[:, 1:] + bridge[:, :-1]) / 2.0)


def wasserstein_critical(
    edges: np.ndarray,
    ref_cells: np.ndarray,
    current: BinnedValues,
    alpha: float,
    rng: np.random.Generator,
    *,
    exact: bool = False,
) -> float:
    """The Wasserstein distance two samples of these sizes exceed with probability ``alpha``
    when both come from one distribution.

    The asymptotic value: sqrt(n m / (n + m)) W -> integral of |B(F(x))| dx (B a
    Brownian bridge), on a grid of the reference quantile function. It is
    optimistic for small samples, heavy tails and rare extreme values; with
    ``exact`` both samples are also redrawn from the pooled cells of reference
    and current (a permutation-style null that knows the extreme values only one
    side saw) and the larger value is returned.
    """
    n_ref, n_cur = float(ref_cells.sum()), float(current.n)
    if n_ref == 0 or n_cur == 0:
        return 0.0
    cdf = np.concatenate([[0.0], np.cumsum(ref_cells) / n_ref])
    u = (np.arange(_BRIDGE_GRID) + 0.5) / _BRIDGE_GRID
    integrals = _bridge_mid_abs() @ np.diff(np.interp(u, cdf, edges))
    asymptotic = _null_quantile(integrals, alpha) * math.sqrt(1.0 / n_ref + 1.0 / n_cur)
    if not exact:
        return asymptotic
    cells = np.asarray(ref_cells, dtype=np.float64) + current.counts[1:-1]
    if current.counts[0]:
        edges, cells = (
            np.concatenate([[current.low], edges]),
            np.concatenate([[current.counts[0]], cells]),
        )
    if current.counts[-1]:
        edges = np.concatenate([edges, [np.nextafter(current.high, np.inf)]])
        cells = np.concatenate([cells, [current.counts[-1]]])
    pooled = cells / cells.sum()
    ref_draws, cur_draws = _redraw(pooled, n_ref, rng), _redraw(pooled, n_cur, rng)
    return max(asymptotic, _null_quantile(_cell_areas(edges, ref_draws, cur_draws), alpha))


def _redraw(shares: np.ndarray, n: float, rng: np.random.Generator) -> np.ndarray:
    """Shares of ``_NULL_SIMS`` samples of about ``n`` rows from ``shares`` (Poisson counts:
    as good as multinomial ones here, and drawn in one vectorised call)."""
    return _shares(rng.poisson(np.asarray(shares) * n, size=(_NULL_SIMS, len(shares))))


def _null_quantile(draws: np.ndarray, alpha: float) -> float:
    """The 1 - alpha quantile of a positive statistic from simulated draws.

    alpha is often below 1 / len(draws) (Bonferroni over many columns), so the
    tail comes from a scaled chi-square with the draws' mean and variance; it is
    never below the empirical quantile the draws do support.
    """
    from scipy import stats

    draws = np.asarray(draws, dtype=np.float64)
    empirical = float(np.quantile(draws, 1.0 - max(alpha, 5.0 / len(draws))))
    mean, var = float(draws.mean()), float(draws.var())
    if mean <= 0 or var <= 0:
        return max(empirical, 0.0)
    scale, dof = var / (2.0 * mean), 2.0 * mean**2 / var
    return max(float(scale * stats.chi2.isf(alpha, dof)), empirical)


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index; an empty bin counts as a share of :data:`PSI_EPS`."""
    return float(_psi(_shares(ref_counts), _shares(cur_counts)))


def _psi(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = np.maximum(p, PSI_EPS), np.maximum(q, PSI_EPS)
    return ((q - p) * np.log(q / p)).sum(axis=-1)


def jensenshannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so within [0, 1]) between two count vectors."""
    return float(_js(_shares(ref_counts), _shares(cur_counts)))


def _js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / np.where(m > 0, m, 1.0)), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / np.where(m > 0, m, 1.0)), 0.0)
    divergence = np.maximum((kl_p.sum(axis=-1) + kl_q.sum(axis=-1)) / 2.0, 0.0)
    return np.sqrt(divergence)


def _null_draws(
    ref_counts: np.ndarray, cur_counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Both samples redrawn from the pooled distribution (what 'no drift' looks like)."""
    pooled = _shares(np.asarray(ref_counts, float) + np.asarray(cur_counts, float))
    return (
        _redraw(pooled, float(np.sum(ref_counts)), rng),
        _redraw(pooled, float(np.sum(cur_counts)), rng),
    )


def _sparse(ref_counts: np.ndarray, cur_counts: np.ndarray) -> bool:
    pooled = _shares(np.asarray(ref_counts, float) + np.asarray(cur_counts, float))
    used = pooled > 0
    smaller = min(float(np.sum(ref_counts)), float(np.sum(cur_counts)))
    return bool(np.any(pooled[used] * smaller < _MIN_EXPECTED))


def _chi2_scale(ref_counts: np.ndarray, cur_counts: np.ndarray, alpha: float) -> float:
    """chi2_(1-alpha, k-1) * (1/n + 1/m): the null quantile of sum (p - q)^2 / pooled."""
    from scipy import stats

    pooled = np.asarray(ref_counts, float) + np.asarray(cur_counts, float)
    dof = int(np.count_nonzero(pooled)) - 1
    n_ref, n_cur = float(np.sum(ref_counts)), float(np.sum(cur_counts))
    if dof < 1 or n_ref == 0 or n_cur == 0:
        return 0.0
    return float(stats.chi2.isf(alpha, dof)) * (1.0 / n_ref + 1.0 / n_cur)


def psi_critical(
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    *,
    exact: bool = False,
) -> float:
    """The PSI two samples of these sizes exceed with probability ``alpha`` under no drift.

    PSI ~ sum (p - q)^2 / m, a scaled chi-square, for close distributions; with
    ``exact``, sparse tables (expected counts under 5) are simulated instead.
    """
    if not (exact and _sparse(ref_counts, cur_counts)):
        return _chi2_scale(ref_counts, cur_counts, alpha)
    p, q = _null_draws(ref_counts, cur_counts, rng)
    return _null_quantile(_psi(p, q), alpha)


def jensenshannon_critical(
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    *,
    exact: bool = False,
) -> float:
    """The JS distance two samples of these sizes exceed with probability ``alpha`` under no drift.

    JSD ~ sum (p - q)^2 / (8 m ln 2) bits for close distributions, a scaled
    chi-square; with ``exact``, sparse tables (expected counts under 5) are
    simulated instead.
    """
    if not (exact and _sparse(ref_counts, cur_counts)):
        return math.sqrt(_chi2_scale(ref_counts, cur_counts, alpha) / (8.0 * math.log(2.0)))
    p, q = _null_draws(ref_counts, cur_counts, rng)
    return _null_quantile(_js(p, q), alpha)


def ks_test(reference_sample: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value."""
    from scipy import stats

    if len(reference_sample) == 0 or len(values) == 0:
        return math.nan, 1.0
    result = stats.ks_2samp(reference_sample, values)
    return float(result.statistic), float(result.pvalue)


def chi2_test(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity on a 2 x k table, rare cells pooled first.

    Cells where the current sample expects fewer than 5 rows are pooled into
    one (and that one into the smallest other cell if it is still rare), so the
    chi-square approximation holds.
    """
    from scipy import stats

    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    n_ref, n_cur = ref.sum(), cur.sum()
    if n_ref == 0 or n_cur == 0 or len(ref) < 2:
        return 0.0, 1.0
    expected_small = min(n_ref, n_cur) * (ref + cur) / (n_ref + n_cur)
    rare = expected_small < _MIN_EXPECTED
    if rare.any():
        ref = np.append(ref[~rare], ref[rare].sum())
        cur = np.append(cur[~rare], cur[rare].sum())
        if (
            min(n_ref, n_cur) * (ref[-1] + cur[-1]) / (n_ref + n_cur) < _MIN_EXPECTED
            and len(ref) > 1
        ):
            smallest = int(np.argmin(ref[:-1] + cur[:-1]))
            ref[smallest] += ref[-1]
            cur[smallest] += cur[-1]
            ref, cur = ref[:-1], cur[:-1]
    if len(ref) < 2:
        return 0.0, 1.0
    table = np.vstack([ref, cur])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(stats.chi2.sf(statistic, len(ref) - 1))


def missing_test(ref_missing: int, ref_total: int, cur_missing: int, cur_total: int) -> float:
    """Two-sided p-value that both missing rates are equal (Fisher's exact test)."""
    from scipy import stats

    if ref_total == 0 or cur_total == 0 or (ref_missing == 0 and cur_missing == 0):
        return 1.0
    table = [[ref_missing, ref_total - ref_missing], [cur_missing, cur_total - cur_missing]]
    return float(stats.fisher_exact(table).pvalue)


def missing_critical(
    ref_missing: int, ref_total: int, cur_missing: int, cur_total: int, alpha: float
) -> float:
    """The missing-rate change two samples of these sizes exceed with probability ``alpha``."""
    from scipy import stats

    if ref_total == 0 or cur_total == 0:
        return 0.0
    pooled = (ref_missing + cur_missing) / (ref_total + cur_total)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / ref_total + 1.0 / cur_total))
    return float(stats.norm.isf(alpha / 2.0)) * spread
