"""Graph measures against closed forms, a hand computation and independent brute-force versions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from encephagen import graph_measures as gm


def complete(n: int) -> np.ndarray:
    return np.ones((n, n)) - np.eye(n)


def ring(n: int, k: int) -> np.ndarray:
    """Undirected ring lattice: each region joined to its k nearest neighbours on each side."""
    w = np.zeros((n, n))
    for i in range(n):
        for step in range(1, k + 1):
            w[i, (i + step) % n] = w[(i + step) % n, i] = 1.0
    return w


def cliques(*sizes: int) -> np.ndarray:
    """Disjoint complete graphs of these sizes, in this order."""
    n = sum(sizes)
    w = np.zeros((n, n))
    start = 0
    for s in sizes:
        w[start : start + s, start : start + s] = 1.0
        start += s
    np.fill_diagonal(w, 0.0)
    return w


#: Hand-computed example: 0->1, 1->2, 2->0, 0->2, 2->3 (rows = sources).
HAND = np.zeros((4, 4))
for _s, _d in [(0, 1), (1, 2), (2, 0), (0, 2), (2, 3)]:
    HAND[_s, _d] = 1.0


def random_graph(n: int, p: float, seed: int, symmetric: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = (rng.random((n, n)) < p) * rng.uniform(0.5, 3.0, (n, n))
    if symmetric:
        w = np.triu(w, 1)
        w = w + w.T
    np.fill_diagonal(w, 0.0)
    return w


# -- closed forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 6, 11])
def test_complete_graph_has_clustering_one_path_length_one_and_a_full_rich_club(n: int) -> None:
    w = complete(n) * 2.5 + np.eye(n) * 7.0  # weights and self-loops do not count
    assert gm.clustering(w) == pytest.approx(1.0)
    assert gm.path_length(w) == 1.0
    assert gm.rich_club(w, n - 2) == 1.0 and math.isnan(gm.rich_club(w, n - 1))
    assert gm.jaccard(w, w) == 1.0


@pytest.mark.parametrize("n,k", [(21, 2), (25, 3), (41, 4), (13, 1)])
def test_ring_lattice_clustering_and_path_length_are_the_closed_forms(n: int, k: int) -> None:
    w = ring(n, k)
    # Watts & Strogatz (1998): every region has clustering 3(k - 1) / (2(2k - 1)).
    assert gm.clustering(w) == pytest.approx(3 * (k - 1) / (2 * (2 * k - 1)))
    # n = 2km + 1: every region sees 2k regions at each distance 1..m, so L = (m + 1) / 2.
    m = (n - 1) // (2 * k)
    assert n == 2 * k * m + 1
    assert gm.path_length(w) == pytest.approx((m + 1) / 2)
    # Every degree is 2k: below it the rich club is everyone (the density), at it nobody.
    assert gm.rich_club(w, 2 * k - 1) == pytest.approx(2 * k / (n - 1))
    assert math.isnan(gm.rich_club(w, 2 * k))


def test_two_disjoint_equal_cliques_have_modularity_one_half_and_are_found() -> None:
    w = cliques(5, 5)
    q, labels = gm.modularity(w)
    assert q == pytest.approx(0.5)
    assert labels.tolist() == [0] * 5 + [1] * 5
    assert gm.partition_modularity(w, np.zeros(10, dtype=int)) == pytest.approx(0.0)


def test_unequal_cliques_and_a_barbell_get_the_modularity_of_their_cliques() -> None:
    # Q = sum_c (L_c / m - (d_c / 2m)^2): cliques of 4 and 6 have m = 21, d = 12 and 30.
    q, labels = gm.modularity(cliques(4, 6))
    assert q == pytest.approx(1 - (12**2 + 30**2) / 42**2) and labels.tolist() == [0] * 4 + [1] * 6
    barbell = cliques(5, 5)
    barbell[4, 5] = barbell[5, 4] = 1.0  # one bridge: m = 21, each side L = 10, d = 21
    q, labels = gm.modularity(barbell)
    assert q == pytest.approx(2 * (10 / 21 - 0.25)) and labels.tolist() == [0] * 5 + [1] * 5


def test_jaccard_of_identical_disjoint_and_overlapping_edge_sets() -> None:
    upper, lower = np.triu(complete(5)), np.tril(complete(5))
    assert gm.jaccard(upper, upper * 3.0) == 1.0  # weights do not count
    assert gm.jaccard(upper, lower) == 0.0
    assert gm.jaccard(np.eye(3), np.zeros((3, 3))) == 1.0  # self-loops are not edges; no edges on either side
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    a[0, 1] = a[1, 2] = a[2, 0] = 1.0
    b[0, 1] = b[1, 0] = b[1, 2] = 1.0
    assert gm.jaccard(a, b) == pytest.approx(2 / 4)  # shared {01, 12} of {01, 12, 20, 10}
    with pytest.raises(ValueError, match="shapes"):
        gm.jaccard(a, complete(4))


# -- one graph by hand ----------------------------------------------------------------------------


def test_every_measure_of_a_small_directed_graph_matches_the_hand_computation() -> None:
    # Clustering: S = A + A^T; C_i = (S^3)_ii / (2 (d_i (d_i - 1) - 2 r_i)):
    # region 0: 4 / (2 (3*2 - 2)) = 1/2; 1: 4 / (2 * 2) = 1; 2: 4 / (2 (4*3 - 2)) = 1/5; 3: degree 1, 0.
    assert gm.clustering(HAND) == pytest.approx((0.5 + 1.0 + 0.2 + 0.0) / 4)
    # Path lengths: from 0: 1, 1, 2; from 1: 2, 1, 2; from 2: 1, 2, 1; region 3 reaches nobody.
    assert gm.path_length(HAND) == pytest.approx(13 / 9)
    # Undirected: edges 01, 12, 02, 23; m = 4; degrees 2, 2, 3, 1.
    assert gm.degree(HAND).tolist() == [2, 2, 3, 1]
    assert gm.partition_modularity(HAND, np.array([0, 0, 0, 1])) == pytest.approx(3 / 4 - (7 / 8) ** 2 - (1 / 8) ** 2)
    assert gm.partition_modularity(HAND, np.array([0, 0, 1, 1])) == pytest.approx(0.0)
    # Rich club: degree > 1 is {0, 1, 2}, all three pairs joined; > 0 is everyone, 4 of 6 pairs.
    assert gm.rich_club(HAND, 1) == 1.0 and gm.rich_club(HAND, 0) == pytest.approx(4 / 6)
    assert math.isnan(gm.rich_club(HAND, 2))


def test_path_length_without_any_path_is_nan_and_modularity_without_edges_too() -> None:
    assert math.isnan(gm.path_length(np.eye(4)))
    q, labels = gm.modularity(np.zeros((4, 4)))
    assert math.isnan(q) and labels.tolist() == [0, 0, 0, 0]


# -- against independent implementations ----------------------------------------------------------


def brute_clustering(w: np.ndarray) -> float:
    """Fagiolo's directed clustering by counting: (1/2) sum_jh (a_ij + a_ji)(a_ih + a_hi)(a_jh + a_hj) over possible ones."""
    a = (w != 0).astype(int)
    np.fill_diagonal(a, 0)
    n = len(a)
    out = []
    for i in range(n):
        t = sum((a[i, j] + a[j, i]) * (a[i, h] + a[h, i]) * (a[j, h] + a[h, j]) for j in range(n) for h in range(n) if len({i, j, h}) == 3) / 2
        d = a[i].sum() + a[:, i].sum()
        possible = d * (d - 1) - 2 * sum(a[i, j] * a[j, i] for j in range(n))
        out.append(t / possible if possible else 0.0)
    return float(np.mean(out))


def brute_undirected_clustering(w: np.ndarray) -> float:
    """Watts-Strogatz: the fraction of a region's neighbour pairs that are joined."""
    a = w != 0
    out = []
    for i in range(len(a)):
        nb = [j for j in range(len(a)) if j != i and a[i, j]]
        pairs = list(itertools.combinations(nb, 2))
        out.append(sum(a[j, h] for j, h in pairs) / len(pairs) if pairs else 0.0)
    return float(np.mean(out))


def brute_path_length(w: np.ndarray) -> float:
    """Breadth-first search from every region, in plain Python."""
    a = w != 0
    n = len(a)
    total = count = 0
    for s in range(n):
        dist = {s: 0}
        frontier = [s]
        while frontier:
            nxt = []
            for u in frontier:
                for v in range(n):
                    if v != u and a[u, v] and v not in dist:
                        dist[v] = dist[u] + 1
                        nxt.append(v)
            frontier = nxt
        total += sum(d for v, d in dist.items() if v != s)
        count += len(dist) - 1
    return total / count


@pytest.mark.parametrize("seed", range(4))
def test_clustering_and_path_length_agree_with_brute_force(seed: int) -> None:
    w = random_graph(12, 0.25, seed)
    assert gm.clustering(w) == pytest.approx(brute_clustering(w))
    assert gm.path_length(w) == pytest.approx(brute_path_length(w))
    sym = random_graph(12, 0.3, seed, symmetric=True)
    assert gm.clustering(sym) == pytest.approx(brute_undirected_clustering(sym))
    assert gm.clustering(sym) == pytest.approx(brute_clustering(sym))


def set_partitions(n: int) -> list[list[int]]:
    """Every partition of n regions, as restricted growth strings (4140 for n = 8)."""
    out = [[0]]
    for _ in range(n - 1):
        out = [p + [c] for p in out for c in range(max(p) + 2)]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_modularity_is_that_of_its_partition_and_at_most_the_best_partition(seed: int) -> None:
    w = random_graph(8, 0.35, seed)
    q, labels = gm.modularity(w)
    assert q == pytest.approx(gm.partition_modularity(w, labels))
    best = max(gm.partition_modularity(w, np.array(p)) for p in set_partitions(8))
    assert q <= best + 1e-12
    assert labels[0] == 0 and set(labels.tolist()) == set(range(labels.max() + 1))  # numbered by first appearance


@pytest.mark.parametrize("seed", range(3))
def test_measures_do_not_depend_on_the_order_of_regions(seed: int) -> None:
    w = random_graph(20, 0.3, seed)
    perm = np.random.default_rng(seed + 100).permutation(20)
    p = w[np.ix_(perm, perm)]
    k = gm.rich_club_level(w)
    assert gm.rich_club_level(p) == k
    for name, value in gm.measures(w, k).items():
        assert gm.measures(p, k)[name] == pytest.approx(value), name
    other = random_graph(20, 0.3, seed + 7)
    assert gm.jaccard(p, other[np.ix_(perm, perm)]) == pytest.approx(gm.jaccard(w, other))


def test_the_rich_club_level_puts_the_top_fifth_in_the_club() -> None:
    star = np.zeros((6, 6))
    star[0, 1:] = 1.0  # undirected degrees 5, 1, 1, 1, 1, 1: ceil(0.2 * 6) = 2, the second is 1
    assert gm.rich_club_level(star) == 0 and gm.rich_club_level(star, 1 / 6) == 4
    assert gm.rich_club_level(ring(21, 2)) == 3  # all tie at 4: everyone is in
    for seed in range(5):
        w = random_graph(30, 0.3, seed)
        d, k = gm.degree(w), gm.rich_club_level(w)
        assert (d > k).sum() >= 6 and (d > k + 1).sum() < 6  # the largest k with a club of at least 6


def test_a_surrogate_of_the_96_region_set_is_measured_well_under_a_second() -> None:
    import time

    from encephagen.cli import _load_connectome
    from encephagen.connectome_view import distance
    from encephagen_builtins.null_models import DegreePreserving

    conn = _load_connectome("tvb:connectivity_96")
    surrogate = DegreePreserving().randomize(conn, np.random.default_rng(0)).weights
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        j, changes = distance(conn.weights, surrogate)
        times.append(time.perf_counter() - t0)
    assert min(times) < 1.0
    # Same edge count: keeping a fraction f of the edges is Jaccard f / (2 - f).
    kept = np.count_nonzero(gm.edges(conn.weights) & gm.edges(surrogate)) / conn.n_edges
    assert j == pytest.approx(kept / (2 - kept)) and 0.5 < kept < 0.7
    assert [m for m, *_ in changes] == ["clustering", "path_length", "modularity", f"rich_club(k={gm.rich_club_level(conn.weights)})"]
