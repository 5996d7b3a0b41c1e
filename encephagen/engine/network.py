"""The :class:`Network`: the synapse layout shared by the engine and learning rules.

A batch of ``B`` brains of ``n`` neurons each is simulated as one
block-diagonal network of ``N = B * n`` neurons: neuron ``k`` of brain ``b``
has global index ``b * n + k``, and neuron ``k`` of a brain belongs to region
``k // neurons_per_region``. ``B = 1`` is the same code path.

Synapses are stored once, in CSR order (sorted by presynaptic neuron, then by
postsynaptic neuron): the synapses of neuron ``i`` are ``row_ptr[i]:row_ptr[i+1]``,
synapse ``e`` goes to ``post[e]`` with weight ``weight[e]`` (mV added to the
target's synaptic current per presynaptic spike). The presynaptic neuron of
each synapse is not stored (it is implied by ``row_ptr``, and would cost 4
bytes per synapse); :meth:`Network.pre_index` expands it when a tool needs
it. Per-synapse learning state lives in arrays of length ``E`` in this same
order.

Gap junctions (electrical synapses, :class:`GapJunctions`) are stored the same
way, apart from the chemical synapses: every coupled pair appears twice,
``i -> j`` and ``j -> i``, with the same coupling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch


def delay_dtype(longest: int) -> torch.dtype:
    """The narrowest integer dtype (uint8, int16, int32) for delays of up to ``longest`` steps."""
    if longest <= torch.iinfo(torch.uint8).max:
        return torch.uint8
    if longest <= torch.iinfo(torch.int16).max:
        return torch.int16
    if longest <= torch.iinfo(torch.int32).max:
        return torch.int32
    raise ValueError(f"a delay of {longest} steps does not fit in int32")


#: dtypes a delay array may have (the propagation kernels read these).
DELAY_DTYPES = (torch.uint8, torch.int16, torch.int32)


def sum_repeats(key: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted distinct keys, the sum of values per key)``: repeated entries of a sparse list merged.

    :param key: ``(M,)`` int64, e.g. ``row * n + column``.
    :param values: ``(M,)`` float64.
    """
    if key.size > 1 and not np.all(key[1:] > key[:-1]):
        order = np.argsort(key)
        key, values = key[order], values[order]
        first = np.concatenate([[True], key[1:] != key[:-1]])
        values = np.add.reduceat(values, np.flatnonzero(first))
        key = key[first]
    return key, values


@attrs.define(eq=False)
class GapJunctions:
    """Electrical coupling between neurons, symmetric, in CSR order.

    A neuron ``i`` receives the coupling current
    ``sum_j coupling_ij * (v_j - v_i)`` (mV; see ``docs/engine.md``):
    ``coupling_ij = g_gap * n_ij``, dimensionless (a junction's conductance in
    units of the membrane's leak conductance). Every coupled pair appears
    twice, ``i -> j`` and ``j -> i``, with the same coupling; no neuron is
    coupled to itself.

    :ivar row_ptr: int64 ``(N + 1,)``; the partners of neuron ``i`` are ``post[row_ptr[i]:row_ptr[i+1]]``.
    :ivar post: int32 ``(G,)`` partner neuron of each entry.
    :ivar coupling: float32 ``(G,)`` ``coupling_ij`` (``> 0``).
    """

    row_ptr: torch.Tensor
    post: torch.Tensor
    coupling: torch.Tensor

    @classmethod
    def from_blocks(cls, blocks: Sequence[np.ndarray], device: str | torch.device = "cpu") -> "GapJunctions | None":
        """Block-diagonal coupling of a batch: ``blocks[b]`` is brain ``b``'s ``(n, n)`` coupling matrix.

        Each block must be symmetric, finite and non-negative; its diagonal is
        ignored. ``None`` when no block couples any pair.
        """
        rows, cols, vals = [], [], []
        offset = 0
        for b, c in enumerate(blocks):
            c = np.asarray(c, dtype=np.float64)
            if c.ndim != 2 or c.shape[0] != c.shape[1] or not np.all(np.isfinite(c)) or np.any(c < 0) or not np.array_equal(c, c.T):
                raise ValueError(f"gap-junction block {b} must be a symmetric, finite, non-negative square matrix")
            i, j = np.nonzero(np.triu(c, 1))
            rows.append(i + offset)
            cols.append(j + offset)
            vals.append(c[i, j])
            offset += c.shape[0]
        if not rows:
            return None
        return cls.from_pairs(offset, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), device)

    @classmethod
    def from_pairs(
        cls, n: int, i: np.ndarray, j: np.ndarray, coupling: np.ndarray, device: str | torch.device = "cpu"
    ) -> "GapJunctions | None":
        """Coupling of ``n`` neurons from a list of coupled pairs, each given once (either order).

        :param i: ``(P,)`` int, one neuron of each pair.
        :param j: ``(P,)`` int, the other (``!= i``).
        :param coupling: ``(P,)`` finite, ``>= 0`` (dimensionless); a pair listed twice adds up.
        :returns: ``None`` when no pair has a coupling above 0.
        """
        i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
        c = np.asarray(coupling, np.float64)
        if not (i.shape == j.shape == c.shape and i.ndim == 1):
            raise ValueError("gap-junction pairs need equal-length 1-d i, j and coupling")
        if i.size and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
            raise ValueError(f"gap-junction pairs name neurons outside 0..{n - 1}")
        if np.any(i == j) or not np.all(np.isfinite(c)) or np.any(c < 0):
            raise ValueError("gap junctions join two distinct neurons with a finite, non-negative coupling")
        keep = c > 0
        rows, cols, vals = np.concatenate([i[keep], j[keep]]), np.concatenate([j[keep], i[keep]]), np.concatenate([c[keep], c[keep]])
        if rows.size == 0:
            return None
        key, summed = sum_repeats(rows * n + cols, vals)  # sorted by row, then partner
        ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(key // n, minlength=n), out=ptr[1:])
        return cls(
            row_ptr=torch.from_numpy(ptr).to(device),
            post=torch.from_numpy((key % n).astype(np.int32)).to(device),
            coupling=torch.from_numpy(summed.astype(np.float32)).to(device),
        )

    @property
    def n_entries(self) -> int:
        """``G``: twice the number of coupled pairs."""
        return int(self.post.numel())

    def rows(self) -> torch.Tensor:
        """int64 ``(G,)``: the neuron each entry belongs to (expanded from ``row_ptr``)."""
        degree = self.row_ptr[1:] - self.row_ptr[:-1]
        n = self.row_ptr.numel() - 1
        return torch.repeat_interleave(torch.arange(n, device=self.post.device), degree, output_size=self.n_entries)

    def current(self, v: torch.Tensor) -> torch.Tensor:
        """``(N,)`` coupling current ``sum_j coupling_ij * (v_j - v_i)`` (mV) for potentials ``v`` (mV) (a reference form)."""
        rows = self.rows()
        flux = self.coupling * (v.index_select(0, self.post.long()) - v.index_select(0, rows))
        return torch.zeros_like(v).index_add_(0, rows, flux)


@attrs.define(eq=False)
class Network:
    """B brains as one block-diagonal sparse network.

    :ivar n_brains: ``B``.
    :ivar regions_per_brain: regions ``R`` of the connectome.
    :ivar neurons_per_region: ``npr``.
    :ivar post: int32 ``(E,)`` global postsynaptic index.
    :ivar weight: float32 ``(E,)`` mV per spike; learning rules update it in place.
    :ivar row_ptr: int64 ``(N + 1,)``; synapses of neuron ``i`` are
        ``row_ptr[i]:row_ptr[i+1]``.
    :ivar excitatory: bool ``(N,)``.
    :ivar groups: region group name -> region indices (within a brain).
    :ivar neuron: the neuron model (a :class:`~encephagen.interfaces.NeuronModel`).
    :ivar dt: step in ms.
    :ivar microcircuit: the :class:`~encephagen.engine.build.Microcircuit`
        it was built with (``None`` for a hand-made network).
    :ivar delay: ``(E,)`` conduction delay of every synapse in steps, in the
        narrowest of uint8, int16 and int32 that holds the longest (see
        :func:`delay_dtype`), or ``None`` for no delays.
    :ivar n_internal: synapses within regions, per brain (the rest are between regions).
    :ivar gap: the gap junctions (:class:`GapJunctions`), or ``None`` for none.
    """

    n_brains: int
    regions_per_brain: int
    neurons_per_region: int
    post: torch.Tensor
    weight: torch.Tensor
    row_ptr: torch.Tensor
    excitatory: torch.Tensor
    groups: Mapping[str, tuple[int, ...]]
    neuron: Any
    dt: float = 0.1
    microcircuit: Any = None
    delay: torch.Tensor | None = None
    n_internal: tuple[int, ...] = ()
    gap: GapJunctions | None = None
    _cache: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def neurons_per_brain(self) -> int:
        """``n = regions_per_brain * neurons_per_region``."""
        return self.regions_per_brain * self.neurons_per_region

    @property
    def n_neurons(self) -> int:
        """``N = B * n``."""
        return self.n_brains * self.neurons_per_brain

    @property
    def n_synapses(self) -> int:
        """``E``."""
        return int(self.post.numel())

    @property
    def device(self) -> torch.device:
        """Where the tensors live."""
        return self.weight.device

    @property
    def max_delay(self) -> int:
        """Longest conduction delay in steps (0 without delays)."""
        if self.delay is None or self.delay.numel() == 0:
            return 0
        if "max_delay" not in self._cache:
            self._cache["max_delay"] = int(self.delay.max())
        return int(self._cache["max_delay"])

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held per part: ``synapses`` (post, weight, delay), ``index``
        (CSR row pointers and the engine's propagation index, once built), ``neurons``
        and, with gap junctions, ``gap`` (their row pointers, partners and couplings)."""
        from encephagen.engine.memory import tensor_bytes

        index = tensor_bytes(self.row_ptr) + sum(tensor_bytes(t) for t in self._cache.get("propagation", ()))
        out = {
            "synapses": tensor_bytes(self.post, self.weight, self.delay),
            "index": index,
            "neurons": tensor_bytes(self.excitatory),
        }
        if self.gap is not None:
            out["gap"] = tensor_bytes(self.gap.row_ptr, self.gap.post, self.gap.coupling)
        return out

    def bytes_per_synapse(self) -> float:
        """Bytes of synapse storage and indices per synapse (neuron state excluded)."""
        m = self.memory_bytes()
        return (m["synapses"] + m["index"]) / max(1, self.n_synapses)

    def pre_index(self) -> torch.Tensor:
        """int64 ``(E,)``: the presynaptic neuron of every synapse, expanded from ``row_ptr``.

        Allocates ``8 * E`` bytes on every call (the network does not keep
        it): meant for tests and tools. Passes over the synapses should
        expand one row-aligned chunk at a time instead (as the built-in
        learning rules do).
        """
        degree = self.row_ptr[1:] - self.row_ptr[:-1]
        rows = torch.arange(self.n_neurons, device=self.device)
        return torch.repeat_interleave(rows, degree, output_size=self.n_synapses)

    def region_of(self) -> torch.Tensor:
        """int64 ``(N,)``: region index (within its brain) of every neuron."""
        k = torch.arange(self.n_neurons, device=self.device) % self.neurons_per_brain
        return k // self.neurons_per_region

    def brain_of(self) -> torch.Tensor:
        """int64 ``(N,)``: brain index of every neuron."""
        return torch.arange(self.n_neurons, device=self.device) // self.neurons_per_brain

    def group_mask(self, name: str) -> torch.Tensor:
        """bool ``(N,)``: neurons of every brain that lie in region group ``name``."""
        regions = torch.tensor(self.groups[name], device=self.device)
        return torch.isin(self.region_of(), regions)
