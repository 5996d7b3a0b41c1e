"""Tests of encephagen.interaction: planted truths, closed forms, special cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from encephagen.interaction import METHOD, InteractionResult, interaction_test

ALPHA = 0.05


def design(n: int, k: int, m: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """condition, level, stratum of a balanced 2 x k x m design, n per cell."""
    c, lev, st = np.meshgrid([0, 1], np.arange(k), np.arange(m), indexing="ij")
    return tuple(np.repeat(a.ravel(), n) for a in (c, lev, st))  # type: ignore[return-value]


def band(n_sim: int, p: float, coverage: float = 0.999) -> tuple[float, float]:
    """Two-sided binomial band of a rejection rate over ``n_sim`` simulations."""
    lo, hi = sps.binom.ppf([(1 - coverage) / 2, (1 + coverage) / 2], n_sim, p)
    return lo / n_sim, hi / n_sim


def rejection_rate(
    mean: np.ndarray, noise, c, lev, st, *, n_sim: int, seed: int, n_perm: int = 499
) -> tuple[float, InteractionResult]:
    """Share of ``n_sim`` studies ``mean + noise(g, n)`` with p <= ALPHA."""
    g = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_sim):
        r = interaction_test(mean + noise(g, mean.size), c, lev, st, rng=g, n_perm=n_perm)
        hits += r.p <= ALPHA
    return hits / n_sim, r


def reduced_residual(mean: np.ndarray, c, lev, st) -> np.ndarray:
    """``mean`` minus its least-squares fit by the reduced (no-interaction) model."""
    cells = np.unique(np.stack([lev, st]), axis=1).T
    cols = [(lev == a) & (st == b) for a, b in cells]
    cols += [(st == b) & (c == 1) for b in np.unique(st)]
    z = np.column_stack(cols).astype(float)
    return mean - z @ np.linalg.lstsq(z, mean, rcond=None)[0]


# ------------------------------------------------------------- planted truth


def lognormal(g: np.random.Generator, n: int) -> np.ndarray:
    return g.lognormal(0.0, 1.0, n)


def exponential(g: np.random.Generator, n: int) -> np.ndarray:
    return g.exponential(1.0, n)


@pytest.mark.parametrize("noise", [lognormal, exponential])
@pytest.mark.parametrize("n", [4, 6, 10])
@pytest.mark.parametrize("k,m", [(2, 1), (3, 2)])
def test_false_positive_rate_with_skewed_noise(noise, n: int, k: int, m: int) -> None:
    # Large main effects of condition, level and stratum, and a condition
    # effect that depends on the stratum (allowed under the null); no
    # condition x level interaction; the same skewed noise in every cell.
    c, lev, st = design(n, k, m)
    mean = 5.0 * c + 3.0 * lev + 4.0 * st + 2.0 * c * st
    n_sim = 400
    rate, last = rejection_rate(mean, noise, c, lev, st if m > 1 else None, n_sim=n_sim, seed=n)
    assert (last.df1, last.df2) == ((k - 1) * m, 2 * k * m * (n - 1))
    lo, hi = band(n_sim, ALPHA)
    assert lo <= rate <= hi, f"rejection rate {rate} outside [{lo}, {hi}]"


def test_false_positive_rate_unbalanced_with_missing_cell() -> None:
    # Replicates lost at random (NaN) and one (condition, level, stratum) cell
    # missing entirely.
    c, lev, st = design(6, 3, 2)
    mean = 5.0 * c + 3.0 * lev + 4.0 * st + 2.0 * c * st
    lost = np.random.default_rng(99).random(c.size) < 0.15
    lost |= (c == 1) & (lev == 2) & (st == 1)

    def noise(g: np.random.Generator, n: int) -> np.ndarray:
        return np.where(lost, np.nan, g.lognormal(0.0, 1.0, n))

    n_sim = 400
    rate, last = rejection_rate(mean, noise, c, lev, st, n_sim=n_sim, seed=5)
    assert last.n == int((~lost).sum()) and last.df1 == 3
    lo, hi = band(n_sim, ALPHA)
    assert lo <= rate <= hi, f"rejection rate {rate} outside [{lo}, {hi}]"


@pytest.mark.parametrize(
    "k,m,delta",
    [
        (2, 1, 2.0),  # condition effect 0 at level 0, delta at level 1
        (3, 2, 1.6),  # condition effect delta at level 2 only, in both strata
    ],
)
def test_power_matches_noncentral_f(k: int, m: int, delta: float) -> None:
    n, sigma = 6, 1.0
    c, lev, st = design(n, k, m)
    mean = 5.0 * c + 3.0 * lev + 4.0 * st + delta * c * (lev == k - 1)
    df1, df2 = (k - 1) * m, 2 * k * m * (n - 1)
    lam = float(np.sum(reduced_residual(mean, c, lev, st) ** 2)) / sigma**2
    power = float(sps.ncf.sf(sps.f.isf(ALPHA, df1, df2), df1, df2, lam))
    assert 0.5 < power < 0.8

    def noise(g: np.random.Generator, size: int) -> np.ndarray:
        return g.normal(0.0, sigma, size)

    n_sim = 400
    rate, last = rejection_rate(mean, noise, c, lev, st if m > 1 else None, n_sim=n_sim, seed=11)
    assert (last.df1, last.df2) == (df1, df2)
    lo, hi = band(n_sim, power)
    assert lo <= rate <= hi, f"power {rate} outside [{lo}, {hi}] around {power:.3f}"


# --------------------------------------------------------------- closed form


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f_equals_two_way_anova_interaction_in_balanced_2x2(seed: int) -> None:
    n = 5
    c, lev, _ = design(n, 2)
    g = np.random.default_rng(seed)
    y = g.normal(0.0, 1.0, c.size) + 2.0 * c - lev + 0.8 * c * lev
    cells = [y[(c == a) & (lev == b)] for a in (0, 1) for b in (0, 1)]
    m00, m01, m10, m11 = (x.mean() for x in cells)
    pooled = sum(((x - x.mean()) ** 2).sum() for x in cells) / (4 * (n - 1))
    t = (m11 - m10 - m01 + m00) / math.sqrt(pooled * 4 / n)
    # Two-way ANOVA: SS_AB = n * sum of squared interaction residuals of the cell means.
    means = np.array([[m00, m01], [m10, m11]])
    inter = means - means.mean(1, keepdims=True) - means.mean(0, keepdims=True) + means.mean()
    f_anova = n * float((inter**2).sum()) / pooled

    r = interaction_test(y, c, lev, rng=np.random.default_rng(0), n_perm=99)
    assert (r.df1, r.df2, r.n, r.n_perm, r.note) == (1, 4 * (n - 1), 4 * n, 99, "")
    assert r.statistic == pytest.approx(t**2, rel=1e-10)
    assert r.statistic == pytest.approx(f_anova, rel=1e-10)


def test_f_equals_least_squares_comparison_in_unbalanced_design() -> None:
    c, lev, st = design(5, 3, 2)
    g = np.random.default_rng(4)
    keep = g.random(c.size) < 0.8
    keep &= ~((c == 1) & (lev == 1) & (st == 0))  # one cell missing
    c, lev, st = c[keep], lev[keep], st[keep]
    y = g.exponential(1.0, c.size) + c * lev

    def rss_rank(cols: list[np.ndarray]) -> tuple[float, int]:
        a = np.column_stack(cols).astype(float)
        fit = a @ np.linalg.lstsq(a, y, rcond=None)[0]
        return float(((y - fit) ** 2).sum()), int(np.linalg.matrix_rank(a))

    rss_z, rank_z = rss_rank(
        [(lev == a) & (st == b) for a in range(3) for b in range(2)]
        + [(st == b) * c for b in range(2)]
    )
    rss_x, rank_x = rss_rank(
        [(c == a) & (lev == b) & (st == s) for a in (0, 1) for b in range(3) for s in range(2)]
    )
    df1, df2 = rank_x - rank_z, y.size - rank_x
    want = ((rss_z - rss_x) / df1) / (rss_x / df2)
    r = interaction_test(y, c, lev, st, rng=np.random.default_rng(0), n_perm=99)
    assert (r.df1, r.df2) == (df1, df2) == (3, y.size - 11)
    assert r.statistic == pytest.approx(want, rel=1e-10)


def test_p_is_close_to_classical_f_for_normal_data() -> None:
    c, lev, st = design(8, 3, 2)
    g = np.random.default_rng(8)
    y = g.normal(0.0, 1.0, c.size) + 0.5 * c * lev
    r = interaction_test(y, c, lev, st, rng=g, n_perm=9999)
    classical = sps.f.sf(r.statistic, r.df1, r.df2)
    assert abs(r.p - classical) < 0.03


def test_zero_interaction_gives_p_one() -> None:
    # Additive cell means and the same residual pattern in every cell: F = 0
    # up to rounding, and every permuted F* counts as at least as large.
    n = 4
    c, lev, _ = design(n, 3)
    y = 2.0 * c + 0.7 * lev + np.tile([0.1, -0.3, 0.5, -0.3], 6)
    r = interaction_test(y, c, lev, rng=np.random.default_rng(0), n_perm=199)
    assert r.statistic == pytest.approx(0.0, abs=1e-12)
    assert r.p == 1.0


# ------------------------------------------------------------- effects


def test_effects_are_per_level_differences_of_means() -> None:
    c, lev, st = design(4, 3, 2)
    g = np.random.default_rng(2)
    y = g.normal(0.0, 1.0, c.size) + c * lev
    r = interaction_test(y, c, lev, rng=g, n_perm=99)  # strata ignored: one stratum
    want = [y[(c == 1) & (lev == b)].mean() - y[(c == 0) & (lev == b)].mean() for b in range(3)]
    assert r.effects == pytest.approx(want, rel=1e-12)

    # With strata: the average over strata of the within-stratum differences.
    r = interaction_test(y, c, lev, st, rng=g, n_perm=99)
    want = [
        np.mean([
            y[(c == 1) & (lev == b) & (st == s)].mean()
            - y[(c == 0) & (lev == b) & (st == s)].mean()
            for s in range(2)
        ])
        for b in range(3)
    ]
    assert r.effects == pytest.approx(want, rel=1e-12)


def test_effects_nan_where_a_level_lacks_the_condition() -> None:
    c, lev, _ = design(3, 3)
    y = np.arange(c.size, dtype=float) ** 1.5
    y[(c == 1) & (lev == 2)] = np.nan
    r = interaction_test(y, c, lev, rng=np.random.default_rng(0), n_perm=99)
    assert len(r.effects) == 3 and math.isnan(r.effects[2])
    assert not math.isnan(r.effects[0]) and r.df1 == 1 and not math.isnan(r.p)


# ------------------------------------------------- determinism, special cases


def test_same_seed_same_p_and_p_range() -> None:
    c, lev, st = design(4, 3, 2)
    y = np.random.default_rng(1).exponential(1.0, c.size) + 0.5 * c * lev
    a = interaction_test(y, c, lev, st, rng=np.random.default_rng(42), n_perm=999)
    b = interaction_test(y, c, lev, st, rng=np.random.default_rng(42), n_perm=999)
    assert a == b
    assert 1 / 1000 <= a.p <= 1.0 and (a.p * 1000) == pytest.approx(round(a.p * 1000))


def test_nan_values_are_dropped() -> None:
    c, lev, st = design(4, 2, 2)
    y = np.random.default_rng(3).normal(0.0, 1.0, c.size) + c * lev
    clean = interaction_test(y, c, lev, st, rng=np.random.default_rng(7), n_perm=499)
    y_nan = np.concatenate([y, [np.nan, np.nan]])
    c2, lev2, st2 = (np.concatenate([a, [1, 0]]) for a in (c, lev, st))
    dirty = interaction_test(
        y_nan, c2.astype(bool), lev2, st2, rng=np.random.default_rng(7), n_perm=499
    )
    assert dirty == clean and dirty.n == c.size


def _no_test(r: InteractionResult, why: str) -> None:
    assert math.isnan(r.p) and math.isnan(r.statistic) and r.n_perm == 0
    assert why in r.note


def test_degenerate_cases_give_nan_with_note() -> None:
    g = np.random.default_rng(0)
    c, lev, _ = design(4, 2)
    y = g.normal(0.0, 1.0, c.size)

    # Only one level present.
    only0 = lev == 0
    r = interaction_test(y[only0], c[only0], lev[only0], rng=g)
    _no_test(r, "no interaction to test")
    assert r.df1 == 0 and r.effects[0] == pytest.approx(
        y[only0 & (c == 1)].mean() - y[only0 & (c == 0)].mean()
    )

    # Only the reference condition present.
    ref = c == 0
    _no_test(interaction_test(y[ref], c[ref], lev[ref], rng=g), "no interaction to test")

    # One observation per cell: no residual degrees of freedom.
    c1, lev1, _ = design(1, 3)
    r = interaction_test(g.normal(size=6), c1, lev1, rng=g)
    _no_test(r, "no residual degrees of freedom")
    assert (r.df1, r.df2) == (2, 0)

    # All values identical.
    _no_test(interaction_test(np.full(c.size, 3.0), c, lev, rng=g), "identical")

    # Every cell constant (values differ between cells only).
    r = interaction_test(1.0 * c + 2.0 * lev + 3.0 * c * lev, c, lev, rng=g)
    _no_test(r, "no variation within cells")

    # All NaN.
    _no_test(interaction_test(np.full(c.size, np.nan), c, lev, rng=g), "no values")


def test_nothing_is_drawn_without_a_test() -> None:
    g = np.random.default_rng(5)
    state = g.bit_generator.state
    c, lev, _ = design(4, 2)
    interaction_test(np.ones(c.size), c, lev, rng=g)
    assert g.bit_generator.state == state


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"condition": [0, 1, 0]}, "condition"),
        ({"level": [0, 1, 0, 1, 0]}, "level"),
        ({"stratum": [0, 0]}, "stratum"),
        ({"condition": [0, 2, 0, 1]}, "condition"),
        ({"level": [0, -1, 0, 1]}, "level"),
        ({"level": [0, 0.5, 0, 1]}, "level"),
        ({"values": [[1.0, 2.0, 3.0, 4.0]]}, "values"),
        ({"values": [1.0, np.inf, 3.0, 4.0]}, "infinite"),
        ({"n_perm": 0}, "n_perm"),
    ],
)
def test_bad_input_raises_value_error(kwargs: dict, match: str) -> None:
    args = {"values": [1.0, 2.0, 3.0, 4.0], "condition": [0, 1, 0, 1], "level": [0, 0, 1, 1]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        interaction_test(rng=np.random.default_rng(0), **args)


def test_rng_must_be_a_generator() -> None:
    with pytest.raises(TypeError, match="rng"):
        interaction_test([1.0, 2.0], [0, 1], [0, 0], rng=0)  # type: ignore[arg-type]


def test_method_sentence() -> None:
    assert "Freedman-Lane" in METHOD and "interaction" in METHOD
