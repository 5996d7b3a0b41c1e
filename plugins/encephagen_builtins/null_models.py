"""The built-in null models: surrogates that randomise the wiring and keep everything else.

Every model returns ``connectome.with_weights(new_weights, step)``: labels,
positions, tract lengths and groups are carried over, the input is never
modified, and every random draw comes from the ``numpy.random.Generator``
passed in. Self-loops (the diagonal) stay where they are and take no part in
any randomisation; all edge counts, degrees and strengths are between-region.

Directed or undirected. A connectome whose weight matrix equals its transpose
is treated as undirected: a surrogate then moves both directions of a pair
together and stays symmetric. Any other matrix is directed (rows = sources).

Sequential semantics, evaluated in batches. The Maslov-Sneppen swap (spec
section 7) and the annealing move of ``strength_preserving`` are proposed in
batches and judged with numpy against the graph as it stands. A proposal that
reads something (an edge, a pair of regions, a strength) that an earlier
accepted proposal of the same batch changes is not judged in this batch: it
is carried to the front of the next one and judged there, against the graph
as changed. The proposals judged in a batch therefore read nothing that the
others change, so judging them together gives exactly what judging them one
after the other gives: every attempt is a single sequential attempt against
the current graph, and the result is a sequence of valid single moves. The
only difference from the plain loop is the order in which deferred attempts
are judged. Degrees, the absence of duplicate edges and of created self-loops
hold exactly, and ``swaps_per_edge * n_edges`` attempts are judged.

Gap junctions (neuron-level connectomes). Every model but ``spatial`` has a
parameter ``gap_junctions``: ``keep`` (the default) returns them as they
are; ``rewire`` applies the model's own randomisation to the gap-junction
graph too, as an undirected graph: the pairs of distinct neurons joined by
junctions, each pair carrying its count. It draws from the same generator,
after the chemical wiring, so a connectome without gap junctions (or
``keep``) gives exactly the chemical surrogate it gave before the parameter
existed. The diagonal (junctions of a neuron with itself) stays in place,
and the history step says what happened to the gap junctions.

Scale. A surrogate is held as its connectome is (dense, or sparse for a
large neuron-level graph). On graphs of more than 8,192 nodes
(:data:`DENSE_CELLS`) the adjacency and the batch conflict search use sorted
int64 keys instead of ``(n, n)`` tables; they answer the same, so the
surrogates are the same (``tests/test_sparse.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import scipy.sparse as sp

from encephagen.connectome import Connectome, Matrix, diagonal, matrix_from_entries
from encephagen.errors import ConfigError, DataError
from encephagen.invariants import (
    Check,
    class_index,
    class_wiring_kept,
    edge_lengths,
    edge_lengths_binned,
    gap_strength_within,
    length_bin_edges,
    length_bins,
    strength_within,
)

#: ``allowed(a, b, c, d) -> bool mask``: an extra condition on the swap (a,b),(c,d) -> (a,d),(c,b).
SwapFilter = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

_VARIANTS = ("auto", "directed", "undirected")
#: Annealing: start temperature as a fraction of the median uphill energy change of
#: the first batch, and end temperature as a fraction of the start (geometric cooling).
_ANNEAL_T0 = 0.01
_ANNEAL_COOLING = 1e-4

_KEEPS_SIZE = ("n_regions", "n_edges", "weights_multiset", "self_loops", "no_self_loops_created", "anatomy")
_KEEPS_DEGREES = (*_KEEPS_SIZE, "in_degree", "out_degree")
#: What every ``gap_junctions: rewire`` keeps of the gap junctions (``keep`` keeps them all).
_GAP_KEEPS_SIZE = ("gap_multiset", "gap_self_junctions")
_GAP_KEEPS_DEGREES = (*_GAP_KEEPS_SIZE, "gap_degree")
_GAP_MODES = ("keep", "rewire")

#: ``(src, dst, weight)`` of every edge; an undirected graph lists each pair once.
Edges = tuple[np.ndarray, np.ndarray, np.ndarray]


def _gap_field() -> Any:
    return attrs.field(default="keep", validator=attrs.validators.in_(_GAP_MODES))


# -- edge lists ------------------------------------------------------------------------


def _edge_list(c: Connectome, undirected: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Between-region edges as ``(src, dst, weight)``, row-major; an undirected graph lists each pair once (src < dst)."""
    src, dst, wt = c.edges()
    if undirected:
        up = src < dst
        src, dst, wt = src[up], dst[up], wt[up]
    return src, dst, wt.copy()


def _with_diagonal(n: int, diagonal: np.ndarray, edges: Edges, undirected: bool, sparse: bool) -> Matrix:
    """An ``(n, n)`` matrix (dense, or sparse like its connectome) with this diagonal and these off-diagonal entries."""
    src, dst, wt = edges
    loops = np.flatnonzero(diagonal)
    rows, cols, vals = [loops, src], [loops, dst], [diagonal[loops], wt]
    if undirected:
        rows, cols, vals = [*rows, dst], [*cols, src], [*vals, wt]
    return matrix_from_entries(n, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), sparse)


def _assemble(c: Connectome, src: np.ndarray, dst: np.ndarray, wt: np.ndarray, undirected: bool) -> Matrix:
    """A weight matrix with the original diagonal and these between-region edges."""
    return _with_diagonal(c.n_regions, c.self_loops(), (src, dst, wt), undirected, c.is_sparse)


def _gap_edges(c: Connectome) -> Edges:
    """The gap-junction pairs of distinct neurons as ``(i, j, count)`` with ``i < j``."""
    i, j, cnt = c.gap_pairs()
    return i, j, cnt.copy()


def _gap_assemble(c: Connectome, edges: Edges) -> Matrix:
    """A symmetric gap-junction matrix with the original diagonal and these pairs."""
    g = c.gap_junctions
    return _with_diagonal(c.n_regions, diagonal(g), edges, True, sp.issparse(g))


def _surrogate(
    c: Connectome, weights: np.ndarray, step: str, gap_junctions: str,
    draw: Callable[[Edges], tuple[Edges, str]] | None = None,
) -> Connectome:
    """The surrogate of ``c`` with chemical ``weights`` and the gap junctions kept or rewired.

    :param step: the history step of the chemical wiring; what happened to
        the gap junctions (if the connectome has them) is added to it.
    :param gap_junctions: ``"keep"`` or ``"rewire"``.
    :param draw: under ``"rewire"``, randomises the gap-junction pairs
        (:func:`_gap_edges`, modified in place or replaced) as an undirected
        graph and returns them with a note for the step.
    """
    if c.gap_junctions is None:
        return c.with_weights(weights, step + ("; no gap junctions to rewire" if gap_junctions == "rewire" else ""))
    if gap_junctions == "keep":
        return c.with_weights(weights, f"{step}; gap junctions kept")
    pairs, note = draw(_gap_edges(c))  # type: ignore[misc]
    return c.with_weights(weights, f"{step}; gap junctions rewired (undirected): {note}", _gap_assemble(c, pairs))


def _undirected(c: Connectome, variant: str = "auto") -> bool:
    """Whether to treat ``c`` as undirected; ``variant='undirected'`` needs a symmetric matrix."""
    if variant == "directed":
        return False
    if variant == "undirected" and not c.is_symmetric:
        raise DataError.at(
            "variant",
            f"'undirected' needs a symmetric weight matrix and connectome {c.name!r} is not; "
            "use variant: directed (or auto)",
        )
    return c.is_symmetric


#: Up to this many cells an adjacency or a key table is a dense array; beyond it (a graph of more than
#: 8,192 nodes), sorted keys, whose memory grows with the edges instead of the square of the nodes.
DENSE_CELLS = 1 << 26


def _blocked(keys: np.ndarray, active: np.ndarray, n_keys: int) -> np.ndarray:
    """``(m,)`` bool: row ``r`` of ``keys`` shares a key with an earlier ``active`` row.

    :param keys: ``(m, k)`` int keys in ``0..n_keys-1``; a row may repeat a key.
    :param active: ``(m,)`` bool, the rows that claim their keys.
    """
    m, k = keys.shape
    rows = np.repeat(np.arange(m), k)
    if n_keys <= DENSE_CELLS:
        first = np.full(n_keys, m)
        np.minimum.at(first, keys[active].ravel(), rows.reshape(m, k)[active].ravel())
        return (first[keys] < np.arange(m)[:, None]).any(axis=1)
    flat = keys.ravel()
    claimed = active[rows]
    ck, cr = flat[claimed], rows[claimed]
    if ck.size == 0:
        return np.zeros(m, dtype=bool)
    if n_keys < np.iinfo(np.int64).max // m:  # by key, then row, as one int64 (a plain sort: much faster)
        both = np.sort(ck * m + cr)
        ck, cr = both // m, both % m
    else:
        order = np.lexsort((cr, ck))
        ck, cr = ck[order], cr[order]
    head = np.concatenate([[True], ck[1:] != ck[:-1]])  # each key's earliest claiming row
    uk, first_row = ck[head], cr[head]
    at = np.minimum(_positions(uk, flat), uk.size - 1)
    earliest = np.where(uk[at] == flat, first_row[at], m)
    return (earliest < rows).reshape(m, k).any(axis=1)


def _positions(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``np.searchsorted(table, queries)``, with the queries sorted first: on tables of millions, ten times faster."""
    order = np.argsort(queries)
    out = np.empty(queries.size, dtype=np.int64)
    out[order] = np.searchsorted(table, queries[order])
    return out


class _Adjacency:
    """Which ordered pairs of ``n`` nodes are connected; a dense table, or sorted keys past :data:`DENSE_CELLS`.

    Both forms answer the same, so a rewiring draws the same surrogate with either.
    """

    def __init__(self, n: int, src: np.ndarray, dst: np.ndarray, undirected: bool) -> None:
        self.n, self.undirected = n, undirected
        self.table: np.ndarray | None = None
        if n * n <= DENSE_CELLS:
            self.table = np.zeros((n, n), dtype=bool)
            self.table[src, dst] = True
            if undirected:
                self.table[dst, src] = True
            return
        keys = [src * n + dst, dst * n + src] if undirected else [src * n + dst]
        self.keys = np.sort(np.concatenate(keys))  # distinct: an edge list has each (ordered) pair once

    def has(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """bool: whether ``a[k] -> b[k]`` is connected."""
        if self.table is not None:
            return self.table[a, b]
        q = a * self.n + b
        if self.keys.size == 0:
            return np.zeros(q.shape, dtype=bool)
        at = np.minimum(_positions(self.keys, q), self.keys.size - 1)
        return self.keys[at] == q

    def swap(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> None:
        """Edges ``(a, b), (c, d)`` become ``(a, d), (c, b)`` (both directions when undirected); the swaps share no pair."""
        gone, new = [(a, b), (c, d)], [(a, d), (c, b)]
        if self.undirected:
            gone, new = [*gone, (b, a), (d, c)], [*new, (d, a), (b, c)]
        if self.table is not None:
            for x, y in gone:
                self.table[x, y] = False
            for x, y in new:
                self.table[x, y] = True
            return
        n = self.n
        drop = _positions(self.keys, np.concatenate([x * n + y for x, y in gone]))
        kept = np.delete(self.keys, drop)
        self.keys = np.sort(np.concatenate([kept, *(x * n + y for x, y in new)]))


def _distinct_pairs(rng: np.random.Generator, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` pairs of distinct indices in ``0..m-1``, each pair uniform over ordered pairs."""
    i = rng.integers(m, size=k)
    j = rng.integers(m - 1, size=k)
    j += j >= i
    return i, j


# -- Maslov-Sneppen rewiring --------------------------------------------------------------


def rewire(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    attempts: int,
    rng: np.random.Generator,
    *,
    undirected: bool,
    allowed: SwapFilter | None = None,
) -> int:
    """Degree-preserving swaps on an edge list, in place.

    A swap takes edges ``(a, b)`` and ``(c, d)`` and makes them ``(a, d)`` and
    ``(c, b)``; it is skipped when ``a == d``, ``c == b``, either new pair is
    already connected, or ``allowed`` rejects it. In an undirected graph the
    second edge is read in a random orientation and adjacency is symmetric.
    Edge ``k`` keeps its index (and so its weight): ``(a, b)`` becomes
    ``(a, d)``, ``(c, d)`` becomes ``(c, b)``.

    :param n: number of regions.
    :param src: ``(m,)`` int64 edge sources, modified in place.
    :param dst: ``(m,)`` int64 edge targets, modified in place.
    :param attempts: number of swap attempts judged (a deferred attempt counts
        once, when it is judged; see the module docstring).
    :param rng: the generator every draw comes from.
    :param undirected: treat each edge as an unordered pair.
    :param allowed: optional extra condition on candidate swaps.
    :returns: the number of swaps applied.
    """
    m = src.size
    if m < 2 or attempts <= 0:
        return 0
    adj = _Adjacency(n, src, dst, undirected)
    batch = max(1, m // 4)
    done = applied = 0
    pi = pj = np.empty(0, dtype=np.int64)
    pflip = np.empty(0, dtype=bool)
    while done < attempts:
        fresh = min(batch, attempts - done) - pi.size
        fi, fj = _distinct_pairs(rng, m, max(fresh, 0))
        i, j = np.concatenate([pi, fi]), np.concatenate([pj, fj])
        a, b, c, d = src[i], dst[i], src[j], dst[j]
        if undirected:
            flip = np.concatenate([pflip, rng.random(fi.size) < 0.5])
            c, d = np.where(flip, d, c), np.where(flip, c, d)
        ok = (a != d) & (c != b) & ~adj.has(a, d) & ~adj.has(c, b)
        if allowed is not None:
            ok &= allowed(a, b, c, d)
        ends = (np.stack([a, c, a, c], axis=1), np.stack([b, d, d, b], axis=1))
        if undirected:
            ends = (np.minimum(*ends), np.maximum(*ends))
        wait = _blocked(ends[0] * n + ends[1], ok, n * n)
        pi, pj = i[wait], j[wait]
        if undirected:
            pflip = flip[wait]
        done += int((~wait).sum())
        go = ok & ~wait
        a, b, c, d, i, j = a[go], b[go], c[go], d[go], i[go], j[go]
        adj.swap(a, b, c, d)
        src[i], dst[i] = a, d
        src[j], dst[j] = c, b
        applied += a.size
    return applied


def _swaps(
    n: int, edges: Edges, undirected: bool, swaps_per_edge: float, rng: np.random.Generator, allowed: SwapFilter | None = None
) -> tuple[int, int]:
    """:func:`rewire` on ``edges`` in place, ``swaps_per_edge`` attempts per edge; ``(applied, attempted)``."""
    src, dst, _ = edges
    attempts = int(round(swaps_per_edge * src.size))
    return rewire(n, src, dst, attempts, rng, undirected=undirected, allowed=allowed), attempts


def _mode(undirected: bool) -> str:
    return "undirected" if undirected else "directed"


@attrs.frozen
class DegreePreserving:
    """Maslov-Sneppen rewiring: every region keeps its in- and out-degree exactly.

    Directed (spec section 7): ``swaps_per_edge * n_edges`` attempts; each
    picks two distinct edges ``(a, b)``, ``(c, d)`` uniformly, is skipped if
    ``a == d``, ``c == b`` or ``(a, d)`` / ``(c, b)`` exist, and otherwise
    replaces them by ``(a, d)`` with the weight of ``(a, b)`` and ``(c, b)``
    with the weight of ``(c, d)``; out-strengths are therefore kept too.
    Undirected (symmetric matrices): the same swap on unordered pairs, the
    second edge read in a random orientation; the result stays symmetric.
    Self-loops are left out of the swaps and stay in place.

    :ivar swaps_per_edge: attempts per between-region edge (per pair when undirected).
    :ivar variant: ``"auto"`` (undirected exactly when the matrix is
        symmetric), ``"directed"`` (also for a symmetric matrix, which then
        stops being symmetric), or ``"undirected"`` (symmetric matrices only).
        ``symmetric`` is not declared as an invariant because ``"directed"``
        gives it up by request; under ``"auto"`` it holds (and is tested).
    :ivar gap_junctions: ``"keep"`` the gap junctions as they are, or
        ``"rewire"`` them with the same undirected swaps (``swaps_per_edge``
        per pair, counts travel with their pairs): every neuron keeps its
        number of gap-junction partners. ``variant`` concerns the chemical
        synapses only.
    """

    name: ClassVar[str] = "degree_preserving"
    summary: ClassVar[str] = "Maslov-Sneppen rewiring; keeps every region's in- and out-degree exactly"
    invariants: ClassVar[tuple[str, ...]] = (*_KEEPS_DEGREES, *_GAP_KEEPS_DEGREES)

    swaps_per_edge: float = attrs.field(default=10.0, converter=float, validator=attrs.validators.ge(0))
    variant: str = attrs.field(default="auto", validator=attrs.validators.in_(_VARIANTS))
    gap_junctions: str = _gap_field()

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A degree-preserving surrogate of ``connectome`` drawn with ``rng``."""
        und = _undirected(connectome, self.variant)
        n = connectome.n_regions
        edges = _edge_list(connectome, und)
        applied, attempts = _swaps(n, edges, und, self.swaps_per_edge, rng)
        step = (
            f"{self.name}(variant={_mode(und)}, swaps_per_edge={self.swaps_per_edge:g}): "
            f"{applied} of {attempts} attempted swaps applied"
        )

        def gaps(pairs: Edges) -> tuple[Edges, str]:
            return pairs, "{} of {} attempted swaps applied".format(*_swaps(n, pairs, True, self.swaps_per_edge, rng))

        return _surrogate(connectome, _assemble(connectome, *edges, und), step, self.gap_junctions, gaps)


def _uniform(n: int, wt: np.ndarray, undirected: bool, rng: np.random.Generator) -> Edges:
    """``wt.size`` edges on distinct pairs drawn uniformly without replacement, carrying ``wt`` in random order."""
    if undirected:  # pair k of the row-major upper triangle (np.triu_indices order), without forming it
        pick = rng.choice(n * (n - 1) // 2, size=wt.size, replace=False)
        starts = np.concatenate([[0], np.cumsum(np.arange(n - 1, 0, -1))])  # first pair of each row
        src = np.searchsorted(starts, pick, side="right") - 1
        dst = pick - starts[src] + src + 1
    else:
        cell = rng.choice(n * (n - 1), size=wt.size, replace=False)
        src = cell // (n - 1)
        col = cell % (n - 1)
        dst = col + (col >= src)
    return src, dst, rng.permutation(wt)


@attrs.frozen
class ErdosRenyi:
    """Erdos-Renyi graph with the same number of edges and the same weights, placed uniformly.

    Directed: ``n_edges`` of the ``n (n - 1)`` ordered pairs are drawn without
    replacement and given the original between-region weights in random
    order. Undirected (symmetric matrices): the same over the ``n (n - 1) / 2``
    unordered pairs, both directions carrying the weight. Self-loops stay.

    :ivar gap_junctions: ``"keep"`` the gap junctions as they are, or
        ``"rewire"`` them the same way: as many pairs of distinct neurons as
        before, drawn uniformly from the ``n (n - 1) / 2``, carrying the
        original counts in random order.
    """

    name: ClassVar[str] = "erdos_renyi"
    summary: ClassVar[str] = "uniform random graph with the same edge count and weight multiset"
    invariants: ClassVar[tuple[str, ...]] = (*_KEEPS_SIZE, "symmetric", *_GAP_KEEPS_SIZE)

    gap_junctions: str = _gap_field()

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """An Erdos-Renyi surrogate of ``connectome`` drawn with ``rng``."""
        n = connectome.n_regions
        und = _undirected(connectome)
        new = _assemble(connectome, *_uniform(n, _edge_list(connectome, und)[2], und, rng), und)

        def gaps(pairs: Edges) -> tuple[Edges, str]:
            return _uniform(n, pairs[2], True, rng), f"{pairs[2].size} pairs placed uniformly over the {n * (n - 1) // 2}"

        return _surrogate(connectome, new, f"{self.name}({_mode(und)})", self.gap_junctions, gaps)


@attrs.frozen
class WeightShuffle:
    """Same binary wiring, between-region weights permuted over the existing edges.

    Undirected (symmetric matrices): the weights of the pairs are permuted and
    both directions of a pair keep sharing one weight.

    :ivar gap_junctions: ``"keep"`` the gap junctions as they are, or
        ``"rewire"`` them the same way: the counts permuted over the pairs
        that have junctions.
    """

    name: ClassVar[str] = "weight_shuffle"
    summary: ClassVar[str] = "keeps the binary wiring and permutes the between-region weights"
    invariants: ClassVar[tuple[str, ...]] = (
        *_KEEPS_DEGREES, "binary_topology", "symmetric", *_GAP_KEEPS_DEGREES, "gap_topology"
    )

    gap_junctions: str = _gap_field()

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A weight-shuffled surrogate of ``connectome`` drawn with ``rng``."""
        und = _undirected(connectome)
        src, dst, wt = _edge_list(connectome, und)
        new = _assemble(connectome, src, dst, rng.permutation(wt), und)

        def gaps(pairs: Edges) -> tuple[Edges, str]:
            return (pairs[0], pairs[1], rng.permutation(pairs[2])), f"counts of {pairs[2].size} pairs permuted"

        return _surrogate(connectome, new, f"{self.name}({_mode(und)})", self.gap_junctions, gaps)


# -- strength-preserving annealing ------------------------------------------------------------


def anneal_strengths(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    wt: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    *,
    undirected: bool,
    tolerance: float,
    max_iterations: int,
) -> tuple[float, int]:
    """Move weights and edges, degrees kept, until every strength is within ``tolerance`` of ``target``.

    Strengths: directed, ``target`` is ``(2n,)`` = out-strengths then
    in-strengths; undirected, ``(n,)`` (each pair counted once per end). The
    energy is ``sum(((s - target) / target) ** 2)`` (regions of zero target
    strength have zero degree and so zero strength).

    Each move picks two distinct edges ``(a, b)``, ``(c, d)`` uniformly (the
    second in a random orientation when undirected) and, with probability
    1/2 each, either exchanges their weights (a permutation of the weights)
    or applies the Maslov-Sneppen swap to ``(a, d)``, ``(c, b)`` with the
    weights travelling with their edges (valid only under the conditions of
    :func:`rewire`). The swap keeps degrees and lets the search leave a wiring
    on which no permutation of the weights meets the tolerance (common on
    small graphs); the permutation alone could not. Moves are accepted by the
    Metropolis rule and judged in batches with the sequential semantics of
    the module docstring (a move that reads a strength, an edge or a pair of
    regions that an earlier accepted move of the batch changes waits for the
    next batch), so every energy change is exact.

    The temperature starts at ``_ANNEAL_T0`` times the median uphill energy
    change of the first batch that has one (cold: the search is close to a
    descent that lets small uphill steps through) and falls geometrically to
    ``_ANNEAL_COOLING`` of that over ``max_iterations`` moves; the search
    stops as soon as the largest relative deviation is ``<= tolerance``.

    :param src: ``(m,)`` int64 edge sources, modified in place.
    :param dst: ``(m,)`` int64 edge targets, modified in place.
    :param wt: ``(m,)`` edge weights, permuted in place.
    :returns: ``(largest relative deviation reached, moves judged)``.
    """
    m = wt.size
    size = target.size
    off = 0 if undirected else n
    s = np.bincount(src, wt, minlength=size) + np.bincount(dst + off, wt, minlength=size)
    den = np.where(target > 0, target, 1.0)
    err = (s - target) / den
    worst = float(np.abs(err).max(initial=0.0))
    if m < 2:
        return worst, 0
    adj = _Adjacency(n, src, dst, undirected)
    batch = max(1, min(m, size))
    earlier = np.tril(np.ones((4, 4), dtype=bool), -1)
    t0: float | None = None
    done = 0
    pe = pf = np.empty(0, dtype=np.int64)
    pswap = pflip = np.empty(0, dtype=bool)
    while done < max_iterations and worst > tolerance:
        k = max(min(batch, max_iterations - done) - pe.size, 0)
        fe, ff = _distinct_pairs(rng, m, k)
        e, f = np.concatenate([pe, fe]), np.concatenate([pf, ff])
        swap = np.concatenate([pswap, rng.random(k) < 0.5])
        flip = np.concatenate([pflip, (rng.random(k) < 0.5) & undirected])
        a, b = src[e], dst[e]
        c, d = np.where(flip, dst[f], src[f]), np.where(flip, src[f], dst[f])
        delta = wt[f] - wt[e]
        nodes = np.stack([a, b + off, c, d + off], axis=1)
        moved = np.where(swap, 0.0, delta)
        step = np.stack([moved, delta, -moved, -delta], axis=1)
        can_swap = (a != d) & (c != b) & ~adj.has(a, d) & ~adj.has(c, b)
        valid = np.where(swap, can_swap, delta != 0)
        same = nodes[:, :, None] == nodes[:, None, :]
        total = (same * step[:, None, :]).sum(axis=2)
        counted = ~(same & earlier).any(axis=2)
        old = err[nodes]
        d_energy = (counted * ((old + total / den[nodes]) ** 2 - old**2)).sum(axis=1)
        if t0 is None and np.any(d_energy > 0):
            t0 = _ANNEAL_T0 * float(np.median(d_energy[d_energy > 0]))
        temp = (t0 or 1.0) * _ANNEAL_COOLING ** (done / max_iterations)
        with np.errstate(over="ignore"):
            accept = valid & ((d_energy <= 0) | (rng.random(e.size) < np.exp(-d_energy / temp)))
        ends = (np.stack([a, c, a, c], axis=1), np.stack([b, d, d, b], axis=1))
        if undirected:
            ends = (np.minimum(*ends), np.maximum(*ends))
        keys = np.concatenate([nodes, size + np.stack([e, f], axis=1), size + m + ends[0] * n + ends[1]], axis=1)
        wait = _blocked(keys, accept, size + m + n * n)
        pe, pf, pswap, pflip = e[wait], f[wait], swap[wait], flip[wait]
        done += int((~wait).sum())
        go = accept & ~wait
        if not go.any():
            continue
        np.add.at(s, nodes[go].ravel(), step[go].ravel())
        err = (s - target) / den
        worst = float(np.abs(err).max())
        x = go & ~swap
        wt[e[x]], wt[f[x]] = wt[f[x]], wt[e[x]]
        r = go & swap
        a, b, c, d, e, f = a[r], b[r], c[r], d[r], e[r], f[r]
        adj.swap(a, b, c, d)
        src[e], dst[e] = a, d
        src[f], dst[f] = c, b
    return worst, done


@attrs.frozen
class StrengthPreserving:
    """Degree-preserving rewiring, then weights permuted until strengths match.

    Start from :class:`DegreePreserving` (variant auto), then simulated
    annealing over permutations of the weights among the edges, interleaved
    with further degree-preserving swaps (see :func:`anneal_strengths`),
    until every region's between-region in- and out-strength is within
    ``tolerance`` (relative) of the original. Degrees are exact. When the tolerance is not reached within ``max_iterations``
    moves, :meth:`randomize` raises a :class:`ConfigError` that reports the
    deviation it did reach, rather than return a surrogate that breaks its
    promise.

    Measured on the ordinal 1-3 weights of the 96-region set (directed, and
    its symmetrised version, 5 seeds each): tolerances 0.05, 0.02 and 0.01
    are reached within about 6,000-45,000 moves (under 0.25 s); 0.005 is
    mostly not reached in 200,000 moves (the search ends at 0.0053-0.0070,
    one weight unit off on the strongest regions). On the worm connectomes
    (synapse counts; cook2019_herm, varshney2011, witvliet2021_8, seeds 0-1)
    0.05 and 0.1 are not reached in 200,000 moves (the search ends at
    0.10-0.30: a neuron with one or two synapses leaves no room for a
    relative tolerance), 0.2 only on some sets and seeds; the gap-junction
    strengths of cook2019_herm (up to 401 junctions on one pair) end 1.6 off
    after 200,000 moves and 0.46 after 1,000,000. The error then says so.

    :ivar tolerance: largest allowed relative strength deviation per region.
    :ivar max_iterations: annealing moves judged at most.
    :ivar swaps_per_edge: attempts of the initial degree-preserving rewiring.
    :ivar gap_junctions: ``"keep"`` the gap junctions as they are, or
        ``"rewire"`` them the same way as an undirected graph (swaps, then
        annealing of the counts and swaps, with the same ``tolerance`` and
        ``max_iterations``): every neuron keeps its number of gap-junction
        partners, and its total junction count within ``tolerance``.
    """

    name: ClassVar[str] = "strength_preserving"
    summary: ClassVar[str] = "degree-preserving rewiring, then annealed weights and swaps until in/out strengths match"
    invariants: ClassVar[tuple[str, ...]] = (*_KEEPS_DEGREES, "symmetric", "strength", *_GAP_KEEPS_DEGREES, "gap_strength")

    tolerance: float = attrs.field(default=0.05, converter=float, validator=attrs.validators.gt(0))
    max_iterations: int = attrs.field(
        default=200_000, validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)]
    )
    swaps_per_edge: float = attrs.field(default=10.0, converter=float, validator=attrs.validators.ge(0))

    gap_junctions: str = _gap_field()

    def invariant_checks(self) -> Mapping[str, Check]:
        """The ``strength`` and ``gap_strength`` checks at this model's tolerance."""
        return {"strength": strength_within(self.tolerance), "gap_strength": gap_strength_within(self.tolerance)}

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A strength-preserving surrogate of ``connectome`` drawn with ``rng``.

        :raises ConfigError: when the tolerance is not reached (by the
            chemical strengths, or under ``gap_junctions: rewire`` by the
            gap-junction strengths).
        """
        und = _undirected(connectome)
        out0, in0 = connectome.between.sum(axis=1), connectome.between.sum(axis=0)
        target = out0 if und else np.concatenate([out0, in0])
        edges, note = self._draw(connectome, _edge_list(connectome, und), und, target, rng, "strength")
        step = f"{self.name}({_mode(und)}, tolerance={self.tolerance:g}): {note}"

        def gaps(pairs: Edges) -> tuple[Edges, str]:
            g = connectome.gap_junctions.copy()  # type: ignore[union-attr]
            np.fill_diagonal(g, 0.0)
            return self._draw(connectome, pairs, True, g.sum(axis=1), rng, "gap-junction strength")

        return _surrogate(connectome, _assemble(connectome, *edges, und), step, self.gap_junctions, gaps)

    def _draw(
        self, c: Connectome, edges: Edges, undirected: bool, target: np.ndarray, rng: np.random.Generator, what: str
    ) -> tuple[Edges, str]:
        """Swaps, then annealing of ``edges`` (in place) towards the strengths ``target``; the history note.

        :param what: what ``target`` holds, for the note and the error.
        """
        applied, attempts = _swaps(c.n_regions, edges, undirected, self.swaps_per_edge, rng)
        worst, moves = anneal_strengths(
            c.n_regions, *edges, target, rng,
            undirected=undirected, tolerance=self.tolerance, max_iterations=self.max_iterations,
        )
        if worst > self.tolerance:
            raise ConfigError.at(
                "tolerance",
                f"strength_preserving reached a largest relative {what} deviation of {worst:.3g} on "
                f"connectome {c.name!r} after {moves} moves, above tolerance {self.tolerance:g}; "
                "raise tolerance or max_iterations",
            )
        return edges, (
            f"{applied} of {attempts} swaps applied, {moves} annealing moves, largest relative {what} deviation {worst:.3g}"
        )


# -- length-preserving rewiring --------------------------------------------------------------


@attrs.frozen
class Spatial:
    """Degree-preserving rewiring that keeps every edge in its length bin.

    Lengths are the tract lengths, or the distances between region centres
    when there are none (a :class:`DataError` when there is neither). The
    between-region pairs are split into ``bins`` equal-count length bins
    (:func:`encephagen.invariants.length_bin_edges`), and the pairs whose
    tract length is missing (``connectome.missing_lengths: refuse``) form a
    bin of their own, so an edge with a length never moves onto a pair
    without one; a Maslov-Sneppen swap
    ``(a, b), (c, d) -> (a, d), (c, b)`` is applied only when ``(a, d)`` falls
    in the bin of ``(a, b)`` and ``(c, b)`` in the bin of ``(c, d)`` (in both
    directions when undirected). Each edge thus keeps its weight and its
    length bin: degrees, the binned edge-length distribution and the joint
    distribution of weight and length bin are preserved exactly.

    Gap junctions are kept as they are (no ``gap_junctions`` parameter):
    a junction is a contact between two neurites, not a tract with a
    length, and no neuron-level data set here has positions or lengths.

    :ivar bins: number of equal-count length bins (fewer when lengths tie).
    :ivar swaps_per_edge: attempts per edge. The bin condition rejects most
        candidates (on the 96-region set about 1 in 380 attempts is applied,
        against 1 in 6 without it), hence the default of 100, ten times that
        of :class:`DegreePreserving`.
    """

    name: ClassVar[str] = "spatial"
    summary: ClassVar[str] = "degree-preserving rewiring that keeps each edge in its length bin"
    invariants: ClassVar[tuple[str, ...]] = (*_KEEPS_DEGREES, "symmetric", "edge_length_distribution")

    bins: int = attrs.field(default=10, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)])
    swaps_per_edge: float = attrs.field(default=100.0, converter=float, validator=attrs.validators.ge(0))

    def invariant_checks(self) -> Mapping[str, Check]:
        """The ``edge_length_distribution`` check with this model's bins."""
        return {"edge_length_distribution": edge_lengths_binned(self.bins)}

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A length-preserving surrogate of ``connectome`` drawn with ``rng``.

        :raises DataError: when the connectome has neither tract lengths nor positions.
        """
        lengths = edge_lengths(connectome)
        b = length_bins(lengths, length_bin_edges(lengths, self.bins))
        und = _undirected(connectome)
        both = und and not np.array_equal(b, b.T)

        def same_bins(a: np.ndarray, bb: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
            ok = (b[a, d] == b[a, bb]) & (b[c, bb] == b[c, d])
            if both:
                ok &= (b[d, a] == b[bb, a]) & (b[bb, c] == b[d, c])
            return ok

        edges = _edge_list(connectome, und)
        applied, attempts = _swaps(connectome.n_regions, edges, und, self.swaps_per_edge, rng, same_bins)
        step = (
            f"{self.name}({_mode(und)}, bins={self.bins}, swaps_per_edge={self.swaps_per_edge:g}): "
            f"{applied} of {attempts} attempted swaps applied"
        )
        return _surrogate(connectome, _assemble(connectome, *edges, und), step, "keep")


# -- class-preserving rewiring --------------------------------------------------------------

_MATCHES = ("both", "targets")


@attrs.frozen
class CellClassPreserving:
    """Maslov-Sneppen rewiring within cell classes: every neuron keeps its wiring to and from each class.

    The swap ``(a, b), (c, d) -> (a, d), (c, b)`` of :class:`DegreePreserving`
    (weights travel with their sources), applied only when ``b`` and ``d``
    are of the same cell class and, with ``match: both``, ``a`` and ``c``
    too. So the targets exchanged are of one class (``ASEL`` for ``ASER``)
    and, with ``both``, so are the sources. Kept exactly, besides degrees and
    the weight multiset: the class-by-class sums of the weights, every
    neuron's number of out-edges to each class and, with ``both``, its number
    of in-edges from each class (invariant ``class_wiring``). On an
    undirected graph (a symmetric matrix) a pair has no source or target, so
    both ends must match whatever ``match`` says (the step reads
    ``match=both``). Needs ``cell_classes`` (the ``celegans`` source gives
    them).

    Measured on cook2019_herm, witvliet2021_8 and varshney2011 (3,671, 1,933
    and 2,194 chemical connections, directed; 3 seeds each): the class
    condition passes few candidates. With ``both``, 1,000 attempts per edge
    apply 0.3-0.4 swaps per edge and put 16-19 % of the connections on pairs
    that were not connected before; the share levels off there (17-20 % after
    3,000 attempts per edge, 5-6 % after 100). With ``targets`` 12-16 times as
    many swaps are applied and the share levels off at 33-39 % (29-33 % after
    100). Rewired gap junctions (both ends always): 15-26 % of the pairs new
    after 1,000 attempts per pair. Most classes are a left/right pair whose
    cells are wired alike, so ``both`` can do little more than exchange a
    neuron's left and right partners: it asks whether *which* cell of a class
    is wired matters, given the wiring between classes; ``targets`` also lets
    a neuron's inputs come from other classes. The default is ``both``, the
    model's name taken literally, with 1,000 attempts per edge (0.5-1.5 s per
    surrogate on these sets, gap junctions included).

    :ivar match: ``"both"`` (sources and targets of a swap each of one class)
        or ``"targets"`` (targets only; directed graphs).
    :ivar swaps_per_edge: attempts per edge (per pair when undirected).
    :ivar gap_junctions: ``"keep"`` the gap junctions as they are, or
        ``"rewire"`` them with the same swaps, undirected (both ends of the
        exchanged pairs of one class, ``swaps_per_edge`` per pair, counts
        travel with their pairs): every neuron keeps its number of
        gap-junction partners in each class.
    """

    name: ClassVar[str] = "cell_class_preserving"
    summary: ClassVar[str] = (
        "Maslov-Sneppen rewiring between neurons of the same cell class; keeps degrees and the class-to-class wiring"
    )
    invariants: ClassVar[tuple[str, ...]] = (*_KEEPS_DEGREES, "symmetric", "class_wiring", *_GAP_KEEPS_DEGREES)

    match: str = attrs.field(default="both", validator=attrs.validators.in_(_MATCHES))
    swaps_per_edge: float = attrs.field(default=1000.0, converter=float, validator=attrs.validators.ge(0))
    gap_junctions: str = _gap_field()

    def invariant_checks(self) -> Mapping[str, Check]:
        """The ``class_wiring`` check, with the in-edges from each class only under ``match: both``."""
        return {"class_wiring": class_wiring_kept(sources=self.match == "both")}

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A class-preserving surrogate of ``connectome`` drawn with ``rng``.

        :raises DataError: at ``cell_classes`` when the connectome has none.
        """
        cls, _ = class_index(connectome)
        und = _undirected(connectome)
        n = connectome.n_regions

        def same_classes(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
            return (cls[b] == cls[d]) & (cls[a] == cls[c])

        def same_targets(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
            return cls[b] == cls[d]

        match = "both" if und else self.match
        edges = _edge_list(connectome, und)
        applied, attempts = _swaps(n, edges, und, self.swaps_per_edge, rng, same_classes if match == "both" else same_targets)
        step = (
            f"{self.name}({_mode(und)}, match={match}, swaps_per_edge={self.swaps_per_edge:g}): "
            f"{applied} of {attempts} attempted swaps applied"
        )

        def gaps(pairs: Edges) -> tuple[Edges, str]:
            done = _swaps(n, pairs, True, self.swaps_per_edge, rng, same_classes)
            return pairs, "{} of {} attempted swaps applied".format(*done)

        return _surrogate(connectome, _assemble(connectome, *edges, und), step, self.gap_junctions, gaps)


#: The built-in null model classes, registered by :mod:`encephagen_builtins`.
NULL_MODELS: tuple[type, ...] = (DegreePreserving, ErdosRenyi, WeightShuffle, StrengthPreserving, Spatial, CellClassPreserving)
