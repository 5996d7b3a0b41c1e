"""Cellular brains: one neuron per node, one synapse per connected pair, gap junctions as counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encephagen.connectome import Connectome
from encephagen.engine import Brain, Cellular, Delays, Record, build_batch, build_network
from encephagen.errors import ConfigError, DataError
from encephagen_builtins.neurons import LIF

WORM_LIF = LIF(nmda_groups=())


def _worm(n: int = 6, seed: int = 0, signs: list[int] | None = None) -> Connectome:
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 4, size=(n, n)).astype(float) * (rng.random((n, n)) < 0.5)
    g = np.triu(rng.integers(0, 3, size=(n, n)) * (rng.random((n, n)) < 0.4), 0).astype(float)
    g = g + np.triu(g, 1).T  # symmetric, a few junctions on the diagonal
    return Connectome(
        weights=w, labels=[f"N{i}" for i in range(n)], resolution="neurons", gap_junctions=g,
        signs=signs if signs is not None else ([1, -1, 0] * n)[:n], groups={"all": tuple(range(n))},
    )


def _dense(net) -> np.ndarray:
    n = net.n_neurons
    w = np.zeros((n, n), np.float32)
    w[net.pre_index().numpy(), net.post.numpy()] = net.weight.numpy()
    return w


@pytest.mark.parametrize("unknown", ["excitatory", "inhibitory"])
def test_wiring_is_the_connectome_signed_and_scaled_with_nothing_drawn(unknown: str) -> None:
    c = _worm()
    cell = Cellular(mv_per_synapse=0.7, g_gap=0.05, unknown_sign=unknown)
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    net = build_network(c, cell, rng, WORM_LIF, device="cpu")
    assert rng.bit_generator.state == before  # no draw
    sign = np.array(c.signs, float)
    sign[sign == 0] = 1 if unknown == "excitatory" else -1
    want = c.between * 0.7 * sign[:, None]
    np.testing.assert_array_equal(_dense(net), want.astype(np.float32))
    assert net.n_synapses == c.n_edges and net.neurons_per_region == 1 and net.regions_per_brain == c.n_regions
    np.testing.assert_array_equal(net.excitatory.numpy(), sign > 0)
    coupling = np.zeros((c.n_regions, c.n_regions), np.float32)
    coupling[net.gap.rows().numpy(), net.gap.post.numpy()] = net.gap.coupling.numpy()
    expect = c.gap_junctions * 0.05
    np.fill_diagonal(expect, 0.0)  # a junction of a neuron with itself carries no current
    np.testing.assert_allclose(coupling, expect, rtol=1e-7)
    assert dict(net.groups) == {"all": tuple(range(c.n_regions))}


def test_a_batch_is_block_diagonal_and_each_brain_its_own_connectome() -> None:
    a, b = _worm(seed=1), _worm(seed=2)
    cell = Cellular()
    batch = build_batch([a, b], cell, [np.random.default_rng(0)] * 2, WORM_LIF, device="cpu")
    singles = [build_network(c, cell, np.random.default_rng(0), WORM_LIF, device="cpu") for c in (a, b)]
    w = _dense(batch)
    n = a.n_regions
    np.testing.assert_array_equal(w[:n, :n], _dense(singles[0]))
    np.testing.assert_array_equal(w[n:, n:], _dense(singles[1]))
    assert not w[:n, n:].any() and not w[n:, :n].any()
    rows, post = batch.gap.rows().numpy(), batch.gap.post.numpy()
    assert np.all((rows < n) == (post < n))


def test_no_gap_junctions_without_them_or_at_zero_coupling() -> None:
    c = _worm()
    assert build_network(c, Cellular(g_gap=0.0), np.random.default_rng(0), WORM_LIF, device="cpu").gap is None
    plain = Connectome(weights=c.weights, labels=c.labels, resolution="neurons", signs=c.signs)
    assert build_network(plain, Cellular(), np.random.default_rng(0), WORM_LIF, device="cpu").gap is None


def test_a_region_graph_or_delays_are_refused() -> None:
    region = Connectome(weights=np.ones((3, 3)), labels=["a", "b", "c"])
    with pytest.raises(DataError) as err:
        build_network(region, Cellular(), np.random.default_rng(0), WORM_LIF, device="cpu")
    assert err.value.problems[0][0] == "brain.cellular"
    with pytest.raises(ConfigError) as err:
        build_network(_worm(), Cellular(), np.random.default_rng(0), WORM_LIF, delays=Delays(source="distances"), device="cpu")
    assert err.value.problems[0][0] == "brain.delays"


def test_background_follows_the_neuron_model_calibration_with_j_bg() -> None:
    c = _worm()
    net = build_network(c, Cellular(j_bg=5.0), np.random.default_rng(0), WORM_LIF, device="cpu")
    dyn = WORM_LIF.dynamics(net)
    assert dyn.bg_weight == 5.0
    # bg spikes of j_bg mV per step whose mean drive is v_thr * ext_rate_factor * dt / tau_m, whatever j_bg is
    assert dyn.bg_rate * dyn.bg_weight == pytest.approx(WORM_LIF.v_thr * WORM_LIF.ext_rate_factor * 0.1 / WORM_LIF.tau_m)


def test_eprop_learns_on_a_cellular_network_within_its_bounds() -> None:
    from encephagen_builtins.learning.eprop import EProp

    c = _worm(n=12, seed=5)
    net = build_network(c, Cellular(), np.random.default_rng(0), WORM_LIF, device="cpu")
    w0 = net.weight.clone()
    rule = EProp(lr=0.5, w_min=-3.0, w_max=3.0)
    rule.check_brain(Cellular(), c)
    learner = rule.bind(net)
    brain = Brain(net, np.random.default_rng(2), compile=False)
    brain.run(400, external=torch.full((12,), 2.0), learner=learner, record=Record())
    learner.snapshot()
    learner.reward(1.0)
    assert not torch.equal(net.weight, w0) and bool(((net.weight >= -3.0) & (net.weight <= 3.0)).all())
    with pytest.raises(ConfigError) as err:
        EProp(w_min=-1.0, w_max=1.0).check_brain(Cellular(), c)
    assert err.value.problems[0][0] in ("w_min", "w_max") and "mV per synapse unit" in str(err.value)


def test_microcircuit_and_cellular_expected_synapses_agree_with_the_built_network() -> None:
    c = _worm(n=9, seed=8)
    cell = Cellular()
    net = build_network(c, cell, np.random.default_rng(0), WORM_LIF, device="cpu")
    assert cell.expected_synapses(c) == (0.0, float(net.n_synapses))
    assert cell.expected_input(c)[1] == pytest.approx(float(net.weight.abs().sum()), rel=1e-6)


def _edges_of(c: Connectome, cell: Cellular) -> dict:
    """The edge list a user would hand over for ``c``: shuffled, with repeats and autapses."""
    w = c.weights * cell.mv_per_synapse * cell.signs(c)[:, None]
    pre, post = np.nonzero(w)  # the diagonal (autapses) included
    rng = np.random.default_rng(1)
    order = rng.permutation(pre.size)
    pre, post, wt = pre[order], post[order], w[pre, post][order]
    split = rng.random(pre.size) < 0.5  # every other synapse given as two rows that add up
    pre, post = np.concatenate([pre, pre[split]]), np.concatenate([post, post[split]])
    wt = np.concatenate([np.where(split, wt / 4, wt), wt[split] * 0.75])
    gi, gj = np.nonzero(np.triu(c.gap_junctions, 1))
    return {"pre": pre, "post": post, "weight": wt, "gap": (gi, gj, c.gap_junctions[gi, gj] * cell.g_gap)}


def test_an_edge_list_builds_the_network_its_connectome_builds_and_it_spikes_alike() -> None:
    from encephagen.engine import network_from_edges

    c = _worm(n=12, seed=5)
    cell = Cellular(mv_per_synapse=0.9, g_gap=0.2)
    want = build_network(c, cell, np.random.default_rng(0), WORM_LIF, device="cpu")
    e = _edges_of(c, cell)
    got = network_from_edges(
        c.n_regions, e["pre"], e["post"], e["weight"], cell.signs(c) > 0, WORM_LIF,
        gap=e["gap"], groups=c.groups, cellular=cell, device="cpu",
    )
    for name in ("row_ptr", "post", "excitatory"):
        assert torch.equal(getattr(got, name), getattr(want, name)), name
    torch.testing.assert_close(got.weight, want.weight, rtol=1e-6, atol=1e-6)  # sums of split rows round once
    for name in ("row_ptr", "post", "coupling"):
        assert torch.equal(getattr(got.gap, name), getattr(want.gap, name)), name
    got.weight.copy_(want.weight)
    spikes = [Brain(net, np.random.default_rng(7), compile=False).run(300, record=Record(neurons=True)).neuron_counts for net in (got, want)]
    assert torch.equal(*spikes) and spikes[0].sum() > 0


def test_an_edge_list_refuses_neurons_out_of_range_and_non_finite_weights() -> None:
    from encephagen.engine import network_from_edges

    ok = dict(n=3, pre=[0, 1], post=[1, 2], weight=[1.0, 1.0], excitatory=[True, True, False], neuron=WORM_LIF, device="cpu")
    assert network_from_edges(**ok).n_synapses == 2
    for bad, field in ((dict(post=[1, 3]), "edges"), (dict(weight=[1.0, np.nan]), "edges.weight"),
                       (dict(excitatory=[True]), "excitatory"), (dict(pre=[0]), "edges")):
        with pytest.raises(DataError) as err:
            network_from_edges(**{**ok, **bad})
        assert err.value.problems[0][0] == field
    with pytest.raises(ConfigError):
        network_from_edges(**{**ok, "n": 0})
