"""Tests of encephagen.stats against scipy, hand computations and invariants."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from encephagen.errors import DataError
from encephagen.stats import (
    Comparison,
    benjamini_hochberg,
    compare,
    fdr_adjust,
    power_replicates,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------ compare


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n_ref,n_other", [(10, 10), (8, 8), (5, 12), (30, 25)])
def test_u_and_p_equal_scipy(seed: int, n_ref: int, n_other: int) -> None:
    g = rng(seed)
    ref = g.normal(0.0, 1.0, n_ref)
    other = g.normal(0.7, 1.3, n_other)
    c = compare(ref, other, rng=rng(), n_boot=200)
    want = sps.mannwhitneyu(other, ref, alternative="two-sided", method="auto")
    assert c.u == want.statistic
    assert c.p == want.pvalue
    # U of other = pairs (o, r) with o > r (no ties in continuous data)
    assert c.u == np.sum(other[:, None] > ref[None, :])


def test_u_with_ties_counts_half() -> None:
    ref = np.array([1.0, 2.0, 3.0])
    other = np.array([2.0, 3.0, 4.0])
    c = compare(ref, other, rng=rng(), n_boot=50)
    gt = np.sum(other[:, None] > ref[None, :])
    eq = np.sum(other[:, None] == ref[None, :])
    assert c.u == gt + 0.5 * eq == 7.0


def test_cohens_d_and_hedges_g_by_hand() -> None:
    ref = np.array([1.0, 2.0, 3.0, 4.0])  # mean 2.5, pop var 1.25, sample var 5/3
    other = np.array([3.0, 5.0, 7.0])  # mean 5, pop var 8/3, sample var 4
    c = compare(ref, other, rng=rng(), n_boot=100)
    d = 2.5 / math.sqrt((1.25 + 8.0 / 3.0) / 2.0)
    s_p = math.sqrt((3 * (5.0 / 3.0) + 2 * 4.0) / 5.0)  # sqrt(13/5)
    j = 1.0 - 3.0 / (4.0 * 7 - 9.0)  # 1 - 3/19
    assert c.d == pytest.approx(d, rel=1e-12)
    assert c.d == pytest.approx(1.78647, abs=1e-5)
    assert c.g == pytest.approx(j * 2.5 / s_p, rel=1e-12)
    assert c.mean_ref == 2.5 and c.mean_other == 5.0
    assert c.sd_ref == pytest.approx(math.sqrt(5.0 / 3.0))
    assert c.sd_other == pytest.approx(2.0)
    assert (c.n_ref, c.n_other) == (4, 3)
    assert c.diff == 2.5
    # sign convention: other - reference
    assert compare(other, ref, rng=rng(), n_boot=100).d == pytest.approx(-d)


def test_bootstrap_ci_contains_true_difference_and_is_seeded() -> None:
    g = rng(7)
    ref = g.normal(10.0, 2.0, 2000)
    other = g.normal(10.5, 2.0, 2000)
    c1 = compare(ref, other, rng=rng(123), n_boot=2000)
    c2 = compare(ref, other, rng=rng(123), n_boot=2000)
    c3 = compare(ref, other, rng=rng(124), n_boot=2000)
    assert c1.ci_low < 0.5 < c1.ci_high
    assert c1.ci_low < c1.diff < c1.ci_high
    # width close to the normal-theory 2 * 1.96 * sqrt(2 * 4 / 2000)
    assert c1.ci_high - c1.ci_low == pytest.approx(2 * 1.96 * math.sqrt(8 / 2000), rel=0.1)
    assert (c1.ci_low, c1.ci_high) == (c2.ci_low, c2.ci_high)
    assert (c1.ci_low, c1.ci_high) != (c3.ci_low, c3.ci_high)


def test_bootstrap_ci_matches_an_independent_loop() -> None:
    ref = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    other = np.array([0.9, 0.7, 1.1, 0.6])
    c = compare(ref, other, rng=rng(5), n_boot=500)
    g = rng(5)
    # the documented draw order: all reference indices, then all other indices
    idx_r = g.integers(0, ref.size, size=(500, ref.size))
    idx_o = g.integers(0, other.size, size=(500, other.size))
    diffs = [np.mean(other[idx_o[b]]) - np.mean(ref[idx_r[b]]) for b in range(500)]
    assert c.ci_low != c.ci_high
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    assert c.ci_low == pytest.approx(lo) and c.ci_high == pytest.approx(hi)


def test_winner_on_p_and_direction() -> None:
    ref = np.arange(10.0)
    other = np.arange(10.0) + 20.0
    c = compare(ref, other, rng=rng(), n_boot=100)
    assert c.p < 0.05 and c.winner == "other"
    assert compare(other, ref, rng=rng(), n_boot=100).winner == "reference"
    low_wins = compare(ref, other, rng=rng(), n_boot=100, direction="lower")
    assert low_wins.winner == "reference"
    assert compare(ref, other, rng=rng(), n_boot=100, direction="none").winner == "differs"
    assert compare(ref, ref + 0.5, rng=rng(), n_boot=100, direction="none").winner == ""
    with pytest.raises(ValueError, match="direction"):
        compare(ref, other, rng=rng(), n_boot=100, direction="up")
    overlap = compare(ref, ref + 0.5, rng=rng(), n_boot=100)
    assert overlap.p > 0.05 and overlap.winner == ""


def test_winner_reads_q_once_set() -> None:
    ref = np.arange(8.0)
    other = ref + 5.0
    c = compare(ref, other, rng=rng(), n_boot=100)
    assert c.p < 0.05 and c.winner == "other" and c.q is None
    adjusted = c.with_q(0.2)
    assert adjusted.q == 0.2 and adjusted.winner == "" and adjusted.p == c.p
    assert c.with_q(0.001).winner == "other"


def test_fdr_adjust_sets_bh_q_values() -> None:
    g = rng(3)
    comps = [
        compare(g.normal(0, 1, 10), g.normal(shift, 1, 10), rng=rng(), n_boot=100)
        for shift in (0.0, 0.5, 3.0)
    ]
    adjusted = fdr_adjust(comps)
    want = benjamini_hochberg([c.p for c in comps])
    assert [a.q for a in adjusted] == list(want)
    assert all(a.p == c.p for a, c in zip(adjusted, comps))


def test_identical_constant_groups() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(np.full(6, 0.3), np.full(5, 0.3), rng=rng(), n_boot=100)
    assert c.p == 1.0 and c.d == 0.0 and c.g == 0.0
    assert (c.ci_low, c.ci_high) == (0.0, 0.0)
    assert c.winner == ""
    assert "both groups constant and equal" in c.note


def test_constant_but_different_groups() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        up = compare(np.full(6, 1.0), np.full(6, 2.0), rng=rng(), n_boot=100)
        down = compare(np.full(6, 2.0), np.full(6, 1.0), rng=rng(), n_boot=100)
    assert up.d == math.inf and up.g == math.inf
    assert down.d == -math.inf and down.g == -math.inf
    assert (up.ci_low, up.ci_high) == (1.0, 1.0)
    assert up.p < 0.05 and up.winner == "other"
    assert "constant and different" in up.note


def test_one_constant_group_is_noted_and_finite() -> None:
    c = compare(np.full(5, 1.0), np.array([1.0, 2.0, 3.0, 2.0, 1.5]), rng=rng(), n_boot=100)
    assert math.isfinite(c.d) and math.isfinite(c.g)
    assert "reference group constant" in c.note


@pytest.mark.parametrize(
    "ref,other",
    [([1.0], [1.0, 2.0, 3.0]), ([1.0, 2.0], [5.0]), ([], [1.0, 2.0]), ([np.nan, np.nan], [1.0, 2.0])],
)
def test_too_few_values(ref: list[float], other: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(np.array(ref), np.array(other), rng=rng(), n_boot=100)
    assert math.isnan(c.p) and math.isnan(c.u) and math.isnan(c.d) and math.isnan(c.g)
    assert math.isnan(c.ci_low) and math.isnan(c.ci_high)
    assert c.winner == ""
    assert "too few values" in c.note
    assert math.isnan(c.with_q(math.nan).q) and c.with_q(0.0).winner == ""


def test_nan_values_are_dropped_and_counted() -> None:
    ref = np.array([1.0, np.nan, 2.0, 3.0])
    other = np.array([4.0, 5.0, np.nan, np.nan, 6.0])
    c = compare(ref, other, rng=rng(), n_boot=100)
    clean = compare(ref[~np.isnan(ref)], other[~np.isnan(other)], rng=rng(), n_boot=100)
    assert (c.n_ref, c.n_other, c.dropped_ref, c.dropped_other) == (3, 3, 1, 2)
    assert (c.u, c.p, c.d, c.g, c.ci_low) == (clean.u, clean.p, clean.d, clean.g, clean.ci_low)
    assert "1 NaN value(s) dropped from reference" in c.note
    assert "2 NaN value(s) dropped from other" in c.note


def test_bad_input_is_refused() -> None:
    with pytest.raises(DataError, match="reference"):
        compare(np.array([1.0, np.inf]), np.array([1.0, 2.0]), rng=rng())
    with pytest.raises(DataError, match="1-D"):
        compare(np.ones((2, 2)), np.array([1.0, 2.0]), rng=rng())
    with pytest.raises(TypeError, match="rng"):
        compare(np.ones(3), np.ones(3), rng=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        compare(np.ones(3), np.ones(3), rng=rng(), alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        compare(np.ones(3), np.ones(3), rng=rng(), n_boot=0)


def test_comparison_is_frozen() -> None:
    c = compare(np.arange(4.0), np.arange(4.0) + 1, rng=rng(), n_boot=10)
    assert isinstance(c, Comparison)
    with pytest.raises(AttributeError):
        c.p = 0.0  # type: ignore[misc]


# ------------------------------------------------------------- Benjamini-Hochberg


def test_bh_hand_computed() -> None:
    # sorted: 0.005 (1), 0.01 (2), 0.03 (3), 0.04 (4); m p / rank = .02 .02 .04 .04
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])


def test_bh_running_minimum_from_the_top() -> None:
    # m p / rank = 0.4, 0.6, 0.5333, 0.9 -> running minimum from the top
    np.testing.assert_allclose(benjamini_hochberg([0.1, 0.3, 0.4, 0.9]), [0.4, 1.6 / 3, 1.6 / 3, 0.9])
    np.testing.assert_allclose(benjamini_hochberg([0.4, 0.1, 0.3, 0.9]), [1.6 / 3, 0.4, 1.6 / 3, 0.9])
    np.testing.assert_allclose(benjamini_hochberg([0.9, 0.95]), [0.95, 0.95])
    # sorted 0.8, 0.99, 1.0: m p / rank = 2.4, 1.485, 1.0 -> all 1.0
    np.testing.assert_allclose(benjamini_hochberg([0.8, 1.0, 0.99]), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(benjamini_hochberg([0.6, 0.7]), [0.7, 0.7])


def test_bh_nan_stays_nan_and_does_not_count() -> None:
    q = benjamini_hochberg([0.01, np.nan, 0.04, 0.03, np.nan, 0.005])
    assert np.isnan(q[1]) and np.isnan(q[4])
    np.testing.assert_allclose(q[[0, 2, 3, 5]], [0.02, 0.04, 0.04, 0.02])
    assert np.all(np.isnan(benjamini_hochberg([np.nan])))
    assert benjamini_hochberg([]).shape == (0,)


def test_bh_matches_scipy() -> None:
    p = rng(11).uniform(0, 0.2, 25)
    np.testing.assert_allclose(benjamini_hochberg(p), sps.false_discovery_control(p, method="bh"))


def test_bh_refuses_values_outside_unit_interval() -> None:
    with pytest.raises(DataError, match="p"):
        benjamini_hochberg([0.2, 1.2])
    with pytest.raises(DataError, match="p"):
        benjamini_hochberg([-0.1])


p_lists = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.just(float("nan"))), min_size=0, max_size=30
)


@settings(max_examples=60, deadline=None)
@given(p_lists)
def test_bh_properties(p: list[float]) -> None:
    arr = np.array(p, dtype=np.float64)
    q = benjamini_hochberg(arr)
    ok = ~np.isnan(arr)
    assert np.array_equal(np.isnan(q), ~ok)
    pv, qv = arr[ok], q[ok]
    assert np.all(qv >= pv - 1e-15)
    assert np.all(qv <= 1.0)
    # the order of q follows the order of p
    i, j = np.meshgrid(np.arange(pv.size), np.arange(pv.size))
    assert np.all(qv[i][pv[i] < pv[j]] <= qv[j][pv[i] < pv[j]])
    assert np.all(qv[i][pv[i] == pv[j]] == qv[j][pv[i] == pv[j]])


# ------------------------------------------------------------------------- power


def _simulated_power(d: float, n: int, seed: int, n_sim: int = 4000, alpha: float = 0.05) -> float:
    g = np.random.default_rng(seed)
    x, y = g.standard_normal((n_sim, n)), g.standard_normal((n_sim, n)) + d
    return float(np.mean(sps.mannwhitneyu(y, x, axis=1, method="exact").pvalue < alpha))


def test_power_is_the_exact_tests_power_at_the_answer() -> None:
    """At the proposed n an independent simulation gives about 80 % power; two fewer replicates fall short."""
    for d in (1.0, 1.5):
        n = power_replicates(d, rng=rng(1))
        assert n is not None and _simulated_power(d, n, seed=99) >= 0.77
        assert _simulated_power(d, n - 2, seed=98) < 0.8
    assert 16 <= power_replicates(1.0, rng=rng(1)) <= 20  # the t-test needs 17 per group; Mann-Whitney a little more
    assert power_replicates(-1.0, rng=rng(1)) == power_replicates(1.0, rng=rng(1))


def test_power_knows_the_exact_test_cannot_reach_small_p_with_three() -> None:
    """With 3 vs 3 the exact test's smallest two-sided p is 0.1: no effect, however large, is found at alpha 0.05."""
    assert power_replicates(50.0, rng=rng()) == 4
    assert power_replicates(50.0, alpha=0.2, rng=rng()) == 3


def test_power_monotone_in_d_alpha_and_power() -> None:
    ns = [power_replicates(d, rng=rng(2)) for d in (0.6, 1.0, 2.0, 5.0)]
    assert all(a > b for a, b in zip(ns, ns[1:]))
    assert power_replicates(0.8, power=0.95, rng=rng()) > power_replicates(0.8, power=0.8, rng=rng())
    assert power_replicates(0.8, alpha=0.01, rng=rng()) > power_replicates(0.8, alpha=0.05, rng=rng())


@pytest.mark.parametrize("d", [0.0, math.inf, -math.inf, math.nan, 0.1])
def test_power_undefined_or_out_of_reach(d: float) -> None:
    assert power_replicates(d, rng=rng()) is None  # 0.1 needs far more than 50 replicates


def test_power_refuses_bad_levels() -> None:
    with pytest.raises(ValueError, match="alpha"):
        power_replicates(1.0, alpha=0.0, rng=rng())
    with pytest.raises(ValueError, match="power"):
        power_replicates(1.0, power=1.0, rng=rng())
