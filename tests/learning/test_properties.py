"""Hypothesis: the e-prop bounds hold for arbitrary spike trains and membranes.

``0 <= z_bar <= 1``, ``0 <= psi <= gamma``, ``0 <= e_filt, snapshot <= gamma``,
weights in ``[w_min, w_max]``, nothing NaN; for the adaptive rule the bounds
of docs/learning_rules.md. The same property run on a learner without the
``(1 - alpha)`` factor must fail (a test of the test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encephagen.testing.learning import StandInNeuron, small_network
from encephagen_builtins.learning import EProp, EPropLearner, ThreeFactorSTDP

SEGMENT = st.tuples(
    st.integers(1, 150),  # steps
    st.sampled_from(["all", "none", "random"]),  # spikes
    st.sampled_from(["threshold", "random", "wild"]),  # membranes
)


@st.composite
def cases(draw: Any) -> dict:
    adaptive = draw(st.booleans())
    gamma = draw(st.floats(0.05, 2.0))
    case = {
        "dt": draw(st.sampled_from([0.1, 1.0, 5.0])),
        "gamma": gamma,
        "tau_e": draw(st.floats(1.0, 200.0)),
        "lr": draw(st.sampled_from([0.1, 10.0, 1000.0])),
        "w_bound": draw(st.floats(10.0, 30.0)),
        "block": draw(st.integers(1, 40)),
        "adaptive": adaptive,
        # beta * gamma < 1.5 keeps |rho - beta psi| < 1 (the rule refuses the rest)
        "beta": draw(st.floats(0.0, 1.49)) / gamma if adaptive else None,
        "tau_a": draw(st.floats(20.0, 500.0)) if adaptive else None,
        "segments": draw(st.lists(SEGMENT, min_size=1, max_size=4)),
        "rewards": draw(st.lists(st.floats(-5.0, 5.0), min_size=4, max_size=4)),
        "seed": draw(st.integers(0, 2**16)),
    }
    return case


def _inputs(net, segments, seed) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    n, thr = net.n_neurons, float(net.neuron.v_thr)
    out = []
    for steps, spikes, membrane in segments:
        for _ in range(steps):
            if spikes == "all":
                z = torch.ones(n)
            elif spikes == "none":
                z = torch.zeros(n)
            else:
                z = (torch.rand(n, generator=gen) < 0.3).float()
            if membrane == "threshold":
                v = torch.full((n,), thr)
            elif membrane == "random":
                v = torch.rand(n, generator=gen) * 2 * thr
            else:
                v = (torch.rand(n, generator=gen) - 0.5) * 1e4
            out.append((v, z))
    return out


def check_case(make: Callable[[Any, EProp], EPropLearner], case: dict) -> None:
    """Drive one learner through ``case``; assert every bound after every step."""
    neuron = StandInNeuron(beta=case["beta"], tau_a=case["tau_a"]) if case["adaptive"] else StandInNeuron()
    net = small_network(case["seed"] % 7, n_brains=2, neuron=neuron, dt=case["dt"])
    w_min, w_max = -case["w_bound"], case["w_bound"]
    rule = EProp(
        lr=case["lr"], gamma=case["gamma"], tau_e=case["tau_e"], w_min=w_min, w_max=w_max,
        block_steps=case["block"], adaptive=case["adaptive"],
    )
    learner = make(net, rule)
    g = learner.gamma
    tol = 1e-6 * max(1.0, g)
    rewards = iter(case["rewards"] * len(case["segments"]))
    for i, segment in enumerate(case["segments"]):
        for v, z in _inputs(net, [segment], case["seed"] + i):
            learner.on_step(v, z)
            zb = learner.z_bar
            assert bool(torch.isfinite(zb).all()), "z_bar is not finite"
            assert float(zb.min()) >= 0.0 and float(zb.max()) <= 1.0, f"z_bar in [{float(zb.min())}, {float(zb.max())}]"
            psi = learner.pending_psi()[-1]
            assert float(psi.min()) >= 0.0 and float(psi.max()) <= g, f"psi in [{float(psi.min())}, {float(psi.max())}]"
        learner.snapshot()
        learner.reward(next(rewards))
        for name, (t, lo, hi) in learner.traces().items():
            assert bool(torch.isfinite(t).all()), f"{name} is not finite"
            assert float(t.min()) >= lo - tol and float(t.max()) <= hi + tol, (
                f"{name} in [{float(t.min())}, {float(t.max())}], bounds [{lo}, {hi}]"
            )
        if not case["adaptive"]:  # the spec's bounds
            assert float(learner.e_filt.min()) >= 0.0 and float(learner.e_filt.max()) <= g + tol
            assert float(learner.snap.min()) >= 0.0 and float(learner.snap.max()) <= g + tol
        w = net.weight
        assert bool(torch.isfinite(w).all()), "weights are not finite"
        assert float(w.min()) >= w_min and float(w.max()) <= w_max, f"weights in [{float(w.min())}, {float(w.max())}]"


def run_property(make: Callable[[Any, EProp], EPropLearner]) -> None:
    """The property over ``cases()``; raises the falsifying example's AssertionError."""

    @settings(max_examples=40, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=cases())
    def prop(case: dict) -> None:
        check_case(make, case)

    prop()


def test_eprop_bounds_hold() -> None:
    run_property(lambda net, rule: rule.bind(net))


class WithoutNormalisation(EPropLearner):
    """The published defect: ``z_bar = alpha * z_bar + z`` (no ``(1 - alpha)``)."""

    def __init__(self, rule: EProp, network: Any) -> None:
        super().__init__(rule, network)
        self.c_alpha = 1.0  # on_step and the block fold both use this factor


def test_bounds_property_fails_without_the_normalisation() -> None:
    with pytest.raises(AssertionError, match="z_bar"):
        run_property(lambda net, rule: WithoutNormalisation(rule, net))


def test_constant_spiking_saturates_below_one() -> None:
    """A long run of spikes at threshold: z_bar -> 1 and e_filt -> gamma from below, never above."""
    net = small_network(1, dt=1.0)
    learner = EProp(gamma=0.5, tau_e=5.0).bind(net)
    v, z = torch.full((net.n_neurons,), 20.0), torch.ones(net.n_neurons)
    for _ in range(2000):
        learner.on_step(v, z)
    learner.flush()
    assert float(learner.z_bar.min()) > 0.999 and float(learner.z_bar.max()) <= 1.0
    assert float(learner.e_filt.min()) > 0.499 and float(learner.e_filt.max()) <= 0.5


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    segments=st.lists(st.tuples(st.integers(1, 120), st.sampled_from(["all", "none", "random"]),
                                st.just("random")), min_size=1, max_size=3),
    dt=st.sampled_from([0.1, 1.0, 5.0]),
    seed=st.integers(0, 1000),
)
def test_stdp3_traces_bounded(segments: list, dt: float, seed: int) -> None:
    net = small_network(seed % 5, dt=dt)
    learner = ThreeFactorSTDP(tau_e=50.0, lr=100.0, block_steps=9).bind(net)
    for v, z in _inputs(net, segments, seed):
        learner.on_step(v, z)
    learner.snapshot()
    learner.reward(3.0)
    for name, (t, lo, hi) in learner.traces().items():
        tol = 1e-6 * max(abs(lo), abs(hi))
        assert float(t.min()) >= lo - tol and float(t.max()) <= hi + tol, name
    assert float(net.weight.min()) >= -15.0 and float(net.weight.max()) <= 15.0
