"""The background noise: per-brain streams of 24-bit uniform integers and the Poisson count drawn from them."""


from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


#: Noise is drawn in chunks of about this many bytes.
NOISE_CHUNK_BYTES = 1 << 22


class Noise:
    """Per-brain streams of 24-bit uniform integers as float32, drawn in chunks of ``(steps, N)``.

    On the CPU, brain ``b``'s step ``t`` uses raw 64-bit draws ``t * h ..
    (t+1) * h - 1`` of its bit generator (``h = ceil(n/2)``): each draw is
    split into two 32-bit halves, one per neuron, of which the low 24 bits
    are kept. The mapping does not depend on how steps are split into runs.
    On CUDA each brain has a ``torch.Generator`` seeded from its numpy generator.
    """

    def __init__(self, rngs: Sequence[np.random.Generator], n: int, device: torch.device) -> None:
        self.n, self.b, self.device = n, len(rngs), device
        self.half = (n + 1) // 2  # raw 64-bit draws per brain per step
        self.chunk_steps = max(1, NOISE_CHUNK_BYTES // (4 * n * len(rngs)))
        self.bits = [r.bit_generator for r in rngs] if device.type == "cpu" else []
        self.gens: list[torch.Generator] = []
        if device.type != "cpu":
            for r in rngs:
                g = torch.Generator(device=device)
                g.manual_seed(int(r.integers(0, 2**63 - 1)))
                self.gens.append(g)
        self.buf: torch.Tensor | None = None
        self.pos = 0

    def _draw(self) -> np.ndarray:
        s, n = self.chunk_steps, self.n
        out = np.empty((s, self.b * n), np.float32)
        for b, bg in enumerate(self.bits):
            raw = bg.random_raw(s * self.half).view(np.int32).reshape(s, 2 * self.half)[:, :n]
            np.bitwise_and(raw, 0xFFFFFF, out=raw)
            out[:, b * n : (b + 1) * n] = raw
        return out

    def _fill(self) -> None:
        if self.bits:
            self.buf = torch.from_numpy(self._draw())
        else:
            buf = torch.empty((self.chunk_steps, self.b * self.n), dtype=torch.float32, device=self.device)
            for b, g in enumerate(self.gens):
                buf[:, b * self.n : (b + 1) * self.n].random_(0, 1 << 24, generator=g)
            self.buf = buf
        self.pos = 0

    def next(self) -> torch.Tensor:
        """The ``(N,)`` uniform integers (as float32) of the next step."""
        if self.buf is None or self.pos == self.buf.shape[0]:
            self._fill()
        assert self.buf is not None
        row = self.buf[self.pos]
        self.pos += 1
        return row


def poisson_count(u: torch.Tensor, thresholds: Sequence[float], table: torch.Tensor | None = None) -> torch.Tensor:
    """Background spike count per neuron: ``sum_k [u >= T_k]``, ``u`` a uniform integer in ``[0, 2^24)`` (float32).

    With ``table`` (the thresholds as a float32 tensor) one ``bucketize``
    gives the same count, which is faster when not compiled.
    """
    if table is not None:
        return torch.bucketize(u, table, right=True).to(torch.float32)
    count = (u >= thresholds[0]).to(torch.float32)
    for t in thresholds[1:]:
        count = count + (u >= t).to(torch.float32)
    return count
