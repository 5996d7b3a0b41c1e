"""Invariants a null model may promise, and the checks that hold it to them.

A null model declares ``invariants`` (a tuple of names below); the
conformance kit and the tests call :func:`check_invariants` on every surrogate
it draws. A check takes ``(original, surrogate)`` and returns ``None`` when the
property holds, or one line that says what broke.

Between-region wiring ignores the diagonal: degrees, edge counts, weights and
strengths are taken over ``Connectome.between`` (self-loops excluded).

Parameterised invariants. ``strength`` and ``edge_length_distribution`` depend
on a number (a tolerance, a bin count). :data:`INVARIANTS` holds them with
their strict defaults (strengths equal up to float rounding, 10 length bins);
a model that promises something looser or finer says so by defining
``invariant_checks(self) -> Mapping[str, Check]``, which returns checks built
with :func:`strength_within` or :func:`edge_lengths_binned` and replaces the
defaults for that model only. ``gap_strength`` (:func:`gap_strength_within`)
and ``class_wiring`` (:func:`class_wiring_kept`) work the same way.

Gap junctions. A neuron-level connectome may carry a symmetric gap-junction
count matrix (``Connectome.gap_junctions``). By default they count as
anatomy: the ``anatomy`` check, and the guard of a study, demand them
identical. A model asked to rewire them says so with its parameter
``gap_junctions: rewire`` (:func:`rewires_gap_junctions`); its ``anatomy``
then leaves them out, and the ``gap_*`` invariants it declares say what it
keeps of them. The ``gap_*`` checks read the pairs of distinct neurons (the
upper triangle) and, for ``gap_self_junctions``, the diagonal; a connectome
without gap junctions passes them only against one without. Symmetry needs
no check: a :class:`~encephagen.connectome.Connectome` refuses an asymmetric
gap matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from encephagen.connectome import Connectome, diagonal, entries, matrix_from_entries
from encephagen.errors import DataError, PluginError

#: ``check(original, surrogate) -> None`` when it holds, else a one-line message.
Check = Callable[[Connectome, Connectome], str | None]

#: Bin count of the default ``edge_length_distribution`` check.
DEFAULT_LENGTH_BINS = 10


# -- helpers shared with the null models ---------------------------------------------


def edge_lengths(connectome: Connectome) -> np.ndarray:
    """``(n, n)`` length in mm of every region pair (rows = sources); ``NaN`` where a tract length is missing.

    Tract lengths when the connectome has them (filled ones included, see
    ``connectome.missing_lengths``), otherwise the Euclidean distance between
    region centres.

    :raises DataError: when the connectome has neither.
    """
    if connectome.tract_lengths is not None:
        return np.asarray(connectome.tract_lengths, dtype=np.float64)
    if connectome.positions is not None:
        return connectome.distances()
    raise DataError.at(
        "tract_lengths",
        f"connectome {connectome.name!r} has neither tract_lengths nor positions, so edge lengths "
        "are unknown; use a connectome source that provides one of them",
    )


def length_bin_edges(lengths: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges (mm) that split the between-region pair lengths into equal-count bins.

    The edges are quantiles over all off-diagonal pairs (connected or not)
    that have a length, so they depend on the anatomy only and are the same
    for a connectome and its surrogates. Tied quantiles merge, so there may
    be fewer than ``bins`` bins.

    :param lengths: ``(n, n)`` lengths in mm.
    :param bins: requested number of bins (>= 1).
    :returns: sorted, unique interior edges, ``(k - 1,)`` for ``k`` bins.
    """
    n = lengths.shape[0]
    off = lengths[~np.eye(n, dtype=bool)]
    off = off[~np.isnan(off)]
    if off.size == 0 or bins <= 1:
        return np.empty(0)
    q = np.quantile(off, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(q)


def length_bins(lengths: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``(n, n)`` int bin index of every pair; a length equal to an edge goes to the upper bin.

    Bins ``0 .. len(edges)`` hold lengths; a missing length (``NaN``) gets a
    bin of its own, ``len(edges) + 1``.
    """
    out = np.searchsorted(edges, lengths, side="right")
    out[np.isnan(lengths)] = edges.size + 1
    return out


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance ``max_x |F_a(x) - F_b(x)|`` of two samples (0 to 1).

    ``F`` is the empirical cumulative distribution; two empty samples are 0
    apart, an empty and a non-empty one 1.
    """
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    if a.size == 0 or b.size == 0:
        return 0.0 if a.size == b.size else 1.0
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.abs(fa - fb).max())


def strengths(connectome: Connectome) -> tuple[np.ndarray, np.ndarray]:
    """Between-region ``(out, in)`` strengths, each ``(n,)`` (sum of row / column weights)."""
    if connectome.is_sparse:
        return connectome.strengths()
    b = connectome.between
    return b.sum(axis=1), b.sum(axis=0)


# -- the checks ----------------------------------------------------------------------


def _label(c: Connectome, i: int) -> str:
    return f"region {i} ({c.labels[i]})"


def _compare_vectors(what: str, original: Connectome, a: np.ndarray, b: np.ndarray) -> str | None:
    if a.shape != b.shape:
        return f"{what} has {b.shape[0]} entries, expected {a.shape[0]}"
    bad = np.flatnonzero(a != b)
    if bad.size == 0:
        return None
    i = int(bad[0])
    return f"{what} of {_label(original, i)} changed from {a[i]} to {b[i]} ({bad.size} regions differ)"


def _same_size(original: Connectome, surrogate: Connectome) -> str | None:
    if original.n_regions != surrogate.n_regions:
        return f"surrogate has {surrogate.n_regions} regions, the original {original.n_regions}"
    return None


def check_n_regions(original: Connectome, surrogate: Connectome) -> str | None:
    """The number of regions is unchanged."""
    return _same_size(original, surrogate)


def check_in_degree(original: Connectome, surrogate: Connectome) -> str | None:
    """Every region keeps its between-region in-degree."""
    return _same_size(original, surrogate) or _compare_vectors(
        "in-degree", original, original.in_degree(), surrogate.in_degree()
    )


def check_out_degree(original: Connectome, surrogate: Connectome) -> str | None:
    """Every region keeps its between-region out-degree."""
    return _same_size(original, surrogate) or _compare_vectors(
        "out-degree", original, original.out_degree(), surrogate.out_degree()
    )


def check_n_edges(original: Connectome, surrogate: Connectome) -> str | None:
    """The number of between-region edges is unchanged."""
    if original.n_edges != surrogate.n_edges:
        return f"{surrogate.n_edges} between-region edges, expected {original.n_edges}"
    return None


def check_weights_multiset(original: Connectome, surrogate: Connectome) -> str | None:
    """The between-region non-zero weights are the same multiset (exactly)."""
    return _same_multiset(original.edges()[2], surrogate.edges()[2], "non-zero between-region weights", "between-region weights")


def _same_multiset(original: np.ndarray, surrogate: np.ndarray, counted: str, ranked: str) -> str | None:
    """``None`` when the two value lists are the same multiset, else what differs (``counted``: what the sizes
    count, ``ranked``: what the sorted values are)."""
    a, b = np.sort(original), np.sort(surrogate)
    if a.shape != b.shape:
        return f"{b.size} {counted}, expected {a.size}"
    bad = np.flatnonzero(a != b)
    if bad.size:
        i = int(bad[0])
        return f"sorted {ranked} differ at rank {i}: {b[i]:g} instead of {a[i]:g} ({bad.size} ranks differ)"
    return None


def check_binary_topology(original: Connectome, surrogate: Connectome) -> str | None:
    """The same between-region pairs are connected."""
    if (msg := _same_size(original, surrogate)) is not None:
        return msg
    n = original.n_regions
    ko, ks = (c.edges()[0] * n + c.edges()[1] for c in (original, surrogate))
    diff = np.setxor1d(ko, ks, assume_unique=True)  # sorted: row-major
    if diff.size:
        s, d = int(diff[0] // n), int(diff[0] % n)
        change = "lost its edge" if np.isin(diff[0], ko) else "gained an edge"
        return f"pair {s}->{d} {change} ({diff.size} pairs differ)"
    return None


def check_self_loops(original: Connectome, surrogate: Connectome) -> str | None:
    """The diagonal (self-loop weights) is unchanged."""
    if (msg := _same_size(original, surrogate)) is not None:
        return msg
    return _compare_vectors(
        "self-loop weight", original, original.self_loops(), surrogate.self_loops()
    )


def check_no_self_loops_created(original: Connectome, surrogate: Connectome) -> str | None:
    """No region has a self-loop that it did not have before."""
    if (msg := _same_size(original, surrogate)) is not None:
        return msg
    new = np.flatnonzero((surrogate.self_loops() != 0) & (original.self_loops() == 0))
    if new.size:
        return f"{new.size} self-loops created, first at {_label(original, int(new[0]))}"
    return None


def check_symmetric(original: Connectome, surrogate: Connectome) -> str | None:
    """A symmetric (undirected) input gives a symmetric surrogate."""
    if original.is_symmetric and not surrogate.is_symmetric:
        n, w = surrogate.n_regions, surrogate.weights
        r, c, _ = entries(w)
        odd = np.setxor1d(r * n + c, c * n + r, assume_unique=True)
        if odd.size:
            s, d = int(odd[0] // n), int(odd[0] % n)
        else:  # the same pairs, different weights
            s, d = next((int(a), int(b)) for a, b in zip(r, c) if w[a, b] != w[b, a])
        return f"input was symmetric, surrogate is not (first at {s}->{d}: {w[s, d]} vs {w[d, s]})"
    return None


def strength_within(rtol: float) -> Check:
    """A ``strength`` check: every between-region in- and out-strength within ``rtol`` of the original.

    Region ``i`` passes when ``|s'_i - s_i| <= rtol * s_i`` (plus a float
    rounding slack of ``1e-9`` times the largest strength).

    :param rtol: relative tolerance, ``>= 0``; ``0`` asks for equality.
    """
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol}")

    def check_strength(original: Connectome, surrogate: Connectome) -> str | None:
        if (msg := _same_size(original, surrogate)) is not None:
            return msg
        worst: tuple[float, str, int, float, float] | None = None
        for which, s0, s1 in zip(("out", "in"), strengths(original), strengths(surrogate)):
            slack = 1e-9 * max(1.0, float(np.abs(s0).max()))
            excess = np.abs(s1 - s0) - rtol * np.abs(s0) - slack
            i = int(np.argmax(excess))
            if excess[i] > 0 and (worst is None or excess[i] > worst[0]):
                worst = (float(excess[i]), which, i, float(s0[i]), float(s1[i]))
        if worst is None:
            return None
        _, which, i, s0i, s1i = worst
        rel = abs(s1i - s0i) / s0i if s0i else float("inf")
        return (
            f"{which}-strength of {_label(original, i)} moved from {s0i:g} to {s1i:g} "
            f"(relative {rel:.3g} > tolerance {rtol:g})"
        )

    check_strength.rtol = rtol  # type: ignore[attr-defined]
    return check_strength


def edge_lengths_binned(bins: int) -> Check:
    """An ``edge_length_distribution`` check: same number of edges in each length bin.

    Bins are :func:`length_bin_edges` of the original's lengths, plus one bin
    for the pairs without a length (:func:`length_bins`)
    (:func:`edge_lengths`); each connectome's edges are measured with its own
    lengths, over the non-zero between-region entries (both directions of a
    symmetric matrix count).

    :param bins: requested number of equal-count bins, ``>= 1``.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")

    def check_edge_lengths(original: Connectome, surrogate: Connectome) -> str | None:
        if (msg := _same_size(original, surrogate)) is not None:
            return msg
        edges = length_bin_edges(edge_lengths(original), bins)
        k = edges.size + 2  # the last bin holds pairs without a length
        counts = []
        for c in (original, surrogate):
            idx = length_bins(edge_lengths(c), edges)[c.between != 0]
            counts.append(np.bincount(idx, minlength=k))
        bad = np.flatnonzero(counts[0] != counts[1])
        if bad.size:
            j = int(bad[0])
            if j == k - 1:
                where = "without a length"
            else:
                lo = "0" if j == 0 else f"{edges[j - 1]:.3g}"
                hi = "inf" if j == edges.size else f"{edges[j]:.3g}"
                where = f"in length bin {j} [{lo}, {hi}) mm"
            return f"{counts[1][j]} edges {where}, expected {counts[0][j]} ({bad.size} of {k} bins differ)"
        return None

    check_edge_lengths.bins = bins  # type: ignore[attr-defined]
    return check_edge_lengths


def anatomy_kept(gap_junctions: bool = True) -> Check:
    """An ``anatomy`` check: labels, positions, tract lengths, groups, resolution, signs and cell classes are identical.

    :param gap_junctions: the gap junctions must be identical too (the
        default); ``False`` for a model that rewires them.
    """

    def check_anatomy(original: Connectome, surrogate: Connectome) -> str | None:
        diffs = original.anatomy_differences(surrogate, gap_junctions=gap_junctions)
        if diffs:
            return "anatomy changed: " + ", ".join(diffs) + " differ from the original"
        return None

    check_anatomy.gap_junctions = gap_junctions  # type: ignore[attr-defined]
    return check_anatomy


check_anatomy = anatomy_kept()


# -- gap junctions ---------------------------------------------------------------------


def rewires_gap_junctions(model: Any) -> bool:
    """Whether ``model`` is asked to rewire the gap junctions: its parameter ``gap_junctions`` is ``"rewire"``.

    Such a model's ``anatomy`` leaves the gap junctions out (:func:`checks_for`),
    and so does the anatomy guard of a study; every other model must return
    them as they are.
    """
    return getattr(model, "gap_junctions", "keep") == "rewire"


def _gap_presence(original: Connectome, surrogate: Connectome) -> str | None:
    if (msg := _same_size(original, surrogate)) is not None:
        return msg
    if (original.gap_junctions is None) != (surrogate.gap_junctions is None):
        return "the original has gap junctions and the surrogate none" if surrogate.gap_junctions is None else (
            "the surrogate has gap junctions and the original none"
        )
    return None


def _gap_between(c: Connectome) -> Any:
    """The gap junctions between distinct neurons as a symmetric sparse ``(n, n)`` matrix (either storage)."""
    i, j, v = c.gap_pairs()
    return matrix_from_entries(c.n_regions, np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([v, v]), sparse=True)


def _gap_sums(c: Connectome, counts: bool) -> np.ndarray:
    """``(n,)`` per neuron: its gap-junction partners (``counts=False``) or junctions (``True``) with distinct neurons."""
    i, j, v = c.gap_pairs()
    w = v if counts else None
    return np.bincount(i, w, minlength=c.n_regions) + np.bincount(j, w, minlength=c.n_regions)


def check_gap_degree(original: Connectome, surrogate: Connectome) -> str | None:
    """Every neuron keeps its number of gap-junction partners (distinct neurons it shares a junction with)."""
    if (msg := _gap_presence(original, surrogate)) is not None or original.gap_junctions is None:
        return msg
    return _compare_vectors(
        "gap-junction degree", original,
        _gap_sums(original, False).astype(np.int64), _gap_sums(surrogate, False).astype(np.int64),
    )


def check_gap_multiset(original: Connectome, surrogate: Connectome) -> str | None:
    """The junction counts of the connected pairs of distinct neurons are the same multiset (exactly)."""
    if (msg := _gap_presence(original, surrogate)) is not None or original.gap_junctions is None:
        return msg
    return _same_multiset(original.gap_pairs()[2], surrogate.gap_pairs()[2], "pairs of neurons joined by gap junctions",
                          "gap-junction counts per pair")


def check_gap_topology(original: Connectome, surrogate: Connectome) -> str | None:
    """The same pairs of distinct neurons are joined by gap junctions."""
    if (msg := _gap_presence(original, surrogate)) is not None or original.gap_junctions is None:
        return msg
    n = original.n_regions
    ko, ks = (c.gap_pairs()[0] * n + c.gap_pairs()[1] for c in (original, surrogate))
    diff = np.setxor1d(ko, ks, assume_unique=True)  # sorted: row-major over the upper triangle
    if diff.size:
        i, j = int(diff[0] // n), int(diff[0] % n)
        change = "lost its gap junctions" if np.isin(diff[0], ko) else "gained gap junctions"
        return f"pair {i}-{j} {change} ({diff.size} pairs differ)"
    return None


def check_gap_self_junctions(original: Connectome, surrogate: Connectome) -> str | None:
    """The diagonal of the gap-junction matrix (junctions of a neuron with itself) is unchanged."""
    if (msg := _gap_presence(original, surrogate)) is not None or original.gap_junctions is None:
        return msg
    return _compare_vectors(
        "gap junctions with itself", original, diagonal(original.gap_junctions), diagonal(surrogate.gap_junctions)
    )


def gap_strength_within(rtol: float) -> Check:
    """A ``gap_strength`` check: every neuron's gap-junction count with distinct neurons within ``rtol`` of the original.

    Neuron ``i`` passes when ``|s'_i - s_i| <= rtol * s_i`` (plus a float
    rounding slack of ``1e-9`` times the largest count), ``s_i`` the sum of
    row ``i`` of the gap matrix without its diagonal.

    :param rtol: relative tolerance, ``>= 0``; ``0`` asks for equality.
    """
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol}")

    def check_gap_strength(original: Connectome, surrogate: Connectome) -> str | None:
        if (msg := _gap_presence(original, surrogate)) is not None or original.gap_junctions is None:
            return msg
        s0, s1 = _gap_sums(original, True), _gap_sums(surrogate, True)
        excess = np.abs(s1 - s0) - rtol * s0 - 1e-9 * max(1.0, float(s0.max(initial=0.0)))
        i = int(np.argmax(excess))
        if excess[i] <= 0:
            return None
        rel = abs(s1[i] - s0[i]) / s0[i] if s0[i] else float("inf")
        return (
            f"gap-junction strength of {_label(original, i)} moved from {s0[i]:g} to {s1[i]:g} "
            f"(relative {rel:.3g} > tolerance {rtol:g})"
        )

    check_gap_strength.rtol = rtol  # type: ignore[attr-defined]
    return check_gap_strength


# -- cell classes ------------------------------------------------------------------------


def class_index(connectome: Connectome) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(n,)`` int class of every node and the class names (sorted), from ``cell_classes``.

    :raises DataError: at ``cell_classes`` when the connectome has none.
    """
    if connectome.cell_classes is None:
        raise DataError.at(
            "cell_classes",
            f"connectome {connectome.name!r} has no cell classes; use a neuron-level source that provides them "
            "(e.g. celegans) or a null model that does not need them",
        )
    names, idx = np.unique(np.asarray(connectome.cell_classes, dtype=str), return_inverse=True)
    return idx.astype(np.int64), tuple(str(x) for x in names)


def _class_profiles(c: Connectome, cls: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per node and class: out-edges to, in-edges from, gap partners in; and class-by-class sums."""
    onehot = np.eye(k)[cls]  # (n, k)
    src, dst, w = c.edges()
    b = matrix_from_entries(c.n_regions, src, dst, w, sparse=True)
    out = {
        "out-edges to class": (b != 0) @ onehot,
        "in-edges from class": (b != 0).T @ onehot,
        "class-to-class weight": (b.T @ onehot).T @ onehot,
    }
    if c.gap_junctions is not None:
        g = _gap_between(c)
        out["gap-junction partners in class"] = (g != 0) @ onehot
        out["class-to-class gap junctions"] = (g.T @ onehot).T @ onehot
    return out


def class_wiring_kept(sources: bool = True) -> Check:
    """A ``class_wiring`` check: the wiring between cell classes is kept.

    Holds when every node keeps its number of out-edges to each class, the
    class-by-class sums of the between-node weights are kept (up to a float
    rounding slack of ``1e-9`` times the largest sum), and, with gap
    junctions, every node keeps its number of gap-junction partners in each
    class and the class-by-class sums of the gap junctions. With
    ``sources`` every node also keeps its number of in-edges from each class.

    :param sources: also ask for the in-edges from each class (the default).
    """

    def check_class_wiring(original: Connectome, surrogate: Connectome) -> str | None:
        if (msg := _gap_presence(original, surrogate)) is not None:
            return msg
        if surrogate.cell_classes != original.cell_classes:
            return "the surrogate's cell classes differ from the original's"
        cls, names = class_index(original)
        before, after = (_class_profiles(c, cls, len(names)) for c in (original, surrogate))
        for what, a in before.items():
            if not sources and what == "in-edges from class":
                continue
            bad = np.argwhere(np.abs(after[what] - a) > 1e-9 * max(1.0, float(np.abs(a).max(initial=0.0))))
            if bad.size:
                i, j = (int(x) for x in bad[0])
                who = f"class {names[i]}" if what.startswith("class-to-class") else _label(original, i)
                return f"{what} {names[j]} of {who} changed from {a[i, j]:g} to {after[what][i, j]:g} ({len(bad)} entries differ)"
        return None

    check_class_wiring.sources = sources  # type: ignore[attr-defined]
    return check_class_wiring


#: Invariant name -> check. Parameterised entries hold their strict defaults.
INVARIANTS: dict[str, Check] = {
    "n_regions": check_n_regions,
    "in_degree": check_in_degree,
    "out_degree": check_out_degree,
    "n_edges": check_n_edges,
    "weights_multiset": check_weights_multiset,
    "binary_topology": check_binary_topology,
    "self_loops": check_self_loops,
    "no_self_loops_created": check_no_self_loops_created,
    "symmetric": check_symmetric,
    "strength": strength_within(0.0),
    "edge_length_distribution": edge_lengths_binned(DEFAULT_LENGTH_BINS),
    "anatomy": check_anatomy,
    "gap_degree": check_gap_degree,
    "gap_multiset": check_gap_multiset,
    "gap_topology": check_gap_topology,
    "gap_self_junctions": check_gap_self_junctions,
    "gap_strength": gap_strength_within(0.0),
    "class_wiring": class_wiring_kept(),
}


def checks_for(model: Any) -> dict[str, Check]:
    """The check of each invariant ``model`` declares, with the model's own overrides.

    A model that rewires gap junctions (:func:`rewires_gap_junctions`) gets
    the ``anatomy`` check without them, unless it overrides ``anatomy`` itself.

    :raises PluginError: when the model declares a name that is not in
        :data:`INVARIANTS`, or overrides one it does not declare.
    """
    name = getattr(model, "name", type(model).__name__)
    declared = tuple(getattr(model, "invariants", ()))
    unknown = [n for n in declared if n not in INVARIANTS]
    if unknown:
        raise PluginError.at(
            "", f"null model {name!r} declares unknown invariants {unknown}; known: {', '.join(INVARIANTS)}"
        )
    from encephagen.interfaces import ChecksInvariants

    overrides: Mapping[str, Check] = model.invariant_checks() if isinstance(model, ChecksInvariants) else {}
    stray = [n for n in overrides if n not in declared]
    if stray:
        raise PluginError.at(
            "", f"null model {name!r} overrides the checks {stray} but does not declare them in invariants"
        )
    defaults = dict(INVARIANTS, anatomy=anatomy_kept(gap_junctions=not rewires_gap_junctions(model)))
    return {n: overrides.get(n, defaults[n]) for n in declared}


def check_invariants(model: Any, original: Connectome, surrogate: Connectome) -> list[str]:
    """Every violation of ``model``'s declared invariants, as ``"name: message"`` lines.

    :param model: a null model (it needs ``invariants``; ``invariant_checks`` is optional).
    :param original: the connectome that was randomised.
    :param surrogate: what ``model.randomize(original, rng)`` returned.
    :returns: an empty list when every declared invariant holds.
    """
    out = []
    for n, check in checks_for(model).items():
        msg = check(original, surrogate)
        if msg is not None:
            out.append(f"{n}: {msg}")
    return out
