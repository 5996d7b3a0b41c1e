"""Graph measures of a wiring diagram, to say how far a surrogate is from its connectome.

Every measure reads the between-region wiring of an ``(n, n)`` matrix,
rows = sources: the diagonal (self-loops) is left out and an entry is an
edge when it is non-zero. The measures are binary: weights do not enter, so
a null model that only moves weights over the same edges (``weight_shuffle``)
has Jaccard 1 and changes none of them.

- :func:`jaccard`: overlap of the directed edge sets.
- :func:`clustering`: directed binary clustering (Fagiolo 2007), mean over regions.
- :func:`path_length`: characteristic path length, directed binary shortest
  paths, over the ordered pairs that have a path.
- :func:`modularity`: Newman's (2006) leading-eigenvector method on the
  undirected graph; the modularity Q of the partition it finds.
- :func:`rich_club`: binary undirected rich-club coefficient at degree ``k``.

Nothing here draws random numbers: the same matrix gives the same values.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import eigh
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

#: The share of regions that the rich-club level ``k`` puts in the club (:func:`rich_club_level`).
RICH_CLUB_FRACTION = 0.2


def edges(weights: np.ndarray) -> np.ndarray:
    """``(n, n)`` bool: the directed between-region edges of ``weights`` (diagonal False)."""
    a = np.asarray(weights) != 0
    np.fill_diagonal(a, False)
    return a


def undirected(weights: np.ndarray) -> np.ndarray:
    """``(n, n)`` bool: regions joined by an edge in either direction (diagonal False)."""
    a = edges(weights)
    return a | a.T


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """``|A & B| / |A | B|`` of the directed between-region edge sets of two ``(n, n)`` matrices.

    1 for the same edges (also when both have none), 0 for disjoint edge sets.
    A symmetric pair counts as two directed edges in both sets, so for two
    undirected graphs this is the Jaccard index of their unordered pairs.
    """
    ea, eb = edges(a), edges(b)
    if ea.shape != eb.shape:
        raise ValueError(f"matrices of shapes {ea.shape} and {eb.shape} have no common edge set")
    union = int(np.count_nonzero(ea | eb))
    return 1.0 if union == 0 else int(np.count_nonzero(ea & eb)) / union


def clustering(weights: np.ndarray) -> float:
    """Mean directed binary clustering coefficient (Fagiolo 2007, all triangle orientations).

    ``C_i = [(A + A^T)^3]_ii / (2 (d_i (d_i - 1) - 2 r_i))`` with ``d_i`` the
    total (in + out) degree and ``r_i`` the number of reciprocated pairs of
    ``i``; the mean over all regions, a region that can close no triangle
    (denominator 0) counting 0. On a symmetric matrix this is the usual
    undirected clustering coefficient (Watts-Strogatz); 1 for a complete graph.
    """
    a = edges(weights).astype(np.float64)
    s = a + a.T
    triangles = ((s @ s) * s.T).sum(axis=1)  # diagonal of s^3
    total = a.sum(axis=0) + a.sum(axis=1)
    reciprocated = (a * a.T).sum(axis=1)
    possible = 2.0 * (total * (total - 1.0) - 2.0 * reciprocated)
    c = np.divide(triangles, possible, out=np.zeros_like(triangles), where=possible > 0)
    return float(c.mean())


def path_length(weights: np.ndarray) -> float:
    """Characteristic path length: the mean directed binary shortest-path length (in edges).

    The mean is over the ordered pairs ``i != j`` with a path from ``i`` to
    ``j``; pairs without one are left out (not counted as infinite), so a
    graph that falls apart can look shorter. NaN when no pair has a path.
    """
    a = edges(weights)
    d = shortest_path(csr_matrix(a.astype(np.float64)), directed=True, unweighted=True)
    reach = np.isfinite(d)
    np.fill_diagonal(reach, False)
    return float(d[reach].mean()) if reach.any() else math.nan


def partition_modularity(weights: np.ndarray, labels: np.ndarray) -> float:
    """Newman's modularity ``Q = (1 / 2m) sum_ij (A_ij - k_i k_j / 2m) [c_i == c_j]`` of a partition.

    ``A`` is the undirected binary graph (:func:`undirected`), ``k`` its
    degrees, ``m`` its number of edges, ``labels`` ``(n,)`` the community of
    each region. NaN for a graph without edges.
    """
    a = undirected(weights).astype(np.float64)
    k = a.sum(axis=1)
    two_m = k.sum()
    if two_m == 0:
        return math.nan
    same = np.asarray(labels)[:, None] == np.asarray(labels)[None, :]
    return float(((a - np.outer(k, k) / two_m) * same).sum() / two_m)


def modularity(weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Communities by Newman's leading eigenvector (repeated bisection) and their modularity Q.

    On the undirected binary graph (an edge in either direction), each group
    is split by the signs of the leading eigenvector of its generalised
    modularity matrix ``B^g_ij = B_ij - delta_ij sum_{l in g} B_il``, as long
    as the split raises Q (Newman 2006, without the fine-tuning step, so Q is
    that of the partition found, a lower bound on the best one). Deterministic:
    no random draws.

    :returns: ``(Q, labels)``, labels ``(n,)`` numbered by first appearance;
        ``(nan, zeros)`` for a graph without edges.
    """
    a = undirected(weights).astype(np.float64)
    n = a.shape[0]
    k = a.sum(axis=1)
    two_m = k.sum()
    labels = np.zeros(n, dtype=np.int64)
    if two_m == 0:
        return math.nan, labels
    b = a - np.outer(k, k) / two_m
    tol = 1e-10 * max(1.0, float(np.abs(b).max()))
    groups, count = [np.arange(n)], 1
    while groups:
        g = groups.pop()
        if g.size < 2:
            continue
        bg = b[np.ix_(g, g)]
        bg = bg - np.diag(bg.sum(axis=1))
        values, vectors = eigh(bg, subset_by_index=[g.size - 1, g.size - 1])  # the leading pair only
        side = vectors[:, 0] >= 0
        s = np.where(side, 1.0, -1.0)
        if values[0] <= tol or side.all() or not side.any() or s @ bg @ s <= tol:
            continue
        labels[g[~side]] = count
        count += 1
        groups += [g[side], g[~side]]
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    labels = np.argsort(np.argsort(first))[inverse]  # numbered by first appearance
    return partition_modularity(weights, labels), labels


def degree(weights: np.ndarray) -> np.ndarray:
    """``(n,)`` int: each region's number of neighbours in the undirected binary graph."""
    return undirected(weights).sum(axis=1)


def rich_club_level(weights: np.ndarray, fraction: float = RICH_CLUB_FRACTION) -> int:
    """The rich-club level ``k`` that puts at least ``fraction`` of the regions in the club.

    ``k`` is one less than the undirected degree of the region ranked
    ``ceil(fraction * n)`` from the top, so every region of at least that
    degree has degree ``> k``: the top ``fraction`` by degree, more when
    degrees tie there.
    """
    d = np.sort(degree(weights))[::-1]
    rank = min(d.size, max(1, math.ceil(fraction * d.size)))
    return int(d[rank - 1]) - 1


def rich_club(weights: np.ndarray, k: int) -> float:
    """Binary undirected rich-club coefficient ``phi(k) = 2 E_k / (N_k (N_k - 1))``.

    ``N_k`` regions have an undirected degree above ``k`` and ``E_k`` edges
    join two of them: the density among the regions of degree ``> k``. Not
    normalised by a null model. NaN when fewer than two regions have degree ``> k``.
    """
    a = undirected(weights)
    rich = a.sum(axis=1) > k
    r = int(rich.sum())
    if r < 2:
        return math.nan
    return float(a[np.ix_(rich, rich)].sum() / (r * (r - 1)))


def measures(weights: np.ndarray, rich_club_k: int) -> dict[str, float]:
    """Clustering, path length, modularity Q and ``phi(rich_club_k)`` of ``weights``, by name.

    The names are those of the "surrogate vs connectome" tables:
    ``clustering``, ``path_length``, ``modularity``, ``rich_club(k=K)``.
    """
    return {
        "clustering": clustering(weights),
        "path_length": path_length(weights),
        "modularity": modularity(weights)[0],
        f"rich_club(k={rich_club_k})": rich_club(weights, rich_club_k),
    }
