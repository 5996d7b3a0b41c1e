"""Hypothesis strategies for small connectomes, for plugin authors' property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from encephagen.connectome import Connectome, centre_distances


@st.composite
def connectomes(
    draw: st.DrawFn,
    min_regions: int = 4,
    max_regions: int = 16,
    symmetric: bool | None = None,
    self_loops: bool = True,
    max_weight: int = 3,
) -> Connectome:
    """A small random connectome with ordinal weights ``1..max_weight``.

    :param symmetric: force symmetric (True), directed (False) or either (None).
    :param self_loops: allow non-zero diagonal entries.
    :returns: a :class:`Connectome` with positions (mm), tract lengths
        (Euclidean, mm) and two region groups.
    """
    n = draw(st.integers(min_regions, max_regions))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.floats(0.1, 0.7))
    sym = draw(st.booleans()) if symmetric is None else symmetric
    rng = np.random.default_rng(seed)
    w = rng.integers(1, max_weight + 1, size=(n, n)).astype(float) * (rng.random((n, n)) < density)
    if sym:
        w = np.triu(w, 1)
        w = w + w.T
    if self_loops:
        np.fill_diagonal(w, rng.integers(0, max_weight + 1, size=n) * (rng.random(n) < 0.5))
    else:
        np.fill_diagonal(w, 0.0)
    pos = rng.normal(0.0, 30.0, size=(n, 3))
    lengths = centre_distances(pos)
    half = max(1, n // 2)
    return Connectome(
        weights=w,
        labels=[f"R{i:02d}" for i in range(n)],
        positions=pos,
        tract_lengths=lengths,
        groups={"first": tuple(range(half)), "second": tuple(range(half, n)) or (0,)},
        name=f"hypothesis:{seed}",
        provenance="random test graph",
    )
