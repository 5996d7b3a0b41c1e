"""The :class:`Connectome` value: a wiring diagram (regions or single neurons) that checks itself.

Orientation. Inside encephagen every weight matrix is read **rows = sources**:
``weights[src, dst]`` is the projection from region ``src`` to region ``dst``.
A source that reads a data set stored the other way (The Virtual Brain stores
rows = targets) transposes on load and records what it did in
``orientation``, so the choice is visible in every report.

Resolution. A node is a brain region (``resolution="regions"``, every data
set of the reference model) or one neuron (``"neurons"``, e.g. the
*C. elegans* connectomes). A neuron-level connectome may also carry a
symmetric gap-junction count matrix, a sign per neuron (from its
transmitter) and a cell class per neuron; all three are absent on a region
graph, and then the value and its :meth:`Connectome.digest` are exactly what
they were before these fields existed.

Storage. ``weights`` and ``gap_junctions`` are dense ``(n, n)`` arrays, or,
for a neuron-level connectome too large for that (a FlyWire-scale edge list:
139,000 neurons would need 155 GB per dense matrix), ``scipy.sparse``
``csr_array`` matrices that store only the non-zero entries. The two forms
of one graph describe the same wiring: every property and method below
answers the same, and :meth:`Connectome.edges` lists the edges in the same
(row-major) order; only :meth:`Connectome.digest` tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import scipy.sparse as sp

from encephagen.errors import DataError

def centre_distances(positions: Any) -> np.ndarray:
    """``(n, n)`` float64 Euclidean distances (mm) between the rows of ``positions`` (``(n, 3)``, mm)."""
    p = np.asarray(positions, dtype=np.float64)
    return np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=-1))


def groups_by_substring(
    labels: Sequence[str], patterns: Mapping[str, Sequence[str]]
) -> dict[str, tuple[int, ...]]:
    """Region groups by case-insensitive substring match on ``labels``.

    :param labels: one label per region.
    :param patterns: group name -> substrings; a region belongs to the group
        when its label contains any of them.
    :returns: group name -> region indices in label order; groups that match
        nothing are left out.
    """
    out: dict[str, tuple[int, ...]] = {}
    for name, subs in patterns.items():
        subs_u = [s.upper() for s in subs]
        idx = tuple(i for i, lab in enumerate(labels) if any(s in lab.upper() for s in subs_u))
        if idx:
            out[name] = idx
    return out


def _frozen_array(a: Any, dtype: type = np.float64) -> np.ndarray:
    arr = np.array(a, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def _opt_frozen(a: Any) -> np.ndarray | None:
    return None if a is None else _frozen_array(a)


#: A weight matrix: dense ``(n, n)`` or a ``scipy.sparse.csr_array``.
Matrix = Any


def _frozen_matrix(a: Any) -> Matrix:
    """A read-only float64 copy: a dense array, or a canonical ``csr_array`` (sorted indices, repeats summed, no stored 0)."""
    if not sp.issparse(a):
        return _frozen_array(a)
    m = sp.csr_array(a, dtype=np.float64, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    for arr in (m.data, m.indices, m.indptr):
        arr.setflags(write=False)
    return m


def _opt_frozen_matrix(a: Any) -> Matrix | None:
    return None if a is None else _frozen_matrix(a)


def entries(m: Matrix, diagonal: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero entries of a dense or sparse square matrix as ``(row, col, value)``, row-major.

    :param diagonal: include the diagonal.
    :returns: int64, int64 and float64 arrays; the same for both storage forms of one matrix.
    """
    if sp.issparse(m):
        m = sp.csr_array(m)
        if not m.has_canonical_format:  # repeated or unsorted entries: merged and sorted on a copy
            m = m.copy()
            m.sum_duplicates()
        r = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))  # CSR: row-major already
        c, v = m.indices.astype(np.int64), m.data.astype(np.float64)
        keep = v != 0
    else:
        r, c = np.nonzero(m)
        v = np.asarray(m, dtype=np.float64)[r, c]
        r, c = r.astype(np.int64), c.astype(np.int64)
        keep = np.ones(r.size, bool)
    if not diagonal:
        keep &= r != c
    return r[keep], c[keep], v[keep]


def matrix_from_entries(n: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, sparse: bool) -> Matrix:
    """An ``(n, n)`` matrix with these entries (each at most once), dense or a ``csr_array``."""
    if sparse:
        return sp.csr_array((np.asarray(values, np.float64), (np.asarray(rows), np.asarray(cols))), shape=(n, n))
    w = np.zeros((n, n), dtype=np.float64)
    w[rows, cols] = values
    return w


def diagonal(m: Matrix) -> np.ndarray:
    """``(n,)`` float64: the diagonal of a dense or sparse square matrix."""
    return np.asarray(m.diagonal() if sp.issparse(m) else np.diag(m), dtype=np.float64)


def _opt_frozen_mask(a: Any) -> np.ndarray | None:
    return None if a is None else _frozen_array(a, bool)


def _opt_frozen_signs(a: Any) -> np.ndarray | None:
    return None if a is None else _frozen_array(a, np.int8)


def _opt_labels(x: Any) -> tuple[str, ...] | None:
    return None if x is None else tuple(str(s) for s in x)


#: What a node of a connectome is.
RESOLUTIONS = ("regions", "neurons")


def _freeze_groups(g: Mapping[str, Sequence[int]]) -> Mapping[str, tuple[int, ...]]:
    return dict((str(k), tuple(int(i) for i in v)) for k, v in dict(g).items())


def _joined(provenance: str, note: str) -> str:
    return f"{provenance}; {note}" if provenance else note


def _array_eq(a: Matrix | None, b: Matrix | None) -> bool:
    if a is None or b is None:
        return a is b
    if sp.issparse(a) or sp.issparse(b):
        return a.shape == b.shape and all(np.array_equal(x, y) for x, y in zip(entries(a), entries(b)))
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


@attrs.frozen(eq=False)
class Connectome:
    """A directed, weighted graph of regions (or of single neurons) with its anatomy.

    :ivar weights: ``(n, n)`` float64, non-negative and finite;
        ``weights[src, dst]`` (rows = sources). The diagonal holds self-loops,
        which between-region wiring ignores. A neuron-level connectome may
        hold it as a ``scipy.sparse.csr_array`` (see the module docstring).
    :ivar labels: ``n`` region names.
    :ivar positions: ``(n, 3)`` region centres in mm, or ``None``.
    :ivar tract_lengths: ``(n, n)`` tract lengths in mm (rows = sources), or
        ``None``. ``NaN`` marks a pair whose length was not measured (data
        sets often store 0 there; sources turn that 0 into ``NaN``).
    :ivar groups: group name -> region indices (e.g. ``"visual"``).
    :ivar orientation: how the data set stored its matrix and what was done
        (e.g. ``"rows=targets (TVB convention), transposed on load"``).
    :ivar provenance: where the data come from, honestly stated.
    :ivar name: a short identifier, e.g. ``"tvb:connectivity_96"``.
    :ivar history: null models applied so far, oldest first.
    :ivar filled_lengths: ``(n, n)`` bool, the pairs whose missing tract length
        was filled (:meth:`with_lengths_filled`), or ``None`` when none was.
    :ivar resolution: ``"regions"`` (a node is a brain region) or ``"neurons"``
        (a node is one neuron; ``weights`` then counts chemical synapses).
    :ivar gap_junctions: ``(n, n)`` float64 gap-junction counts, symmetric,
        non-negative and finite (electrical synapses have no direction), or
        ``None``. A null model keeps them as they are unless it is asked to
        rewire them too (its parameter ``gap_junctions: rewire``, see
        :meth:`with_weights`); the diagonal (junctions of a neuron with
        itself) is never moved.
    :ivar signs: ``(n,)`` int8 sign of each node's outgoing chemical synapses:
        ``1`` excitatory, ``-1`` inhibitory, ``0`` unknown; or ``None``.
    :ivar cell_classes: ``n`` cell-class names (``ASEL`` and ``ASER`` are
        class ``ASE``), or ``None``.
    """

    weights: Matrix = attrs.field(converter=_frozen_matrix)
    labels: tuple[str, ...] = attrs.field(converter=lambda x: tuple(str(s) for s in x))
    positions: np.ndarray | None = attrs.field(default=None, converter=_opt_frozen)
    tract_lengths: np.ndarray | None = attrs.field(default=None, converter=_opt_frozen)
    groups: Mapping[str, tuple[int, ...]] = attrs.field(factory=dict, converter=_freeze_groups)
    orientation: str = "rows=sources"
    provenance: str = ""
    name: str = "unnamed"
    history: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    filled_lengths: np.ndarray | None = attrs.field(default=None, converter=_opt_frozen_mask)
    resolution: str = "regions"
    gap_junctions: Matrix | None = attrs.field(default=None, converter=_opt_frozen_matrix)
    signs: np.ndarray | None = attrs.field(default=None, converter=_opt_frozen_signs)
    cell_classes: tuple[str, ...] | None = attrs.field(default=None, converter=_opt_labels)

    def __attrs_post_init__(self) -> None:
        w = self.weights
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise DataError.at("weights", f"must be a square matrix, got shape {w.shape}")
        n = w.shape[0]
        if n == 0:
            raise DataError.at("weights", "has no regions")
        if self.is_sparse and (self.resolution != "neurons" or self.positions is not None or self.tract_lengths is not None):
            raise DataError.at(
                "weights", "is sparse, which only a neuron-level connectome without positions or tract lengths may be; "
                "give a dense matrix"
            )
        r, c, v = entries(w)
        for bad, what, fix in ((~np.isfinite(v), "non-finite", "replace NaN/inf with 0 or a value"),
                               (v < 0, "negative", "connection weights must be >= 0")):
            if bad.any():
                k = int(np.argmax(bad))
                raise DataError.at("weights", f"has {int(bad.sum())} {what} entries (first at [{r[k]}, {c[k]}]); {fix}")
        if len(self.labels) != n:
            raise DataError.at("labels", f"has {len(self.labels)} names for {n} regions")
        if self.positions is not None:
            p = self.positions
            if p.shape != (n, 3) or not np.all(np.isfinite(p)):
                raise DataError.at("positions", f"must be a finite ({n}, 3) array in mm, got shape {p.shape}")
        if self.tract_lengths is not None:
            t = self.tract_lengths
            if t.shape != (n, n) or np.any(np.isinf(t)) or np.any(t[~np.isnan(t)] < 0):
                raise DataError.at("tract_lengths", f"must be a non-negative ({n}, {n}) array in mm (NaN where not measured)")
        if self.filled_lengths is not None:
            f = self.filled_lengths
            if self.tract_lengths is None or f.shape != (n, n) or np.any(np.isnan(self.tract_lengths[f])):
                raise DataError.at("filled_lengths", f"must be a ({n}, {n}) mask of pairs whose tract length was filled")
        self._check_cellular(n)
        for g, idx in self.groups.items():
            if not idx:
                raise DataError.at(f"groups.{g}", "is empty")
            if min(idx) < 0 or max(idx) >= n:
                raise DataError.at(f"groups.{g}", f"has region indices outside 0..{n - 1}")

    def _check_cellular(self, n: int) -> None:
        if self.resolution not in RESOLUTIONS:
            raise DataError.at("resolution", f"must be one of {', '.join(RESOLUTIONS)}, got {self.resolution!r}")
        g = self.gap_junctions
        if g is not None:
            i, j, v = entries(g) if g.shape == (n, n) else (None, None, np.array([np.nan]))
            if g.shape != (n, n) or not np.all(np.isfinite(v)) or np.any(v < 0):
                raise DataError.at("gap_junctions", f"must be a finite, non-negative ({n}, {n}) array of counts, got shape {g.shape}")
            key, mirrored = i * n + j, j * n + i
            order = np.argsort(mirrored)
            if not (np.array_equal(key, mirrored[order]) and np.array_equal(v, v[order])):
                k = int(np.argmax((key != mirrored[order]) | (v != v[order])))
                a, b = int(key[k] // n), int(key[k] % n)
                raise DataError.at(
                    "gap_junctions", f"must be symmetric (gap junctions have no direction); [{a}, {b}] = {g[a, b]:g} but [{b}, {a}] = {g[b, a]:g}"
                )
        s = self.signs
        if s is not None and (s.shape != (n,) or not np.all(np.isin(s, (-1, 0, 1)))):
            raise DataError.at("signs", f"must hold {n} values of 1 (excitatory), -1 (inhibitory) or 0 (unknown)")
        if self.cell_classes is not None and len(self.cell_classes) != n:
            raise DataError.at("cell_classes", f"has {len(self.cell_classes)} names for {n} nodes")

    # -- derived properties ---------------------------------------------------------
    @property
    def n_regions(self) -> int:
        """Number of regions ``n``."""
        return int(self.weights.shape[0])

    def distances(self) -> np.ndarray:
        """``(n, n)`` Euclidean distance in mm between region centres (:func:`centre_distances` of ``positions``).

        :raises DataError: at ``positions`` when the connectome has none.
        """
        if self.positions is None:
            raise DataError.at("positions", f"connectome {self.name!r} has no region centres to measure distances")
        return centre_distances(self.positions)

    @property
    def is_sparse(self) -> bool:
        """True when ``weights`` is stored sparse (a ``scipy.sparse.csr_array``)."""
        return sp.issparse(self.weights)

    @property
    def unmeasured(self) -> np.ndarray:
        """``(n, n)`` bool: region pairs ``i != j`` without a tract length (``NaN``); all false without tract lengths.

        :raises DataError: at ``weights`` on a sparse connectome (which has no lengths; test ``tract_lengths`` first).
        """
        if self.is_sparse:
            raise DataError.at("weights", f"connectome {self.name!r} is sparse and has no tract lengths")
        if self.tract_lengths is None:
            return np.zeros(self.weights.shape, dtype=bool)
        out = np.isnan(self.tract_lengths)
        np.fill_diagonal(out, False)
        return out

    @property
    def between(self) -> Matrix:
        """``(n, n)`` weights with the diagonal (self-loops) set to 0, in the storage of ``weights``."""
        if self.is_sparse:
            r, c, v = self.edges()
            return matrix_from_entries(self.n_regions, r, c, v, sparse=True)
        w = self.weights.copy()
        np.fill_diagonal(w, 0.0)
        return w

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The between-region edges ``(src, dst, weight)``, row-major (int64, int64, float64; self-loops left out)."""
        return entries(self.weights, diagonal=False)

    def self_loops(self) -> np.ndarray:
        """``(n,)`` float64: the diagonal of ``weights``."""
        return diagonal(self.weights)

    def gap_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gap junctions between distinct nodes, each pair once, ``(i, j, count)`` with ``i < j``, row-major; empty without them."""
        if self.gap_junctions is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        i, j, v = entries(self.gap_junctions, diagonal=False)
        up = i < j
        return i[up], j[up], v[up]

    @property
    def n_edges(self) -> int:
        """Number of between-region edges (self-loops excluded)."""
        return int(self.edges()[0].size)

    @property
    def n_self_loops(self) -> int:
        """Number of non-zero diagonal entries."""
        return int(np.count_nonzero(self.self_loops()))

    @property
    def n_gap_junctions(self) -> int:
        """Gap junctions between distinct nodes, each counted once (the upper triangle's sum); 0 without them."""
        if self.gap_junctions is None:
            return 0
        return int(round(float(self.gap_pairs()[2].sum())))

    @property
    def is_symmetric(self) -> bool:
        """True when ``weights`` equals its transpose."""
        if self.is_sparse:
            return _array_eq(self.weights, self.weights.T)
        return bool(np.array_equal(self.weights, self.weights.T))

    def out_degree(self) -> np.ndarray:
        """``(n,)`` between-region out-degree of every region."""
        return np.bincount(self.edges()[0], minlength=self.n_regions)

    def in_degree(self) -> np.ndarray:
        """``(n,)`` between-region in-degree of every region."""
        return np.bincount(self.edges()[1], minlength=self.n_regions)

    def strengths(self) -> tuple[np.ndarray, np.ndarray]:
        """Between-region ``(out, in)`` strengths, each ``(n,)`` float64 (sums of row / column weights)."""
        src, dst, w = self.edges()
        return np.bincount(src, w, minlength=self.n_regions), np.bincount(dst, w, minlength=self.n_regions)

    def group(self, name: str) -> tuple[int, ...]:
        """Region indices of group ``name``; a clear error if it is missing."""
        try:
            return self.groups[name]
        except KeyError:
            have = ", ".join(sorted(self.groups)) or "none"
            raise DataError.at(
                "groups", f"connectome {self.name!r} has no region group {name!r} (it has: {have}); add it under connectome.groups"
            ) from None

    # -- derivation ---------------------------------------------------------------
    def digest(self) -> str:
        """SHA-256 of the data (weights, labels, positions, tract lengths and which were filled, groups, orientation,
        and where present gap junctions, signs, cell classes and a resolution other than regions): what a brain is built from.

        A study stores it per cell, so a resume whose connectome file changed
        underneath it is refused instead of mixing two data sets. The fields a
        region graph lacks add nothing, so its digest is what it was before
        they existed.
        """
        import hashlib
        import json

        h = hashlib.sha256()
        if self.is_sparse:  # its entries, row-major (a dense digest would need the (n, n) matrix)
            h.update(b"sparse" + str(self.weights.shape).encode())
            for arr in entries(self.weights):
                h.update(np.ascontiguousarray(arr).tobytes())
            h.update(b"none" * 2)  # no positions, no tract lengths
        for arr in () if self.is_sparse else (self.weights, self.positions, self.tract_lengths):
            h.update(b"none" if arr is None else np.ascontiguousarray(arr, dtype=np.float64).tobytes() + str(arr.shape).encode())
        if self.filled_lengths is not None:  # absent when nothing was filled, so such digests are as before
            h.update(b"filled" + np.packbits(self.filled_lengths).tobytes())
        if self.gap_junctions is not None and sp.issparse(self.gap_junctions):
            h.update(b"gap-sparse" + b"".join(np.ascontiguousarray(a).tobytes() for a in entries(self.gap_junctions)))
        elif self.gap_junctions is not None:
            h.update(b"gap" + np.ascontiguousarray(self.gap_junctions, dtype=np.float64).tobytes())
        if self.signs is not None:
            h.update(b"signs" + np.ascontiguousarray(self.signs, dtype=np.int8).tobytes())
        meta: dict[str, Any] = {"labels": list(self.labels), "groups": {k: list(v) for k, v in self.groups.items()}, "orientation": self.orientation}
        if self.cell_classes is not None:
            meta["cell_classes"] = list(self.cell_classes)
        if self.resolution != "regions":
            meta["resolution"] = self.resolution
        h.update(json.dumps(meta, sort_keys=True).encode("utf-8"))
        return h.hexdigest()

    def with_weights(self, weights: np.ndarray, step: str, gap_junctions: np.ndarray | None = None) -> "Connectome":
        """A copy with new ``weights`` (and, if given, new ``gap_junctions``) and ``step`` appended to ``history``.

        Labels, positions, tract lengths (and which were filled), groups,
        orientation, provenance, resolution, signs and cell classes are
        carried over unchanged: a null model changes the wiring only, and a
        neuron keeps its transmitter. The gap junctions are kept as they are
        unless ``gap_junctions`` is given; a model that rewires them says
        what it did in ``step``.

        :param weights: ``(n, n)`` chemical weights, rows = sources.
        :param step: the history line of the model that made them.
        :param gap_junctions: ``(n, n)`` gap-junction counts, validated as on
            construction (symmetric, finite, non-negative); only for a
            connectome that has gap junctions.
        :raises DataError: at ``gap_junctions`` when the new matrix is not a
            valid one, or the connectome has none to replace.
        """
        if gap_junctions is None:
            return attrs.evolve(self, weights=weights, history=(*self.history, step))
        if self.gap_junctions is None:
            raise DataError.at("gap_junctions", f"connectome {self.name!r} has no gap junctions to replace")
        return attrs.evolve(self, weights=weights, gap_junctions=gap_junctions, history=(*self.history, step))

    def with_lengths_filled(self, min_mm: float | None = None) -> "Connectome":
        """A copy whose missing tract lengths (:attr:`unmeasured`) are the distances between region centres.

        A filled length is ``max(distance, min_mm)`` (mm). A pair whose centres
        coincide (distance 0, e.g. a data set's placeholder centre) stays
        missing unless ``min_mm`` is given. Measured lengths are never changed;
        :attr:`filled_lengths` marks the filled pairs and ``provenance`` says
        how many there are. Without tract lengths, centres or missing pairs,
        the connectome is returned as it is.

        :param min_mm: the shortest length a filled pair takes (mm, ``> 0``), or ``None``.
        """
        if self.positions is None or self.tract_lengths is None:
            return self
        missing = self.unmeasured
        if not missing.any():
            return self
        d = self.distances()
        if min_mm is not None:
            d = np.maximum(d, min_mm)
        fill = missing & (d > 0)
        if not fill.any():
            return self
        t = np.where(fill, d, self.tract_lengths)
        floor = f", at least {min_mm:g} mm" if min_mm is not None else ""
        left = int((missing & ~fill).sum())
        note = (
            f"{int(fill.sum())} unmeasured tract lengths filled with the distance between region centres{floor}"
            + (f"; {left} pairs with coinciding centres left without a length" if left else "")
        )
        done = fill if self.filled_lengths is None else fill | self.filled_lengths
        return attrs.evolve(self, tract_lengths=t, filled_lengths=done, provenance=_joined(self.provenance, note))

    def with_weights_scaled(self, factor: float, note: str) -> "Connectome":
        """A copy with every weight (self-loops included) multiplied by ``factor`` (> 0), ``note`` added to ``provenance``.

        Gap junctions are counts and are not scaled (their strength is the brain's ``g_gap``).
        """
        if not (np.isfinite(factor) and factor > 0):
            raise DataError.at("weights", f"cannot be scaled by {factor!r}; the factor must be finite and > 0")
        return attrs.evolve(self, weights=self.weights * factor, provenance=_joined(self.provenance, note))

    def with_groups(self, groups: Mapping[str, Sequence[int]]) -> "Connectome":
        """A copy whose groups are these (merged over the existing ones)."""
        merged = dict(self.groups)
        merged.update({k: tuple(v) for k, v in groups.items()})
        return attrs.evolve(self, groups=merged)

    def anatomy_equal(self, other: "Connectome") -> bool:
        """True when everything but the (chemical) weights is identical; gap junctions count as anatomy here."""
        return not self.anatomy_differences(other)

    def anatomy_differences(self, other: "Connectome", gap_junctions: bool = True) -> list[str]:
        """Names of the non-wiring fields that differ from ``other``.

        :param gap_junctions: count the gap junctions as anatomy too (they
            must then be identical), as for every null model that keeps them;
            ``False`` for one that rewires them
            (:func:`encephagen.invariants.rewires_gap_junctions`).
        """
        diffs = []
        if self.labels != other.labels:
            diffs.append("labels")
        if not _array_eq(self.positions, other.positions):
            diffs.append("positions")
        if not _array_eq(self.tract_lengths, other.tract_lengths):
            diffs.append("tract_lengths")
        if not _array_eq(self.filled_lengths, other.filled_lengths):
            diffs.append("filled_lengths")
        if dict(self.groups) != dict(other.groups):
            diffs.append("groups")
        if self.resolution != other.resolution:
            diffs.append("resolution")
        if not _array_eq(self.signs, other.signs):
            diffs.append("signs")
        if self.cell_classes != other.cell_classes:
            diffs.append("cell_classes")
        if gap_junctions and not _array_eq(self.gap_junctions, other.gap_junctions):
            diffs.append("gap_junctions")
        return diffs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Connectome):
            return NotImplemented
        return (
            self.anatomy_equal(other)
            and _array_eq(self.weights, other.weights)
            and self.orientation == other.orientation
            and self.name == other.name
        )

    __hash__ = None  # type: ignore[assignment]
