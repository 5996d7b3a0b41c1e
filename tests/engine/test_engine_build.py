"""Network construction: wiring statistics, weights, layout, seeds, batches, memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from encephagen.connectome import Connectome
from encephagen.engine import Delays, Microcircuit, build_batch, build_network
from encephagen.engine.build import P_MIN, _cells, _skip_diagonal
from encephagen.engine.network import DELAY_DTYPES, delay_dtype
from encephagen.errors import ConfigError, DataError
from encephagen_builtins.neurons import LIF

from engine_helpers import make_connectome


def _net(c: Connectome, seed: int = 0, **micro: object):
    return build_network(c, Microcircuit(**micro), np.random.default_rng(seed), LIF(), device="cpu")


def _np(net):
    return net.pre_index().numpy(), net.post.numpy().astype(np.int64), net.weight.numpy()


def test_layout_is_csr_int32() -> None:
    net = _net(make_connectome(), neurons_per_region=40)
    pre, post, _ = _np(net)
    assert not hasattr(net, "pre")  # implied by row_ptr; never stored
    assert net.post.dtype == torch.int32 and net.weight.dtype == torch.float32
    assert net.row_ptr.dtype == torch.int64 and net.row_ptr.shape == (net.n_neurons + 1,)
    key = pre * net.n_neurons + post
    assert np.all(np.diff(key) > 0)  # sorted by pre then post, no duplicates
    assert np.array_equal(np.diff(net.row_ptr.numpy()), np.bincount(pre, minlength=net.n_neurons))


def test_pre_index_expands_row_ptr() -> None:
    net = _net(make_connectome(), neurons_per_region=20)
    rp = net.row_ptr.numpy()
    pre = net.pre_index()
    assert pre.dtype == torch.int64 and pre.shape == (net.n_synapses,)
    for i in range(net.n_neurons):  # independent of the expansion: row by row
        assert np.all(pre.numpy()[rp[i] : rp[i + 1]] == i)


def test_delays_use_the_narrowest_dtype() -> None:
    assert [delay_dtype(x) for x in (0, 255, 256, 32767, 32768, 2**31 - 1)] == [
        torch.uint8, torch.uint8, torch.int16, torch.int16, torch.int32, torch.int32]
    with pytest.raises(ValueError, match="int32"):
        delay_dtype(2**31)
    c = make_connectome(5, seed=4)
    micro = Microcircuit(neurons_per_region=10, p_between=0.2, coupling=1.0)
    for velocity, dtype in ((10.0, torch.uint8), (0.1, torch.int16)):
        net = build_network(c, micro, np.random.default_rng(0), LIF(), delays=Delays(velocity=velocity, max_ms=5000),
                            device="cpu")
        assert net.delay.dtype == dtype == delay_dtype(net.max_delay) and dtype in DELAY_DTYPES
        rp, rq = net.pre_index().numpy() // 10, net.post.numpy() // 10
        want = np.where(rp == rq, 0, np.rint(c.tract_lengths[rp, rq] / velocity / 0.1))
        assert np.array_equal(net.delay.numpy(), want)


def test_counts_match_expectation() -> None:
    c = make_connectome(8, seed=1)
    micro = Microcircuit(neurons_per_region=60)
    exp_int, exp_bet = micro.expected_synapses(c)
    ints, bets = [], []
    for seed in range(4):
        net = build_network(c, micro, np.random.default_rng(seed), LIF(), device="cpu")
        ints.append(net.n_internal[0])
        bets.append(net.n_synapses - net.n_internal[0])
    # Sums of independent Bernoulli cells: within 5 standard deviations.
    assert abs(np.mean(ints) - exp_int) < 5 * math.sqrt(exp_int / 4)
    assert abs(np.mean(bets) - exp_bet) < 5 * math.sqrt(exp_bet / 4)


def test_weights_signs_and_self_connections() -> None:
    c = make_connectome(5, seed=2)
    micro = Microcircuit(neurons_per_region=50, p_internal=0.3, coupling=0.4)
    net = build_network(c, micro, np.random.default_rng(3), LIF(), device="cpu")
    pre, post, w = _np(net)
    npr, ne = 50, micro.n_exc
    same = pre // npr == post // npr
    exc_pre = pre % npr < ne
    assert np.all(w[same & exc_pre] == np.float32(micro.j_eff))
    assert np.all(w[same & ~exc_pre] == np.float32(-micro.j_inh))
    assert not np.any(same & exc_pre & (pre == post))  # excitatory neurons never onto themselves
    between = ~same
    assert np.all(exc_pre[between])  # only excitatory neurons project between regions
    want = (micro.j_eff * micro.coupling * c.weights[pre[between] // npr, post[between] // npr]).astype(np.float32)
    assert np.array_equal(w[between], want)
    assert np.all(c.weights[pre[between] // npr, post[between] // npr] > 0)


def test_full_probability_is_complete_and_inhibitory_self_loops_allowed() -> None:
    w = np.array([[5.0, 1.0], [0.0, 0.0]])
    c = Connectome(weights=w, labels=["a", "b"])
    micro = Microcircuit(neurons_per_region=10, p_internal=1.0, p_between=1.0, coupling=1.0)
    net = build_network(c, micro, np.random.default_rng(0), LIF(nmda_groups=()), device="cpu")
    pre, post, _ = _np(net)
    ne = micro.n_exc
    # Internal: 2 regions x (10*10 - 8 excitatory self-loops); between a->b: 8 x 10; none b->a; the self-loop weight 5 unused.
    assert net.n_internal[0] == 2 * (100 - ne)
    assert net.n_synapses - net.n_internal[0] == ne * 10
    inh = np.arange(20) % 10 >= ne
    self_loops = pre[pre == post]
    assert set(self_loops) == set(np.flatnonzero(inh))


def test_tiny_probability_edges_are_skipped() -> None:
    w = np.zeros((3, 3))
    w[0, 1] = 1e-6  # p = 0.02 * 1e-6 * 0.15 < P_MIN
    w[1, 2] = 3.0
    c = Connectome(weights=w, labels=["a", "b", "c"])
    assert 0.02 * 1e-6 * 0.15 < P_MIN
    micro = Microcircuit(neurons_per_region=100, p_between=1.0 / 3, coupling=1.0)
    net = build_network(c, micro, np.random.default_rng(0), LIF(nmda_groups=()), device="cpu")
    pre, post, _ = _np(net)
    rp, rq = pre // 100, post // 100
    assert not np.any((rp == 0) & (rq == 1))
    assert np.sum((rp == 1) & (rq == 2)) == micro.n_exc * 100  # p = 1


@pytest.mark.parametrize("p", [0.02, 0.3])
@pytest.mark.parametrize("diag", [0, 3])
def test_block_sampler_cells_are_bernoulli(p: float, diag: int) -> None:
    """Each allowed cell is set with probability p, independently of its position (dense and sparse paths)."""
    rows, cols, blocks = 4, 5, 4000
    b, c = _cells(np.random.default_rng(7), np.full(blocks, p), rows, cols, no_diag_rows=diag)
    key = b * rows * cols + c
    assert np.unique(key).size == key.size and c.max() < rows * cols
    freq = np.bincount(c, minlength=rows * cols) / blocks
    banned = np.arange(diag) * (cols + 1)
    assert np.all(freq[banned] == 0)
    allowed = np.setdiff1d(np.arange(rows * cols), banned)
    sd = math.sqrt(p * (1 - p) / blocks)
    assert np.all(np.abs(freq[allowed] - p) < 5 * sd)


def test_skip_diagonal_is_a_bijection_onto_allowed_cells() -> None:
    cols, k = 7, 4
    allowed = np.setdiff1d(np.arange(5 * cols), np.arange(k) * (cols + 1))
    assert np.array_equal(_skip_diagonal(np.arange(allowed.size), cols, k), allowed)


def test_same_seed_same_wiring_different_seed_different() -> None:
    c = make_connectome()
    a, b, d = _net(c, 5, neurons_per_region=30), _net(c, 5, neurons_per_region=30), _net(c, 6, neurons_per_region=30)
    assert torch.equal(a.row_ptr, b.row_ptr) and torch.equal(a.post, b.post) and torch.equal(a.weight, b.weight)
    assert not (a.n_synapses == d.n_synapses and torch.equal(a.post, d.post))


def test_batch_is_block_diagonal_of_single_builds() -> None:
    c1, c2 = make_connectome(seed=0), make_connectome(seed=9)
    micro = Microcircuit(neurons_per_region=20)
    singles = [build_network(c, micro, np.random.default_rng(s), LIF(), device="cpu") for c, s in ((c1, 1), (c2, 2))]
    batch = build_batch([c1, c2], micro, [np.random.default_rng(1), np.random.default_rng(2)], LIF(), device="cpu")
    n = singles[0].n_neurons
    assert batch.n_brains == 2 and batch.n_neurons == 2 * n
    assert torch.equal(batch.pre_index(), torch.cat([singles[0].pre_index(), singles[1].pre_index() + n]))
    assert torch.equal(batch.row_ptr, torch.cat([singles[0].row_ptr, singles[1].row_ptr[1:] + singles[0].n_synapses]))
    assert torch.equal(batch.post, torch.cat([singles[0].post, singles[1].post + n]))
    assert torch.equal(batch.weight, torch.cat([singles[0].weight, singles[1].weight]))
    assert batch.n_internal == (singles[0].n_internal[0], singles[1].n_internal[0])


def test_batch_needs_matching_connectomes() -> None:
    micro = Microcircuit(neurons_per_region=10)
    with pytest.raises(DataError, match="regions"):
        build_batch([make_connectome(6), make_connectome(5)], micro, [np.random.default_rng(0)] * 2, LIF(), device="cpu")
    other = make_connectome(6, groups={"prefrontal": (3,)})
    with pytest.raises(DataError, match="groups"):
        build_batch([make_connectome(6), other], micro, [np.random.default_rng(0)] * 2, LIF(), device="cpu")
    with pytest.raises(ConfigError, match="one generator per brain"):
        build_batch([make_connectome(6)] * 2, micro, [np.random.default_rng(0)], LIF(), device="cpu")


@pytest.mark.parametrize(
    ("field", "value"),
    [("neurons_per_region", 0), ("neurons_per_region", -5), ("neurons_per_region", 2.5), ("exc_ratio", 0.0),
     ("p_internal", 1.5), ("p_between", -0.1), ("coupling", float("nan")), ("j_exc", 0.0), ("g_inh", -1.0)],
)
def test_microcircuit_validates(field: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        Microcircuit(**{field: value})


def test_reference_constants() -> None:
    m = Microcircuit()
    assert (m.n_exc, m.c_e, m.j_eff, m.j_inh) == (160, 16, 2.0, 10.0)


def test_absurd_size_is_refused_before_allocating() -> None:
    c = make_connectome(6)
    with pytest.raises(ConfigError, match="memory"):
        build_network(c, Microcircuit(neurons_per_region=10**7, p_internal=0.5), np.random.default_rng(0), LIF(), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA"):
        build_network(make_connectome(), Microcircuit(neurons_per_region=10), np.random.default_rng(0), LIF(), device="cuda")


def test_delays_from_tract_lengths_and_distances() -> None:
    c = make_connectome(5, seed=4)
    micro = Microcircuit(neurons_per_region=30, p_between=0.2, coupling=1.0)
    for d, length in ((Delays("tract_lengths", velocity=2.0), c.tract_lengths),
                      (Delays("distances", velocity=2.0), np.sqrt(((c.positions[:, None] - c.positions[None]) ** 2).sum(-1)))):
        net = build_network(c, micro, np.random.default_rng(0), LIF(), delays=d, device="cpu")
        pre, post, _ = _np(net)
        rp, rq = pre // 30, post // 30
        want = np.where(rp == rq, 0, np.rint(length[rp, rq] / 2.0 / 0.1))
        assert np.array_equal(net.delay.numpy(), want)
        assert net.max_delay == int(want.max())
    bare = Connectome(weights=c.weights, labels=c.labels, groups=c.groups)
    with pytest.raises(DataError, match="tract lengths"):
        build_network(bare, micro, np.random.default_rng(0), LIF(), delays=Delays(), device="cpu")
    with pytest.raises(ConfigError, match="max_ms"):
        build_network(c, micro, np.random.default_rng(0), LIF(), delays=Delays(velocity=0.01, max_ms=10), device="cpu")


def test_bytes_per_synapse() -> None:
    c = make_connectome()
    net = _net(c, neurons_per_region=40)
    # post (int32) and weight (float32) per synapse, row_ptr (int64) per neuron.
    assert net.bytes_per_synapse() == pytest.approx(8.0 + 8.0 * (net.n_neurons + 1) / net.n_synapses, rel=1e-12)
    with_delay = build_network(c, Microcircuit(neurons_per_region=40), np.random.default_rng(0), LIF(), delays=Delays(), device="cpu")
    size = with_delay.delay.element_size()
    assert size == delay_dtype(with_delay.max_delay).itemsize
    assert with_delay.bytes_per_synapse() == pytest.approx(net.bytes_per_synapse() + size, rel=1e-12)
