"""Properties of the drift statistics themselves (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats as scipy_stats

from conveyor.bundle._reference import numeric_stats
from conveyor.monitor import _drift_stats as ds

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
values = hnp.arrays(np.float64, st.integers(2, 400), elements=finite)
count_pairs = st.integers(2, 30).flatmap(
    lambda k: st.tuples(
        hnp.arrays(np.int64, k, elements=st.integers(0, 10_000)),
        hnp.arrays(np.int64, k, elements=st.integers(0, 10_000)),
    )
)


def _cells(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = numeric_stats(x, np.random.default_rng(0))
    return np.array(ref["fine_edges"]), np.array(ref["fine_counts"], dtype=np.float64)


@settings(max_examples=150, deadline=None)
@given(values)
def test_wasserstein_of_identical_data_is_zero(x: np.ndarray) -> None:
    edges, cells = _cells(x)
    assert ds.wasserstein(edges, cells, ds.bin_values(x, edges)) == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_wasserstein_is_non_negative_and_invariant_to_row_order(
    x: np.ndarray, y: np.ndarray
) -> None:
    edges, cells = _cells(x)
    forward = ds.wasserstein(edges, cells, ds.bin_values(y, edges))
    shuffled = ds.wasserstein(edges, cells, ds.bin_values(y[::-1].copy(), edges))
    assert forward >= 0.0
    assert forward == pytest.approx(shuffled, rel=1e-12, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(values, st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_wasserstein_grows_with_a_shift(x: np.ndarray, small: float, large: float) -> None:
    small, large = sorted((small, large))
    edges, cells = _cells(x)
    w_small = ds.wasserstein(edges, cells, ds.bin_values(x + small, edges))
    w_large = ds.wasserstein(edges, cells, ds.bin_values(x + large, edges))
    assert w_small <= w_large + 1e-9 * (1 + large + np.ptp(x))
    # shifting past the whole reference range moves every value by exactly `large`
    if large > np.ptp(x) * 2:
        assert w_large == pytest.approx(large, rel=1e-6, abs=1e-9 * (1 + np.abs(x).max()))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.floats(-2.0, 2.0), st.floats(0.5, 2.0))
def test_wasserstein_agrees_with_scipy_on_continuous_data(
    seed: int, shift: float, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=3000), rng.normal(shift, scale, size=2000)
    edges, cells = _cells(x)
    ours = ds.wasserstein(edges, cells, ds.bin_values(y, edges))
    assert ours == pytest.approx(scipy_stats.wasserstein_distance(x, y), rel=0.03, abs=0.01)


@settings(max_examples=150, deadline=None)
@given(count_pairs)
def test_psi_and_jensenshannon_bounds_and_symmetry(pair: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pair
    assume(p.sum() > 0 and q.sum() > 0)
    js = ds.jensenshannon(p, q)
    assert 0.0 <= js <= 1.0 + 1e-12
    assert js == pytest.approx(ds.jensenshannon(q, p), abs=1e-12)
    assert ds.psi(p, q) >= 0.0
    assert ds.psi(p, q) == pytest.approx(ds.psi(q, p), rel=1e-9, abs=1e-12)
    assert ds.jensenshannon(p, p) == pytest.approx(0.0, abs=1e-7)
    assert ds.psi(p, p) == pytest.approx(0.0, abs=1e-12)
    # scaling counts (same shares) changes nothing
    assert ds.jensenshannon(p * 3, q) == pytest.approx(js, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(count_pairs)
def test_chi2_p_value_is_a_probability_and_identical_counts_pass(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    p, q = pair
    statistic, p_value = ds.chi2_test(p, q)
    assert statistic >= 0.0 and 0.0 <= p_value <= 1.0
    same_stat, same_p = ds.chi2_test(p, p)
    assert same_stat == pytest.approx(0.0, abs=1e-9) and same_p == pytest.approx(1.0)


@settings(max_examples=80, deadline=None)
@given(values)
def test_ks_of_identical_samples(x: np.ndarray) -> None:
    statistic, p_value = ds.ks_test(x, x.copy())
    assert statistic == 0.0 and p_value == pytest.approx(1.0)


proportion = st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=100, deadline=None)
@given(proportion, proportion)
def test_missing_test_and_critical(first: tuple[int, int], second: tuple[int, int]) -> None:
    (a, n), (b, m) = first, second
    assert 0.0 <= ds.missing_test(a, n, b, m) <= 1.0
    assert ds.missing_test(a, n, a, n) == pytest.approx(1.0)
    assert ds.missing_critical(a, n, b, m, 0.01) >= ds.missing_critical(a, n, b, m, 0.1) >= 0.0


def test_null_thresholds_shrink_as_samples_grow() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=20_000)
    edges, cells = _cells(x)
    small = ds.wasserstein_critical(edges, cells, ds.bin_values(x[:200], edges), 0.01, rng)
    large = ds.wasserstein_critical(edges, cells, ds.bin_values(x, edges), 0.01, rng)
    assert small > large > 0.0
    ref, cur = np.array([500, 300, 200]), np.array([50, 30, 20])
    assert ds.jensenshannon_critical(ref, cur, 0.01, rng) > ds.jensenshannon_critical(
        ref * 100, cur * 100, 0.01, rng
    )
    assert ds.psi_critical(ref, cur, 0.01, rng) > ds.psi_critical(ref * 100, cur * 100, 0.01, rng)


def test_null_thresholds_hold_their_level() -> None:
    """Under no drift, the distances exceed their alpha = 5% critical value about 5% of the time."""
    rng = np.random.default_rng(11)
    population = rng.lognormal(size=200_000)
    shares = np.array([0.5, 0.3, 0.15, 0.05])
    over_w = over_js = 0
    runs = 200
    for _ in range(runs):
        x, y = rng.choice(population, 1500), rng.choice(population, 1200)
        edges, cells = _cells(x)
        binned = ds.bin_values(y, edges)
        critical = ds.wasserstein_critical(edges, cells, binned, 0.05, rng, exact=True)
        over_w += ds.wasserstein(edges, cells, binned) > critical
        p, q = rng.multinomial(1500, shares), rng.multinomial(1200, shares)
        over_js += ds.jensenshannon(p, q) > ds.jensenshannon_critical(p, q, 0.05, rng, exact=True)
    assert over_w / runs < 0.12
    assert over_js / runs < 0.12


def test_bin_values_counts_every_value_and_the_tails() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    binned = ds.bin_values(np.array([-1.0, 0.0, 0.5, 1.0, 1.9, 2.0, 5.0]), edges)
    assert binned.counts.tolist() == [1, 2, 2, 2]
    assert binned.below_area == 1.0 and binned.above_area == 3.0
    assert binned.low == -1.0 and binned.high == 5.0
