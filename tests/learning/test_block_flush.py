"""The block-folded eligibility equals the per-step update (to rounding)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from encephagen.testing.learning import StandInNeuron, random_activity, small_network
from encephagen_builtins.learning import EProp, ThreeFactorSTDP
from learning_reference import StepEProp, StepSTDP

TOL = {torch.float64: 1e-12, torch.float32: 2e-6}


def _activity(net, steps, seed):
    # High rate and membranes around threshold: many spikes, psi mostly > 0.
    return list(random_activity(net, steps, seed, rate=0.3))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("block", [1, 7, 32])
@pytest.mark.parametrize("adaptive", [False, True])
def test_eprop_block_equals_per_step(dtype: torch.dtype, block: int, adaptive: bool) -> None:
    neuron = StandInNeuron(beta=1.5, tau_a=30.0) if adaptive else StandInNeuron()
    net = small_network(3, n_brains=2, dtype=dtype, neuron=neuron, dt=0.5)
    rule = EProp(gamma=0.5, tau_e=10.0, block_steps=block, adaptive=adaptive)
    learner = rule.bind(net)
    ref = StepEProp(net, 0.5, 10.0, beta=1.5 if adaptive else 0.0, tau_a=30.0 if adaptive else None)
    scale = TOL[dtype] * rule.gamma  # e_filt <= gamma
    for t, (v, z) in enumerate(_activity(net, 90, seed=block)):
        learner.on_step(v, z)
        ref.step(v, z)
        if t == 40:  # mid-block for block 7 and 32: the snapshot forces a flush
            learner.snapshot()
            assert torch.allclose(learner.snap.double(), ref.e_filt, rtol=0, atol=scale)
    learner.flush()
    assert float(ref.e_filt.abs().max()) > 1e-3  # the comparison is not between zeros
    torch.testing.assert_close(learner.e_filt.double(), ref.e_filt, rtol=0, atol=scale)
    torch.testing.assert_close(learner.z_bar.double(), ref.z_bar, rtol=0, atol=TOL[dtype])
    if adaptive:
        assert float(ref.eps.abs().max()) > 1e-3
        torch.testing.assert_close(learner.eps.double(), ref.eps, rtol=0, atol=TOL[dtype] * 10)
        torch.testing.assert_close(learner.a.double(), ref.a, rtol=0, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("block", [1, 5, 32])
def test_stdp3_block_equals_per_step(dtype: torch.dtype, block: int) -> None:
    net = small_network(4, dtype=dtype, dt=1.0)
    rule = ThreeFactorSTDP(a_plus=0.02, a_minus=0.03, tau_plus=10.0, tau_minus=15.0, tau_e=40.0, block_steps=block)
    learner = rule.bind(net)
    ref = StepSTDP(net, 0.02, 0.03, 10.0, 15.0, 40.0)
    for t, (v, z) in enumerate(_activity(net, 70, seed=block)):
        learner.on_step(v, z)
        ref.step(z)
        if t == 33:
            learner.snapshot()
            scale = TOL[dtype] * float(ref.c.abs().max())
            torch.testing.assert_close(learner.snap.double(), ref.c, rtol=0, atol=scale)
    learner.flush()
    assert float(ref.c.abs().max()) > 0.01
    torch.testing.assert_close(learner.c.double(), ref.c, rtol=0, atol=TOL[dtype] * float(ref.c.abs().max()))
    torch.testing.assert_close(learner.x.double(), ref.x, rtol=0, atol=TOL[dtype] * 10)


def test_stdp3_pair_amplitudes() -> None:
    """One pre-before-post pair adds a_plus * exp(-lag/tau_plus); the reverse removes a_minus * exp(-lag/tau_minus)."""
    from encephagen.testing.learning import network_from_synapses

    net = network_from_synapses([0, 1], [1, 0], [1.0, 1.0], regions_per_brain=1, neurons_per_region=2, dt=1.0)
    rule = ThreeFactorSTDP(a_plus=0.5, a_minus=0.25, tau_plus=10.0, tau_minus=20.0, tau_e=1e9, block_steps=4)
    learner = rule.bind(net)
    v = torch.zeros(2)
    for t in range(12):  # neuron 0 at t=2, neuron 1 at t=7: lag 5 ms
        learner.on_step(v, torch.tensor([float(t == 2), float(t == 7)]))
    learner.flush()
    syn01, syn10 = 0, 1  # CSR order: 0->1 then 1->0
    assert float(learner.c[syn01]) == pytest.approx(0.5 * torch.exp(torch.tensor(-0.5)).item(), rel=1e-5)
    assert float(learner.c[syn10]) == pytest.approx(-0.25 * torch.exp(torch.tensor(-0.25)).item(), rel=1e-5)


def test_simultaneous_spikes_add_nothing_in_stdp3() -> None:
    from encephagen.testing.learning import network_from_synapses

    net = network_from_synapses([0], [1], [1.0], regions_per_brain=1, neurons_per_region=2, dt=1.0)
    learner = ThreeFactorSTDP().bind(net)
    learner.on_step(torch.zeros(2), torch.ones(2))
    learner.flush()
    assert float(learner.c[0]) == 0.0


def _run_learner(rule, net, steps: int, monkeypatch: pytest.MonkeyPatch, native: bool) -> dict[str, torch.Tensor]:
    if native:
        monkeypatch.delenv("ENCEPHAGEN_NO_NATIVE", raising=False)
    else:
        monkeypatch.setenv("ENCEPHAGEN_NO_NATIVE", "1")
    learner = rule.bind(net)
    assert (learner.fold.lib is not None) == native
    for t, (v, z) in enumerate(random_activity(net, steps, seed=5, rate=0.3)):
        learner.on_step(v, z)
        if t % 23 == 22:
            learner.snapshot()
            learner.reward(float(t % 3) - 1.0)  # changes the weights
    learner.flush()
    return {k: t.clone() for k, (t, _, _) in learner.traces().items()} | {"weight": net.weight.clone()}


@pytest.mark.parametrize("make", [lambda: EProp(tau_e=10.0, block_steps=7, w_min=-50.0, w_max=50.0),
                                  lambda: EProp(tau_e=10.0, adaptive=True, w_min=-50.0, w_max=50.0),
                                  lambda: ThreeFactorSTDP(block_steps=5, w_min=-50.0, w_max=50.0)],
                         ids=["eprop", "eprop-adaptive", "stdp3"])
@pytest.mark.skipif(
    not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")),
    reason="no C compiler on this machine: the C fold cannot be built and the torch path (tested above) is all that runs",
)
def test_native_fold_is_bit_identical_to_torch(make, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loops of the block flush give the same floats as the torch path, bit for bit."""
    rule = make()
    neuron = StandInNeuron(beta=1.5, tau_a=30.0) if getattr(rule, "adaptive", False) else StandInNeuron()
    got = {}
    for native in (True, False):
        net = small_network(6, n_brains=2, dtype=torch.float32, neuron=neuron, dt=0.5)
        got[native] = _run_learner(rule, net, 120, monkeypatch, native)
    assert float(got[True]["snapshot"].abs().max()) > 1e-3  # not a comparison of zeros
    for key in got[True]:
        assert torch.equal(got[True][key], got[False][key]), key
