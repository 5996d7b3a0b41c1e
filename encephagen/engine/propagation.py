"""Spike propagation (step 8): the spikes of a step, through their CSR rows, into the ring buffer of future input.

Three implementations give the same sums: :class:`CpuPropagation` (numpy
index arithmetic and ``index_add_``), :class:`NativePropagation` (the same
walk in one C loop) and :class:`StaticPropagation` (fixed shapes, no host
sync; CUDA).
"""


from __future__ import annotations

from typing import Any

import numpy as np
import torch

from encephagen.engine.network import Network
from encephagen.errors import ConfigError

class CpuPropagation:
    """Event-driven: the CSR rows of the spiking neurons, found with numpy, summed with ``index_add_``."""

    def __init__(self, net: Network, slots: int, counts: torch.Tensor) -> None:
        self.net = net
        self.row_ptr = net.row_ptr.numpy()
        self.degree = np.diff(self.row_ptr)
        self.post = net.post.numpy()
        self.delay = None if net.delay is None else net.delay.numpy()
        self.width = net.n_neurons + 1
        self.slots = slots
        self.counts = counts.numpy()
        self.log: list[np.ndarray] = []
        self.arange = np.arange(int(self.degree.max(initial=0)) * 128 + 1, dtype=np.int64)
        self._w: torch.Tensor | None = None
        self._w_np: np.ndarray | None = None

    def sync_counts(self) -> None:
        """Add the logged spikes to the per-neuron counts."""
        if self.log:
            spk = np.concatenate(self.log)
            self.log.clear()
            self.counts[: self.width - 1] += np.bincount(spk, minlength=self.width - 1).astype(self.counts.dtype)

    def _weights(self) -> np.ndarray:
        w = self.net.weight
        if w is not self._w:
            self._w, self._w_np = w, w.detach().numpy()
        assert self._w_np is not None
        return self._w_np

    def __call__(self, spikes: np.ndarray, ring_flat: torch.Tensor, t: int) -> None:
        """Count the spikes (bool ``(N,)``) and add their outgoing weights into the ring at step ``t``."""
        spk = np.flatnonzero(spikes)
        if spk.size == 0:
            return
        self.log.append(spk)
        if len(self.log) >= 4096:
            self.sync_counts()
        start = self.row_ptr[spk]
        count = self.degree[spk]
        total = int(count.sum())
        if total == 0:
            return
        # Synapse ids start[k] .. start[k] + count[k] - 1 of every spike k, in CSR order.
        ends = np.cumsum(count)
        ar = self.arange if total <= self.arange.size else np.arange(total, dtype=np.int64)
        idx = np.repeat(start - ends + count, count) + ar[:total]
        target = self.post[idx].astype(np.int64)
        if self.delay is not None:
            target += ((t + self.delay[idx].astype(np.int64)) % self.slots) * self.width
        elif self.slots > 1:
            target = target + (t % self.slots) * self.width
        ring_flat.index_add_(0, torch.from_numpy(target), torch.from_numpy(self._weights()[idx]))


class NativePropagation:
    """The same walk as :class:`CpuPropagation` in one C loop (:mod:`encephagen.engine.native`)."""

    def __init__(
        self, net: Network, slots: int, counts: torch.Tensor, zu8: torch.Tensor, ring: torch.Tensor, lib: Any
    ) -> None:
        self.net, self.slots, self.width = net, slots, net.n_neurons + 1
        self.fn = lib.encephagen_propagate
        self._keep = (net.row_ptr.contiguous(), net.post.contiguous(), None if net.delay is None else net.delay.contiguous())
        self.head = (zu8.data_ptr(), net.n_neurons, self._keep[0].data_ptr(), self._keep[1].data_ptr())
        self.delay_ptr = None if self._keep[2] is None else self._keep[2].data_ptr()
        self.delay_bytes = 0 if self._keep[2] is None else self._keep[2].element_size()
        self.ring_ptr, self.counts_ptr = ring.data_ptr(), counts.data_ptr()
        self._w: torch.Tensor | None = None
        self._w_ptr = 0

    def sync_counts(self) -> None:
        """Counts are written as the spikes come; nothing to do."""

    def __call__(self, spikes: np.ndarray, ring_flat: torch.Tensor, t: int) -> None:
        """Count the spikes and add their outgoing weights into the ring at step ``t``."""
        w = self.net.weight
        if w is not self._w:
            usable = w.dtype == torch.float32 and w.is_contiguous() and w.device.type == "cpu"
            if not usable or w.numel() != self.net.n_synapses:
                raise ConfigError.at("network.weight", "must stay a contiguous float32 CPU tensor of one weight per synapse")
            self._w, self._w_ptr = w, w.data_ptr()
        self.fn(*self.head, self._w_ptr, self.delay_ptr, self.delay_bytes, self.ring_ptr, self.width, self.slots, t,
                self.counts_ptr)


class StaticPropagation:
    """Fixed shapes, no host sync: up to ``capacity`` spikes per step through a padded row table.

    Row ``i`` of the table lists neuron ``i``'s synapses (padded with synapse
    0 aimed at the dummy target ``N``); row ``N`` is all padding, and
    ``nonzero_static`` fills unused spike slots with ``N``.
    """

    def __init__(self, net: Network, slots: int, capacity: int, counts: torch.Tensor) -> None:
        n, dev = net.n_neurons, net.device
        self.net, self.slots, self.width, self.capacity, self.counts = net, slots, n + 1, capacity, counts
        row_ptr = net.row_ptr.to("cpu").numpy()
        deg = np.diff(row_ptr)
        d = max(1, int(deg.max(initial=0)))
        rows = np.repeat(np.arange(n, dtype=np.int64), deg)
        col = np.arange(rows.size, dtype=np.int64) - row_ptr[rows]
        ids = np.zeros((n + 1, d), np.int64)
        ids[rows, col] = np.arange(rows.size)
        post = net.post.to("cpu").numpy().astype(np.int64)
        delay = np.zeros(rows.size, np.int64) if net.delay is None else net.delay.to("cpu").numpy().astype(np.int64)
        tgt = np.full((n + 1, d), n, np.int64)
        tgt[rows, col] = delay * self.width + post
        big = slots * self.width >= 2**31
        self.ids = torch.from_numpy(ids.astype(np.int32)).to(dev)
        self.tgt = torch.from_numpy(tgt if big else tgt.astype(np.int32)).to(dev)
        self.ones = torch.ones(capacity, dtype=counts.dtype, device=dev)
        net._cache["propagation"] = (self.ids, self.tgt)

    def sync_counts(self) -> None:
        """Counts are added on the device as the spikes come; nothing to do."""

    def __call__(self, zu8: torch.Tensor, ring_flat: torch.Tensor, t: int) -> None:
        """Count the spikes (uint8 ``(N,)``) and add their outgoing weights into the ring at step ``t``."""
        spk = torch.nonzero_static(zu8, size=self.capacity, fill_value=self.width - 1).view(-1)
        self.counts.index_add_(0, spk, self.ones)
        w = self.net.weight.index_select(0, self.ids.index_select(0, spk).view(-1))
        tgt = self.tgt.index_select(0, spk).view(-1).to(torch.int64)
        if self.slots > 1:
            tgt = torch.remainder(tgt + (t % self.slots) * self.width, self.slots * self.width)
        ring_flat.index_add_(0, tgt, w)
