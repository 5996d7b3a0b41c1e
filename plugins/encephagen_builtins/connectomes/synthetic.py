"""``synthetic``: a small seeded random graph for tests and examples."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs
import numpy as np
from attrs import validators as v

from encephagen.connectome import Connectome, centre_distances
from encephagen_builtins.connectomes.common import build, default_labels
from encephagen_builtins.connectomes.groups import REFERENCE_GROUPS, group_spec, resolve_groups, spread_groups


@attrs.frozen
class SyntheticConnectome:
    """A small seeded random graph with ordinal weights, for tests and examples.

    Each ordered pair ``(src, dst)``, ``src != dst``, is connected with
    probability ``density`` (both directions at once when ``directed`` is
    false) with an integer weight drawn uniformly from ``1..max_weight``; no
    self-loops. Positions are uniform in a 100 mm cube, tract lengths are the
    Euclidean distances (mm). Every reference group name gets at least one
    region (see :func:`spread_groups`). Not brain data.

    :ivar n_regions: number of regions (at most 5,000: the matrix is dense).
    :ivar density: connection probability of each ordered pair.
    :ivar seed: seed of the graph (the same seed gives the same graph).
    :ivar directed: false draws a symmetric graph.
    :ivar max_weight: weights are integers ``1..max_weight``.
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "synthetic"
    summary: ClassVar[str] = "A small seeded random graph with ordinal weights and every reference group (not brain data)."

    n_regions: int = attrs.field(default=12, validator=[v.instance_of(int), v.ge(2), v.le(5000)])
    density: float = attrs.field(default=0.3, converter=float, validator=[v.gt(0.0), v.le(1.0)])
    seed: int = attrs.field(default=0, validator=[v.instance_of(int), v.ge(0)])
    directed: bool = attrs.field(default=True, validator=v.instance_of(bool))
    max_weight: int = attrs.field(default=3, validator=[v.instance_of(int), v.ge(1)])
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=group_spec)

    def load(self) -> Connectome:
        """Draw the graph from ``numpy.random.default_rng(seed)``."""
        rng = np.random.default_rng(self.seed)
        n = self.n_regions
        present = rng.random((n, n)) < self.density
        values = rng.integers(1, self.max_weight + 1, size=(n, n)).astype(np.float64)
        if not self.directed:
            upper = np.triu(present, k=1)
            present = upper | upper.T
            values = np.triu(values, k=1) + np.triu(values, k=1).T
        np.fill_diagonal(present, False)
        weights = np.where(present, values, 0.0)
        positions = rng.uniform(-50.0, 50.0, size=(n, 3))
        tract = centre_distances(positions)
        labels = default_labels(n)
        groups = {**spread_groups(n, tuple(REFERENCE_GROUPS)), **resolve_groups(labels, self.groups)}
        kind = "directed" if self.directed else "undirected"
        return build(
            weights=weights,
            labels=labels,
            positions=positions,
            tract_lengths=tract,
            groups=groups,
            orientation="rows=sources (generated)",
            provenance=(
                f"synthetic {kind} random graph: {n} regions, density {self.density}, weights 1..{self.max_weight}, "
                f"seed {self.seed}; positions uniform in a 100 mm cube, tract lengths Euclidean; not brain data"
            ),
            name=f"synthetic:n{n}-d{self.density}-s{self.seed}",
        )
