"""Small synthetic connectomes for the engine tests."""

from __future__ import annotations

import numpy as np

from encephagen.connectome import Connectome


def make_connectome(n: int = 6, seed: int = 0, density: float = 0.5, **kw: object) -> Connectome:
    """A random directed connectome with weights in {1, 2, 3}, self-loops, positions and tract lengths."""
    rng = np.random.default_rng(seed)
    w = (rng.random((n, n)) < density) * rng.integers(1, 4, (n, n)).astype(float)
    pos = rng.uniform(-50, 50, (n, 3))
    dist = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    kw.setdefault("groups", {"prefrontal": (0, 1), "visual": (2,)})
    return Connectome(
        weights=w, labels=[f"R{i}" for i in range(n)], positions=pos, tract_lengths=dist * 1.2, **kw
    )
