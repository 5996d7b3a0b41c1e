"""The ``geometric`` null model: a random graph wired by the exponential distance rule.

In cortex the probability that two areas are connected falls off roughly
exponentially with the distance between them (the "exponential distance
rule"). This surrogate asks whether wiring that follows distance alone does
as well as the connectome. It keeps the number of regions, the number of
between-region edges, the multiset of their weights, the self-loops (the
diagonal) and the anatomy. It then places the edges again: a pair of distinct
regions ``d`` mm apart is drawn with probability proportional to
``exp(-d / length_scale_mm)``, without replacement (successive draws, each
from the pairs not yet drawn), and the original weights are dealt to the
drawn pairs in random order, independently of distance. Degrees are not kept.

Directed or undirected. A connectome whose weight matrix equals its
transpose is treated as undirected: unordered pairs ``i < j`` are drawn, at
the mean of the two directed distances, and both directions get the pair's
weight, so the surrogate stays symmetric. Any other matrix is directed
(rows = sources) and ordered pairs are drawn.

Every random draw comes from the ``numpy.random.Generator`` passed in; the
input is never modified.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import numpy as np

from encephagen.connectome import Connectome
from encephagen.errors import ConfigError, DataError

#: Where distances come from: tract lengths when present (``auto``), or one source by request.
DISTANCES = ("auto", "tract_lengths", "centres")

#: ``exp(-x)`` is 0 in double precision beyond about this ``x``.
_UNDERFLOW = 745.0


def _as_float(value: Any) -> Any:
    """attrs converter: an ``int`` becomes a ``float``; anything else is left to the validator."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _finite_positive(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """attrs validator: a finite number ``> 0``."""
    if not isinstance(value, float):
        raise TypeError(f"'{att.name}' must be a number (mm), got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"'{att.name}' must be a finite length > 0 mm, got {value!r}")


def pair_distances(connectome: Connectome, distance: str = "auto") -> tuple[np.ndarray, str]:
    """``(n, n)`` distance in mm of every ordered region pair (rows = sources), and its source.

    :param distance: ``"auto"`` (tract lengths when the connectome has them,
        else the Euclidean distance between region centres),
        ``"tract_lengths"`` or ``"centres"``.
    :returns: ``(distances, "tract_lengths" | "centres")``.
    :raises DataError: when the chosen source is missing, when a tract
        length is missing (``NaN``), or when two distinct regions are 0 mm
        apart (data sets store 0 for a tract that was not measured; such
        pairs would be drawn first).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    name = connectome.name
    tracts = distance == "tract_lengths" or (distance == "auto" and connectome.tract_lengths is not None)
    if tracts:
        if connectome.tract_lengths is None:
            raise DataError.at(
                "tract_lengths",
                f"distance: tract_lengths, but connectome {name!r} has no tract lengths; "
                "use distance: auto or centres, or a connectome source with tract lengths",
            )
        dist, source = np.asarray(connectome.tract_lengths, dtype=np.float64), "tract_lengths"
    else:
        if connectome.positions is None:
            field, what = ("tract_lengths", "neither tract_lengths nor positions") if distance == "auto" else (
                "positions", "no positions (region centres)"
            )
            raise DataError.at(
                field,
                f"the geometric null model places edges by distance, but connectome {name!r} has {what}; "
                "use a connectome source that provides tract lengths or region centres",
            )
        dist, source = connectome.distances(), "centres"
    off = ~np.eye(dist.shape[0], dtype=bool)
    missing = np.isnan(dist) & off
    if missing.any():
        s, t = (int(x) for x in np.argwhere(missing)[0])
        raise DataError.at(
            "tract_lengths",
            f"{int(missing.sum())} pairs of distinct regions of connectome {name!r} have no measured tract length "
            f"(first {connectome.labels[s]} -> {connectome.labels[t]}), and the geometric null model needs the "
            "distance of every pair; set connectome.missing_lengths: distances, or use distance: centres",
        )
    zero = (dist == 0) & off
    if zero.any():
        s, t = (int(x) for x in np.argwhere(zero)[0])
        fix = (
            "use distance: centres (the region centres)" if source == "tract_lengths"
            else "give every region its own centre"
        )
        raise DataError.at(
            source if source == "tract_lengths" else "positions",
            f"{int(zero.sum())} pairs of distinct regions of connectome {name!r} are 0 mm apart by {source} "
            f"(first {connectome.labels[s]} -> {connectome.labels[t]}); a zero usually marks a length that was not "
            f"measured, and the geometric null model would wire those pairs first; {fix}",
        )
    return dist, source


def candidate_pairs(dist: np.ndarray, undirected: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair an edge may be placed on, as ``(src, dst, distance_mm)``, each ``(P,)``.

    Directed: the ``n (n - 1)`` ordered pairs ``src != dst`` at ``dist[src, dst]``.
    Undirected: the ``n (n - 1) / 2`` pairs ``src < dst`` at the mean of both directions.
    """
    n = dist.shape[0]
    if undirected:
        src, dst = np.triu_indices(n, 1)
        return src, dst, 0.5 * (dist[src, dst] + dist[dst, src])
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    return src, dst, dist[src, dst]


def placement_probabilities(d: np.ndarray, length_scale_mm: float) -> np.ndarray:
    """``p_k = exp(-d_k / L) / sum_l exp(-d_l / L)`` for distances ``d`` (mm, ``(P,)``), ``L > 0`` mm.

    Computed as ``exp(-(d_k - min d) / L)``, normalised, so that the largest
    term is 1 and nothing overflows; a pair more than about ``745 L`` farther
    than the closest one gets probability 0 (double-precision underflow).
    """
    w = np.exp(-(d - d.min()) / length_scale_mm)
    return w / w.sum()


@attrs.frozen
class Geometric:
    """Exponential-distance-rule graph: the same edges and weights, placed with probability ~ exp(-d/L).

    :ivar length_scale_mm: ``L``, the distance (mm) over which the placement
        probability falls by a factor ``e``. Short scales wire neighbours;
        ``L`` far above every distance approaches ``erdos_renyi``.
    :ivar distance: ``"auto"`` (tract lengths when the connectome has them,
        else distances between region centres), ``"tract_lengths"`` or
        ``"centres"``.
    """

    name: ClassVar[str] = "geometric"
    summary: ClassVar[str] = "random graph placed by the exponential distance rule; same edge count and weights"
    invariants: ClassVar[tuple[str, ...]] = (
        "n_regions",
        "n_edges",
        "weights_multiset",
        "self_loops",
        "no_self_loops_created",
        "symmetric",
        "anatomy",
    )

    length_scale_mm: float = attrs.field(default=20.0, converter=_as_float, validator=_finite_positive)
    distance: str = attrs.field(default="auto", validator=attrs.validators.in_(DISTANCES))

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A geometric surrogate of ``connectome`` drawn with ``rng``.

        :raises DataError: when the distances are missing or zero between distinct regions.
        :raises ConfigError: when ``length_scale_mm`` is so short that fewer
            pairs than edges have a placement probability above 0.
        """
        undirected = connectome.is_symmetric
        dist, source = pair_distances(connectome, self.distance)
        src, dst, d = candidate_pairs(dist, undirected)
        weights = connectome.between[src, dst]
        existing = weights != 0
        m = int(existing.sum())
        pick = np.empty(0, dtype=np.int64)
        if m:
            p = placement_probabilities(d, self.length_scale_mm)
            reachable = int(np.count_nonzero(p))
            if reachable < m:
                raise ConfigError.at(
                    "length_scale_mm",
                    f"{self.length_scale_mm:g} mm is too short for connectome {connectome.name!r}: only {reachable} "
                    f"of {d.size} region pairs lie within about {_UNDERFLOW:g} length scales of the closest pair "
                    f"(a non-zero probability in double precision), and {m} edges must be placed; "
                    "raise length_scale_mm",
                )
            pick = rng.choice(d.size, size=m, replace=False, p=p)
        new = np.diag(np.diag(connectome.weights)).astype(np.float64)
        dealt = rng.permutation(weights[existing])
        new[src[pick], dst[pick]] = dealt
        if undirected:
            new[dst[pick], src[pick]] = dealt
        before = f"{d[existing].mean():.3g}" if m else "n/a"
        after = f"{d[pick].mean():.3g}" if m else "n/a"
        step = (
            f"{self.name}({'undirected' if undirected else 'directed'}, length_scale_mm={self.length_scale_mm:g}, "
            f"distance={source}): {m} edges placed, mean length {after} mm (original {before} mm)"
        )
        return connectome.with_weights(new, step)
