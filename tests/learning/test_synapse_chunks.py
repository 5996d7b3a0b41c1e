"""Passes over the synapses without a stored presynaptic index: chunks and their expansion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encephagen.testing.learning import network_from_synapses, small_network
from encephagen_builtins.learning.common import SynapseChunks


def _with_empty_rows():
    # Neurons 0, 3, 4 and 7 have no outgoing synapses; row 5 is the widest.
    pre = [1, 1, 2, 5, 5, 5, 5, 6]
    post = [0, 2, 7, 0, 1, 2, 6, 3]
    return network_from_synapses(pre, post, np.ones(8), regions_per_brain=2, neurons_per_region=4)


def _loop_pre(row_ptr: torch.Tensor) -> np.ndarray:
    """The presynaptic neuron of every synapse, row by row (independent of the code under test)."""
    rp = row_ptr.tolist()
    return np.array([i for i in range(len(rp) - 1) for _ in range(rp[i], rp[i + 1])], dtype=np.int64)


@pytest.mark.parametrize("size", [1, 3, 5, 1 << 18])
@pytest.mark.parametrize("make", [_with_empty_rows, lambda: small_network(2, n_brains=2)])
def test_chunks_tile_the_synapses_along_rows(size: int, make) -> None:
    net = make()
    chunks = SynapseChunks(net.row_ptr, net.post, size=size).chunks
    rp = net.row_ptr.tolist()
    assert chunks[0][2] == 0 and chunks[-1][3] == net.n_synapses
    for (r0, r1, s0, s1), nxt in zip(chunks, chunks[1:] + [None]):
        assert (s0, s1) == (rp[r0], rp[r1]) and s1 > s0
        if nxt is not None:
            assert nxt[2] == s1 and all(rp[r] == s1 for r in range(r1, nxt[0] + 1))  # only empty rows skipped


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bool, torch.int64, torch.bfloat16])
@pytest.mark.parametrize("size", [1, 4, 1 << 18])
def test_pre_expands_a_neuron_vector_per_synapse(dtype: torch.dtype, size: int) -> None:
    """numpy (CPU, numpy dtypes) and torch (bfloat16 here, any dtype on other devices) expansions alike."""
    for net in (_with_empty_rows(), small_network(5, n_brains=2)):
        sc = SynapseChunks(net.row_ptr, net.post, size=size)
        x = (torch.arange(net.n_neurons) * 7 % 5).to(dtype)
        pre = _loop_pre(net.row_ptr)
        for ch in sc.chunks:
            got = sc.pre(x, ch)
            assert got.dtype == dtype and got.shape == (ch[3] - ch[2],)
            assert torch.equal(got, x[torch.from_numpy(pre[ch[2] : ch[3]])])
        assert np.array_equal(net.pre_index().numpy(), pre)


def test_pre_of_a_strided_vector_and_a_fresh_result() -> None:
    net = small_network(1)
    sc = SynapseChunks(net.row_ptr, net.post, size=16)
    base = torch.rand(2 * net.n_neurons, dtype=torch.float64)
    x = base[::2]  # not contiguous
    pre = torch.from_numpy(_loop_pre(net.row_ptr))
    for ch in sc.chunks:
        got = sc.pre(x, ch)
        assert torch.equal(got, x[pre[ch[2] : ch[3]]])
        got.zero_()  # the result is the caller's to overwrite
    assert torch.equal(x, base[::2]) and bool((x != 0).any())
