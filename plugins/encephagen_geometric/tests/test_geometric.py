"""The geometric null model, tested with encephagen's conformance kit and against math."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encephagen.connectome import Connectome
from encephagen.errors import ConfigError, DataError
from encephagen.invariants import check_invariants
from encephagen.plugins import default_registry
from encephagen.testing import check_component_class, null_model_checks
from encephagen.testing.strategies import connectomes
from encephagen_geometric import Geometric
from encephagen_geometric.geometric import candidate_pairs, pair_distances, placement_probabilities

MODELS = [Geometric(), Geometric(length_scale_mm=5.0), Geometric(length_scale_mm=1e4, distance="centres")]


def _line(xs: list[float], weights: np.ndarray, *, tracts: np.ndarray | None = None, positions: bool = True) -> Connectome:
    """Regions at ``x`` mm on a line, with these weights (rows = sources)."""
    n = len(xs)
    pos = np.zeros((n, 3))
    pos[:, 0] = xs
    return Connectome(
        weights=weights,
        labels=[f"R{i}" for i in range(n)],
        positions=pos if positions else None,
        tract_lengths=tracts,
        groups={"all": tuple(range(n))},
        name="line",
    )


def _placed(c: Connectome, undirected: bool = False) -> set[tuple[int, int]]:
    b = np.triu(c.between, 1) if undirected else c.between
    return {(int(s), int(d)) for s, d in np.argwhere(b != 0)}


# -- the conformance kit ----------------------------------------------------------------


def test_component_class() -> None:
    check_component_class(Geometric, "null_model")
    assert Geometric().length_scale_mm == 20.0 and Geometric().distance == "auto"


@pytest.mark.parametrize("model", MODELS, ids=repr)
@pytest.mark.parametrize("check", null_model_checks(), ids=lambda c: c.__name__)
def test_conformance(check, model: Geometric) -> None:
    check(model)


def test_registered_through_the_entry_point() -> None:
    entry = default_registry().entry("null_model", "geometric")
    assert entry.cls is Geometric
    assert entry.distribution == "encephagen-geometric" and entry.version == "0.1.0"


@pytest.mark.parametrize(
    "value,error", [(0, ValueError), (-1.0, ValueError), (math.nan, ValueError), (math.inf, ValueError),
                    (True, TypeError), ("20", TypeError)],
)
def test_length_scale_is_a_finite_positive_number(value: object, error: type) -> None:
    with pytest.raises(error, match="length_scale_mm"):
        Geometric(length_scale_mm=value)


def test_distance_is_one_of_the_sources() -> None:
    with pytest.raises(ValueError, match="distance"):
        Geometric(distance="euclid")


# -- property tests -----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(conn=connectomes(), length=st.floats(1.0, 1000.0), seed=st.integers(0, 2**32 - 1))
def test_declared_invariants_hold_on_any_connectome(conn: Connectome, length: float, seed: int) -> None:
    model = Geometric(length_scale_mm=length)
    out = model.randomize(conn, np.random.default_rng(seed))
    assert check_invariants(model, conn, out) == []
    assert out.history[-1].startswith("geometric(")


@settings(max_examples=40, deadline=None)
@given(conn=connectomes(min_regions=2), length=st.floats(1.0, 1000.0))
def test_placement_probabilities_follow_the_exponential_rule(conn: Connectome, length: float) -> None:
    dist, _ = pair_distances(conn)
    _, _, d = candidate_pairs(dist, conn.is_symmetric)
    p = placement_probabilities(d, length)
    assert math.isclose(p.sum(), 1.0, rel_tol=1e-12)
    near, far = np.argmin(d), np.argmax(d)
    # ratio of any two pairs: exp((d_far - d_near) / L), as long as it is representable
    if (d[far] - d[near]) / length < 700:
        assert math.isclose(p[near] / p[far], math.exp((d[far] - d[near]) / length), rel_tol=1e-9)
    order = np.argsort(d, kind="stable")
    assert np.all(np.diff(p[order]) <= 0), "a farther pair got a larger probability"


# -- the law of the draw, against exact enumeration ---------------------------------------------


def _exact_law(d: np.ndarray, p: np.ndarray, m: int) -> tuple[np.ndarray, float, float]:
    """Inclusion probability of every pair and mean/variance of the mean edge length, by enumeration.

    Successive sampling without replacement: the k-th pair is drawn from the
    pairs not yet drawn with probability proportional to ``p``.
    """
    incl = np.zeros(d.size)
    mean = second = 0.0
    for seq in itertools.permutations(range(d.size), m):
        prob, left = 1.0, 1.0
        for k in seq:
            prob *= p[k] / left
            left -= p[k]
        incl[list(seq)] += prob
        x = d[list(seq)].mean()
        mean += prob * x
        second += prob * x * x
    return incl, mean, second - mean * mean


def test_draws_follow_successive_sampling_and_shorter_scales_give_shorter_edges() -> None:
    xs = [0.0, 10.0, 25.0, 45.0]
    w = np.zeros((4, 4))
    w[0, 3] = 1.0
    w[2, 1] = 2.0
    w[3, 2] = 3.0
    conn = _line(xs, w)
    src, dst, d = candidate_pairs(pair_distances(conn)[0], False)
    runs = 2000
    exact_means, sample_means = [], []
    for length in (5.0, 20.0, 80.0):
        model = Geometric(length_scale_mm=length)
        incl, mean, var = _exact_law(d, placement_probabilities(d, length), 3)
        hits = np.zeros(d.size)
        lengths = np.empty(runs)
        for seed in range(runs):
            b = model.randomize(conn, np.random.default_rng(seed)).between[src, dst] != 0
            hits += b
            lengths[seed] = d[b].mean()
        se_incl = np.sqrt(incl * (1 - incl) / runs)
        assert np.all(np.abs(hits / runs - incl) <= 4.5 * se_incl + 1e-12), (length, hits / runs, incl)
        assert abs(lengths.mean() - mean) <= 4.5 * math.sqrt(var / runs), (length, lengths.mean(), mean)
        exact_means.append(mean)
        sample_means.append(lengths.mean())
    assert exact_means[0] < exact_means[1] < exact_means[2]
    assert sample_means[0] < sample_means[1] < sample_means[2]


def test_mean_edge_length_grows_with_the_length_scale_between_its_limits() -> None:
    """Bracketed by the m shortest pairs (L -> 0) and uniform sampling (L -> infinity)."""
    rng = np.random.default_rng(11)
    n = 20
    w = (rng.random((n, n)) < 0.25) * rng.integers(1, 4, size=(n, n)).astype(float)
    np.fill_diagonal(w, 0.0)
    pos = rng.uniform(-50, 50, size=(n, 3))
    conn = Connectome(weights=w, labels=[f"R{i}" for i in range(n)], positions=pos, name="cube")
    src, dst, d = candidate_pairs(pair_distances(conn)[0], False)
    m, pairs, runs = conn.n_edges, d.size, 60
    shortest = np.sort(d)[:m].mean()
    # uniform sampling without replacement: mean of all pairs, variance with the finite-population correction
    uniform, se = d.mean(), math.sqrt(d.var() / m * (pairs - m) / (pairs - 1) / runs)
    means = []
    for length in (2.0, 10.0, 40.0, 1e7):
        model = Geometric(length_scale_mm=length)
        means.append(np.mean([d[model.randomize(conn, np.random.default_rng(s)).between[src, dst] != 0].mean()
                              for s in range(runs)]))
    assert shortest < means[0] < means[1] < means[2] < means[3]
    assert abs(means[3] - uniform) <= 4.5 * se


def test_a_very_short_scale_wires_the_shortest_pairs() -> None:
    """Pairs 1 mm apart in distance and L = 0.05 mm: the m shortest pairs win (up to e^-20)."""
    rng = np.random.default_rng(4)
    n = 5
    tracts = np.zeros((n, n))
    off = ~np.eye(n, dtype=bool)
    tracts[off] = 10.0 + rng.permutation(n * (n - 1))
    w = np.zeros((n, n))
    w[off] = (rng.permutation(n * (n - 1)) < 6) * 2.0
    conn = _line([0.0] * n, w, tracts=tracts, positions=False)
    want = {(int(s), int(t)) for s, t in np.argwhere(off & (tracts < 16.0))}
    for seed in range(20):
        assert _placed(Geometric(length_scale_mm=0.05).randomize(conn, np.random.default_rng(seed))) == want


def test_weights_are_dealt_regardless_of_distance() -> None:
    """With the placement fixed (a very short scale), every weight is equally likely on the shortest pair."""
    n, runs = 4, 300
    tracts = np.zeros((n, n))
    off = ~np.eye(n, dtype=bool)
    tracts[off] = 10.0 + np.arange(n * (n - 1))
    w = np.zeros((n, n))
    w[off] = np.r_[1.0:7.0, [0.0] * 6]  # weights 1..6 on the six shortest pairs, in order of length
    conn = _line([0.0] * n, w, tracts=tracts, positions=False)
    shortest = np.unravel_index(np.argmin(np.where(off, tracts, np.inf)), tracts.shape)
    landed = [Geometric(length_scale_mm=0.05).randomize(conn, np.random.default_rng(s)).weights[shortest] for s in range(runs)]
    counts = np.bincount(np.asarray(landed, dtype=int), minlength=7)[1:]
    se = math.sqrt(runs * (1 / 6) * (5 / 6))
    assert np.all(np.abs(counts - runs / 6) <= 4.5 * se), counts


def test_undirected_input_draws_pairs_at_the_mean_of_both_directions() -> None:
    rng = np.random.default_rng(5)
    n = 5
    iu, ju = np.triu_indices(n, 1)
    means = 10.0 + rng.permutation(iu.size)  # distinct unordered distances, 1 mm apart
    skew = rng.uniform(-5.0, 5.0, iu.size)  # each direction may differ from the mean by up to 5 mm
    tracts = np.zeros((n, n))
    tracts[iu, ju], tracts[ju, iu] = means + skew, means - skew
    w = np.zeros((n, n))
    keep = rng.permutation(iu.size) < 4
    w[iu[keep], ju[keep]] = [1.0, 2.0, 2.0, 3.0]
    w = w + w.T
    conn = _line([0.0] * n, w, tracts=tracts, positions=False)
    want = {(int(iu[k]), int(ju[k])) for k in np.argsort(means)[:4]}
    for seed in range(10):
        out = Geometric(length_scale_mm=0.05).randomize(conn, np.random.default_rng(seed))
        assert out.is_symmetric and _placed(out, undirected=True) == want
        assert sorted(out.between[out.between != 0]) == sorted(w[w != 0])


def test_too_short_a_scale_is_refused_naming_the_parameter() -> None:
    tracts = np.array([[0, 1, 50, 90], [1, 0, 40, 80], [50, 40, 0, 30], [90, 80, 30, 0]], dtype=float)
    w = np.ones((4, 4)) - np.eye(4)
    conn = _line([0.0] * 4, w, tracts=tracts, positions=False)
    with pytest.raises(ConfigError) as err:
        Geometric(length_scale_mm=0.01).randomize(conn, np.random.default_rng(0))
    assert err.value.problems[0][0] == "length_scale_mm" and "raise length_scale_mm" in str(err.value)


# -- where distances come from ----------------------------------------------------------------


def test_centre_distances_stand_in_for_missing_tract_lengths() -> None:
    xs = [0.0, 3.0, 11.0, 30.0, 31.0, 70.0]
    rng = np.random.default_rng(2)
    w = (rng.random((6, 6)) < 0.4) * 1.0
    np.fill_diagonal(w, [1.0, 0, 0, 2.0, 0, 0])
    centres_only = _line(xs, w)
    euclid = np.abs(np.subtract.outer(xs, xs))
    with_tracts = _line(xs, w, tracts=euclid)
    model = Geometric(length_scale_mm=8.0)
    for seed in range(5):
        a = model.randomize(centres_only, np.random.default_rng(seed))
        b = model.randomize(with_tracts, np.random.default_rng(seed))
        c = Geometric(length_scale_mm=8.0, distance="centres").randomize(with_tracts, np.random.default_rng(seed))
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.weights, c.weights)
    assert "distance=centres" in a.history[-1] and "distance=tract_lengths" in b.history[-1]


def test_tract_lengths_are_preferred_over_centres() -> None:
    xs = [0.0, 10.0, 20.0]
    w = np.zeros((3, 3))
    w[0, 1] = 1.0
    tracts = np.array([[0, 90, 5], [90, 0, 90], [90, 90, 0]], dtype=float)  # only 0 -> 2 is short as a tract
    out = Geometric(length_scale_mm=0.5).randomize(_line(xs, w, tracts=tracts), np.random.default_rng(0))
    assert _placed(out) == {(0, 2)}


@pytest.mark.parametrize(
    "distance,tracts,positions,field",
    [("auto", False, False, "tract_lengths"), ("tract_lengths", False, True, "tract_lengths"),
     ("centres", True, False, "positions")],
)
def test_missing_distances_are_a_data_error_naming_the_field(distance: str, tracts: bool, positions: bool, field: str) -> None:
    w = np.ones((3, 3)) - np.eye(3)
    t = np.full((3, 3), 10.0) - 10.0 * np.eye(3) if tracts else None
    conn = _line([0.0, 1.0, 2.0], w, tracts=t, positions=positions)
    with pytest.raises(DataError) as err:
        Geometric(distance=distance).randomize(conn, np.random.default_rng(0))
    assert len(err.value.problems) == 1 and err.value.problems[0][0] == field


def test_unmeasured_zero_tract_lengths_are_refused() -> None:
    """Data sets store 0 for a tract that was not measured; those pairs must not be wired first."""
    tracts = np.array([[0, 12, 0], [12, 0, 20], [0, 20, 0]], dtype=float)
    w = np.zeros((3, 3))
    w[0, 1] = w[1, 2] = 1.0
    conn = _line([0.0, 12.0, 30.0], w, tracts=tracts)
    with pytest.raises(DataError) as err:
        Geometric().randomize(conn, np.random.default_rng(0))
    assert err.value.problems[0][0] == "tract_lengths" and "distance: centres" in str(err.value)
    out = Geometric(distance="centres").randomize(conn, np.random.default_rng(0))
    assert out.n_edges == 2


def test_missing_tract_lengths_are_refused() -> None:
    """A tract length the study left missing (NaN, ``missing_lengths: refuse``) is no distance to place by."""
    tracts = np.array([[0, 12, np.nan], [12, 0, 20], [np.nan, 20, 0]], dtype=float)
    w = np.zeros((3, 3))
    w[0, 1] = w[1, 2] = 1.0
    conn = _line([0.0, 12.0, 30.0], w, tracts=tracts)
    with pytest.raises(DataError) as err:
        Geometric().randomize(conn, np.random.default_rng(0))
    (field, message), = err.value.problems
    assert field == "tract_lengths" and message.startswith("2 pairs") and "missing_lengths: distances" in message
    filled = Geometric().randomize(conn.with_lengths_filled(), np.random.default_rng(0))
    assert "distance=tract_lengths" in filled.history[-1] and filled.n_edges == 2
