"""Gap junctions: the coupling current ``sum_j c_ij (v_j - v_i)`` in the membrane equation.

Two passive neurons (no threshold crossing, no background, no synapses) with
coupling ``c`` obey ``tau_m dv_i/dt = -v_i + c (v_j - v_i)``: their mean decays
as an uncoupled neuron, ``m(t) = m0 exp(-t/tau_m)``, and their difference as
``d(t) = d0 exp(-t (1 + 2c)/tau_m)``. The engine's Euler step gives exactly
``m0 (1 - k)^s`` and ``d0 (1 - k (1 + 2c))^s`` after ``s`` steps,
``k = dt/tau_m``.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest
import torch

from encephagen.engine import Brain, Microcircuit, Record, build_network
from encephagen.engine.network import GapJunctions, Network
from encephagen.errors import ConfigError, DataError
from encephagen_builtins.neurons import LIF, LIFDynamics

from engine_helpers import make_connectome

PASSIVE = LIF(v_thr=1e4, ext_rate_factor=0.0, nmda_groups=())  # never reaches threshold, no background


def _passive(coupling: np.ndarray, model: LIF = PASSIVE) -> Network:
    """``n`` unconnected neurons (one per region) with the gap junctions ``coupling`` (``(n, n)``)."""
    n = coupling.shape[0]
    return Network(
        n_brains=1, regions_per_brain=n, neurons_per_region=1,
        post=torch.zeros(0, dtype=torch.int32), weight=torch.zeros(0), row_ptr=torch.zeros(n + 1, dtype=torch.int64),
        excitatory=torch.ones(n, dtype=torch.bool), groups={}, neuron=model, microcircuit=Microcircuit(neurons_per_region=1, exc_ratio=1.0),
        gap=GapJunctions.from_blocks([coupling]),
    )


def _trajectory(net: Network, v0: list[float], steps: int) -> np.ndarray:
    brain = Brain(net, np.random.default_rng(0), compile=False)
    brain.state["v"].copy_(torch.tensor(v0))
    out = [brain.state["v"].numpy().astype(np.float64).copy()]
    for _ in range(steps):
        brain.run(1)
        out.append(brain.state["v"].numpy().astype(np.float64).copy())
    return np.array(out)


@pytest.mark.parametrize("c", [0.05, 0.5, 2.0])
def test_two_coupled_passive_neurons_relax_to_the_closed_form(c: float) -> None:
    steps, v0 = 400, [15.0, -5.0]
    v = _trajectory(_passive(np.array([[0.0, c], [c, 0.0]])), v0, steps)
    k = 0.1 / PASSIVE.tau_m
    s = np.arange(steps + 1)
    m0, d0 = (v0[0] + v0[1]) / 2, v0[0] - v0[1]
    mean, diff = v.mean(axis=1), v[:, 0] - v[:, 1]
    # the engine's Euler step, exactly (to float32 rounding)
    np.testing.assert_allclose(mean, m0 * (1 - k) ** s, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(diff, d0 * (1 - k * (1 + 2 * c)) ** s, rtol=1e-4, atol=1e-5)
    # the continuous solution, within the Euler step's relative error 1 - (1 - x)^s e^(x s) <= s x^2 / (2 (1 - x)), x = k lam
    t = s * 0.1
    for got, lam, x0 in ((mean, 1.0, m0), (diff, 1.0 + 2 * c, d0)):
        exact = x0 * np.exp(-lam * t / PASSIVE.tau_m)
        x = k * lam
        assert np.all(np.abs(got - exact) <= np.abs(exact) * s * x**2 / (2 * (1 - x)) + 1e-5)
    assert abs(diff[-1]) < abs(d0) * math.exp(-steps * k) * 1.01  # coupling pulls them together faster than the leak


def test_coupling_currents_are_antisymmetric_and_sum_to_zero() -> None:
    rng = np.random.default_rng(4)
    n = 60
    c = np.triu(rng.random((n, n)) * (rng.random((n, n)) < 0.2), 1) * 3.0
    c = c + c.T
    net = _passive(c)
    brain = Brain(net, np.random.default_rng(1), compile=False)
    brain.state["v"].copy_(torch.from_numpy(rng.normal(0.0, 10.0, n).astype(np.float32)))
    brain._couple()
    v = brain.state["v"].numpy().astype(np.float64)
    want = (c * (v[None, :] - v[:, None])).sum(axis=1)  # independent dense float64 form
    got = brain.gap_in.numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, net.gap.current(brain.state["v"]).numpy(), rtol=1e-6, atol=1e-6)
    # each pair's two entries are exact negatives; the total is zero to rounding
    flux = brain._gap_flux.numpy()
    rows, cols = net.gap.rows().numpy(), net.gap.post.numpy()
    where = {(int(i), int(j)): f for i, j, f in zip(rows, cols, flux)}
    assert all(where[(j, i)] == -f for (i, j), f in where.items())
    assert abs(got.sum()) <= 1e-6 * np.abs(got).sum()


def test_coupling_leaves_the_mean_potential_of_passive_neurons_alone() -> None:
    rng = np.random.default_rng(7)
    n = 30
    c = np.triu(rng.random((n, n)) < 0.3, 1) * 0.4
    c = c + c.T
    v0 = list(rng.normal(0.0, 10.0, n))
    coupled = _trajectory(_passive(c), v0, 300)
    k = 0.1 / PASSIVE.tau_m
    np.testing.assert_allclose(coupled.mean(axis=1), np.mean(v0) * (1 - k) ** np.arange(301), rtol=1e-4, atol=1e-4)
    assert coupled[-1].std() < coupled[0].std() * (1 - k) ** 300 / 2  # and they converge


def test_a_vanishing_coupling_changes_no_spike() -> None:
    """Only the gap current differs between the two runs, and it is below float32 resolution: the path adds nothing else."""
    conn = make_connectome(4, seed=3)
    net = build_network(conn, Microcircuit(neurons_per_region=20), np.random.default_rng(5), LIF(), device="cpu")
    n = net.n_neurons
    c = np.zeros((n, n))
    c[0, 1:] = c[1:, 0] = 1e-30
    coupled = attrs.evolve(net, gap=GapJunctions.from_blocks([c]))
    rasters = []
    for network in (net, coupled):
        brain = Brain(network, np.random.default_rng(9), compile=False)
        rasters.append(brain.run(600, record=Record(raster=range(n))).raster.numpy())
    assert rasters[0].sum() > 0 and np.array_equal(rasters[0], rasters[1])


def test_the_compiled_update_with_gap_junctions_equals_eager() -> None:
    conn = make_connectome(4, seed=3)
    base = build_network(conn, Microcircuit(neurons_per_region=20), np.random.default_rng(5), LIF(), device="cpu")
    n = base.n_neurons
    rng = np.random.default_rng(2)
    c = np.triu(rng.random((n, n)) < 0.05, 1) * 0.3
    net = attrs.evolve(base, gap=GapJunctions.from_blocks([c + c.T]))
    out = []
    for compile_ in (False, True):
        brain = Brain(net, np.random.default_rng(9), compile=compile_)
        rec = brain.run(300, record=Record(raster=range(n)))
        out.append((rec.raster.numpy(), brain.state["v"].clone()))
        assert brain.compiled is compile_
    assert out[0][0].sum() > 0 and np.array_equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


def test_gap_junctions_need_a_model_that_takes_them_and_must_be_symmetric(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _passive(np.array([[0.0, 1.0], [1.0, 0.0]]))
    bad = attrs.evolve(net, gap=GapJunctions(net.gap.row_ptr, net.gap.post, torch.tensor([1.0, 2.0])))
    with pytest.raises(DataError) as err:
        Brain(bad, np.random.default_rng(0))
    assert err.value.problems[0][0] == "network.gap" and "symmetric" in str(err.value)
    with pytest.raises(ValueError):
        GapJunctions.from_blocks([np.array([[0.0, 1.0], [0.0, 0.0]])])
    assert GapJunctions.from_blocks([np.zeros((3, 3))]) is None
    monkeypatch.setattr(LIFDynamics, "gap_junctions", False)
    with pytest.raises(ConfigError) as err:
        Brain(net, np.random.default_rng(0))
    assert err.value.problems[0][0] == "brain.neuron" and "gap" in str(err.value)
