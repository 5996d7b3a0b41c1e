"""Tests of encephagen_builtins.metrics on hand-made inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from encephagen.errors import DataError
from encephagen_builtins.metrics import (
    activation_entropy,
    breadth,
    coefficient_of_variation,
    effective_dimensionality,
    fisher_ratio,
    linear_slope,
    loo_linear_readout_accuracy,
    loo_nearest_centroid_accuracy,
    mean_cosine_distance,
    min_cosine_distance,
    pattern_means,
    response_diversity,
    trial_consistency,
    working_memory_persistence,
)


def clusters(
    seed: int, n_per: int = 5, k: int = 5, f: int = 12, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` tight clusters around non-negative, distinct directions."""
    g = np.random.default_rng(seed)
    centres = np.zeros((k, f))
    for c in range(k):
        centres[c, 2 * c : 2 * c + 2] = 1.0
    centres += 0.1
    labels = np.repeat(np.arange(k), n_per)
    x = centres[labels] + noise * g.random((k * n_per, f))
    return x, labels


# -------------------------------------------------------------------- phase metrics


def test_cv_known_value() -> None:
    # mean 2.5, population std sqrt(1.25)
    assert coefficient_of_variation(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(math.sqrt(1.25) / 2.5)
    assert coefficient_of_variation(np.array([2.0, 2.0, 2.0])) == 0.0
    assert coefficient_of_variation(np.zeros(9)) == 0.0
    assert coefficient_of_variation(np.array([0.0, 0.0, 3.0])) == pytest.approx(math.sqrt(2.0))


def test_cv_scale_free_and_refuses_bad_rates() -> None:
    r = np.array([0.01, 0.03, 0.02, 0.05])
    assert coefficient_of_variation(7.0 * r) == pytest.approx(coefficient_of_variation(r))
    with pytest.raises(DataError, match="non-negative"):
        coefficient_of_variation(np.array([1.0, -1.0]))
    with pytest.raises(DataError, match="NaN"):
        coefficient_of_variation(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="rates"):
        coefficient_of_variation(np.array([]))


def test_slope_of_a_line() -> None:
    assert linear_slope(3.0 - 0.25 * np.arange(6)) == pytest.approx(-0.25)
    assert linear_slope(np.array([5.0, 5.0])) == 0.0
    y = np.random.default_rng(1).normal(size=10)
    assert linear_slope(y) == pytest.approx(np.polyfit(np.arange(10), y, 1)[0])
    with pytest.raises(DataError, match="at least 2"):
        linear_slope(np.array([1.0]))


@pytest.mark.parametrize(
    "baseline,stim,delay,want",
    [(1.0, 3.0, 2.0, 0.5), (1.0, 3.0, 1.0, 0.0), (1.0, 3.0, 5.0, 2.0), (1.0, 3.0, 0.0, -0.5),
     (2.0, 2.0, 5.0, 0.0), (2.0, 1.0, 5.0, 0.0), (0.0, 0.0, 0.0, 0.0)],
)
def test_working_memory_persistence(baseline: float, stim: float, delay: float, want: float) -> None:
    assert working_memory_persistence(baseline, stim, delay) == pytest.approx(want)


# ----------------------------------------------------------------- discrimination


def test_loo_accuracy_perfect_clusters() -> None:
    x, labels = clusters(0)
    assert loo_nearest_centroid_accuracy(x, labels) == 1.0
    assert loo_linear_readout_accuracy(x, labels) == 1.0
    # labels of any type, in any order
    names = np.array(["e", "d", "c", "b", "a"])[labels]
    perm = np.random.default_rng(0).permutation(labels.size)
    assert loo_nearest_centroid_accuracy(x[perm], names[perm]) == 1.0
    assert loo_linear_readout_accuracy(x[perm], names[perm]) == 1.0


def test_linear_readout_more_features_than_samples() -> None:
    # every feature carries the label (dual solve: 40 features, 8 training samples)
    g = np.random.default_rng(1)
    centres = g.random((3, 40))
    labels = np.repeat(np.arange(3), 3)
    x = centres[labels] + 0.01 * g.random((9, 40))
    assert loo_linear_readout_accuracy(x, labels) == 1.0


def test_linear_readout_sees_what_cosine_cannot() -> None:
    # two labels on the same direction, different lengths: cosine cannot tell
    # them apart, a linear readout with an intercept can
    g = np.random.default_rng(2)
    direction = np.array([1.0, 2.0, 3.0])
    lengths = np.concatenate([1.0 + 0.01 * g.random(6), 3.0 + 0.01 * g.random(6)])
    x = np.outer(lengths, direction)
    labels = np.repeat([0, 1], 6)
    assert loo_linear_readout_accuracy(x, labels) == 1.0
    assert loo_nearest_centroid_accuracy(x, labels) <= 0.75


def test_nearest_centroid_leaves_the_sample_out() -> None:
    # sample 0 = (0, 10) is right with itself in label 0's centroid
    # (2/3, 10/3) but wrong once left out (centroid (1, 0) against (1, 1));
    # samples 1 and 2 are wrong, 3 and 4 right: LOO 2/5 (in-sample 3/5)
    x = np.array([[0.0, 10.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    labels = np.array([0, 0, 0, 1, 1])
    assert loo_nearest_centroid_accuracy(x, labels) == pytest.approx(2 / 5)


def brute_force_centroid_accuracy(x: np.ndarray, labels: np.ndarray) -> float:
    classes = sorted(set(labels.tolist()))
    right = 0
    for i in range(len(x)):
        sims = []
        for c in classes:
            members = [j for j in range(len(x)) if labels[j] == c and j != i]
            cent = np.mean(x[members], axis=0)
            na, nb = np.linalg.norm(x[i]), np.linalg.norm(cent)
            sims.append(0.0 if na == 0 or nb == 0 else float(x[i] @ cent) / (na * nb))
        best = next(c for c, sim in zip(classes, sims) if sim >= max(sims) - 1e-12)
        right += best == labels[i]
    return right / len(x)


def test_nearest_centroid_ties_go_to_lowest_label_and_zero_vectors() -> None:
    # every sample and centroid is zero: cosine 0 everywhere, so everything
    # is assigned the lowest label
    x = np.zeros((6, 3))
    labels = np.array([2, 2, 1, 1, 0, 0])
    assert loo_nearest_centroid_accuracy(x, labels) == pytest.approx(2 / 6)


def test_discrimination_refuses_bad_input() -> None:
    x, labels = clusters(0)
    with pytest.raises(DataError, match="at least 2 per label"):
        loo_nearest_centroid_accuracy(x[:6], labels[:6])
    with pytest.raises(DataError, match="labels"):
        loo_linear_readout_accuracy(x, labels[:-1])
    with pytest.raises(DataError, match="2 distinct labels"):
        loo_nearest_centroid_accuracy(x[:5], labels[:5])
    with pytest.raises(ValueError, match="ridge"):
        loo_linear_readout_accuracy(x, labels, ridge=0.0)


# ---------------------------------------------------------------- response diversity


def test_identical_response_vectors() -> None:
    v = np.array([0.1, 0.2, 0.3, 0.4])
    x = np.tile(v, (8, 1))
    labels = np.repeat([0, 1], 4)
    assert trial_consistency(x, labels) == pytest.approx(1.0)
    assert fisher_ratio(x, labels) == 0.0
    assert mean_cosine_distance(x, labels) == pytest.approx(0.0, abs=1e-12)
    assert effective_dimensionality(x) == 0.0
    assert breadth(x, labels) == 0


def test_noise_free_separated_patterns_have_infinite_fisher_ratio() -> None:
    x = np.repeat(np.eye(3), 2, axis=0)
    labels = np.repeat([0, 1, 2], 2)
    assert fisher_ratio(x, labels) == math.inf


def test_fisher_ratio_by_hand() -> None:
    # 1-D: label 0 = {0, 2}, label 1 = {4, 6}; means 1, 5, grand 3
    x = np.array([[0.0], [2.0], [4.0], [6.0]])
    labels = np.array([0, 0, 1, 1])
    between = 2 * (1 - 3) ** 2 + 2 * (5 - 3) ** 2  # 16
    within = 1 + 1 + 1 + 1  # 4
    assert fisher_ratio(x, labels) == pytest.approx(between / within)


def test_entropy_uniform_and_one_hot() -> None:
    n = 7
    uniform = np.full((4, n), 0.3)
    labels = np.array([0, 0, 1, 1])
    assert activation_entropy(uniform, labels) == pytest.approx(math.log(n))
    one_hot = np.zeros((4, n))
    one_hot[:2, 3] = 2.0
    one_hot[2:, 5] = 0.5
    assert activation_entropy(one_hot, labels) == 0.0
    # average over patterns: one uniform, one one-hot
    mixed = np.vstack([uniform[:2], one_hot[2:]])
    assert activation_entropy(mixed, labels) == pytest.approx(math.log(n) / 2)
    # a zero pattern has entropy 0
    with_zero = np.vstack([uniform[:2], np.zeros((2, n))])
    assert activation_entropy(with_zero, labels) == pytest.approx(math.log(n) / 2)
    with pytest.raises(DataError, match="non-negative"):
        activation_entropy(-uniform, labels)


def test_orthogonal_pattern_means() -> None:
    x = np.repeat(np.eye(4) * 0.2, 3, axis=0)
    labels = np.repeat(np.arange(4), 3)
    assert mean_cosine_distance(x, labels) == pytest.approx(1.0)
    assert min_cosine_distance(x, labels) == pytest.approx(1.0)
    assert trial_consistency(x, labels) == pytest.approx(1.0)


def test_cosine_distance_by_hand() -> None:
    # pattern means (1, 0), (1, 1), (0, 1): distances 1 - 1/sqrt2, 1, 1 - 1/sqrt2
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    labels = np.repeat([0, 1, 2], 2)
    close = 1 - 1 / math.sqrt(2)
    assert min_cosine_distance(x, labels) == pytest.approx(close)
    assert mean_cosine_distance(x, labels) == pytest.approx((2 * close + 1) / 3)
    np.testing.assert_allclose(pattern_means(x, labels), [[1, 0], [1, 1], [0, 1]])


def test_trial_consistency_by_hand() -> None:
    # label 0: trials at 0 and 90 degrees -> cos 0; label 1: three equal trials -> 1
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [1.0, 1.0], [3.0, 3.0]])
    labels = np.array([0, 0, 1, 1, 1])
    assert trial_consistency(x, labels) == pytest.approx(0.5)


def test_participation_ratio_constructed_covariance() -> None:
    # rows +-e_i (i < 3) have a covariance proportional to diag(1, 1, 1, 0, 0)
    rows = []
    for i in range(3):
        for sign in (1.0, -1.0):
            v = np.zeros(5)
            v[i] = sign
            rows.append(v)
    x = np.array(rows) + 0.5  # a shift changes nothing
    assert effective_dimensionality(x) == pytest.approx(3.0)
    # eigenvalues (4, 1): PR = 25 / 17
    y = np.array([[2.0, 1.0], [-2.0, -1.0], [2.0, -1.0], [-2.0, 1.0]])
    assert effective_dimensionality(y) == pytest.approx(25 / 17)


def test_participation_ratio_isotropic_and_independent() -> None:
    g = np.random.default_rng(3)
    x = g.normal(size=(4000, 6))
    assert effective_dimensionality(x) == pytest.approx(6.0, rel=0.02)
    z = g.normal(size=(12, 8)) * np.array([3.0, 1, 1, 0.5, 0.1, 2, 1, 1])
    lam = np.linalg.eigvalsh(np.cov(z, rowvar=False))
    assert effective_dimensionality(z) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2))


def test_breadth_by_hand() -> None:
    # region 0: pattern means 1.0 / 1.05 around grand 1.025 -> 2.4 % (no)
    # region 1: 1 / 3 around 2 -> 50 % (yes); region 2: all zero (no);
    # region 3: 0.8 / 1.2 around 1.0 -> 20 % (yes)
    x = np.array(
        [[1.0, 1.0, 0.0, 0.8], [1.0, 1.0, 0.0, 0.8], [1.05, 3.0, 0.0, 1.2], [1.05, 3.0, 0.0, 1.2]]
    )
    labels = np.array([0, 0, 1, 1])
    assert breadth(x, labels) == 2
    assert breadth(x, labels, threshold=0.01) == 3
    assert breadth(x, labels, threshold=0.3) == 1


def test_response_diversity_names_and_values() -> None:
    x, labels = clusters(4, n_per=8, k=5, f=20)
    out = response_diversity(x, labels)
    assert list(out) == [
        "cos_dist_mean", "cos_dist_min", "consistency", "fisher", "dimensionality", "breadth", "entropy"
    ]
    assert all(isinstance(v, float) for v in out.values())
    assert out["cos_dist_mean"] == mean_cosine_distance(x, labels)
    assert out["cos_dist_min"] == min_cosine_distance(x, labels)
    assert out["consistency"] == trial_consistency(x, labels)
    assert out["fisher"] == fisher_ratio(x, labels)
    assert out["dimensionality"] == effective_dimensionality(x)
    assert out["breadth"] == breadth(x, labels)
    assert out["entropy"] == activation_entropy(x, labels)
    assert out["fisher"] > 10 and out["consistency"] > 0.95


def test_response_diversity_refuses_single_trials() -> None:
    x = np.ones((3, 4))
    with pytest.raises(DataError, match="at least 2 per label"):
        response_diversity(x, np.array([0, 1, 2]))
    with pytest.raises(DataError, match="NaN"):
        response_diversity(np.full((4, 4), np.nan), np.array([0, 0, 1, 1]))


# ------------------------------------------------------------------------ properties


@st.composite
def labelled_rates(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(2, 4))
    per = draw(st.integers(2, 4))
    f = draw(st.integers(1, 8))
    x = draw(hnp.arrays(np.float64, (k * per, f), elements=st.floats(0.0, 10.0)))
    labels = np.repeat(np.arange(k), per)
    return x, labels


@settings(max_examples=50, deadline=None)
@given(labelled_rates())
def test_bounds_hold(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, labels = data
    n_regions = x.shape[1]
    for acc in (loo_nearest_centroid_accuracy(x, labels), loo_linear_readout_accuracy(x, labels)):
        assert 0.0 <= acc <= 1.0
    h = activation_entropy(x, labels)
    assert 0.0 <= h <= math.log(n_regions) + 1e-9
    lo, mean = min_cosine_distance(x, labels), mean_cosine_distance(x, labels)
    assert 0.0 <= lo <= mean + 1e-12 <= 2.0 + 1e-12
    assert -1.0 <= trial_consistency(x, labels) <= 1.0
    assert fisher_ratio(x, labels) >= 0.0
    dim = effective_dimensionality(x)
    assert dim == 0.0 or 1.0 - 1e-9 <= dim <= min(x.shape[0] - 1, n_regions) + 1e-9
    assert 0 <= breadth(x, labels) <= n_regions


@settings(max_examples=40, deadline=None)
@given(labelled_rates())
def test_nearest_centroid_matches_brute_force(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, labels = data
    x = np.round(x, 1)  # coarse values make exact ties and zero vectors likely
    assert loo_nearest_centroid_accuracy(x, labels) == pytest.approx(brute_force_centroid_accuracy(x, labels))


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(4, 10), st.integers(1, 6)), elements=st.floats(-5.0, 5.0))
)
def test_cosine_distance_bounds_with_signed_values(x: np.ndarray) -> None:
    labels = np.arange(x.shape[0]) % 2
    assert 0.0 <= min_cosine_distance(x, labels) <= mean_cosine_distance(x, labels) + 1e-12 <= 2.0 + 1e-12
