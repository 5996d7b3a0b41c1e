"""The conformance kit on the built-in rules, and on broken rules it must catch."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import torch

from encephagen.testing.learning import (
    StandInNeuron,
    check_absent_synapses_unchanged,
    check_detached_changes_nothing,
    check_deterministic,
    check_device_dtype_kept,
    check_finite_updates,
    check_fresh_bind_fresh_state,
    check_inputs_not_mutated,
    check_reset_clears_traces,
    check_traces_bounded,
    check_zero_activity_no_hebbian_change,
    drive,
    learning_rule_checks,
    small_network,
)
from encephagen_builtins.learning import EProp, EPropLearner, Hebbian, ThreeFactorSTDP


def _supervised_teach(learner: Any) -> None:
    learner.error(torch.tensor([0.2, -0.1]), torch.zeros(2))


ADAPTIVE = StandInNeuron(beta=1.0, tau_a=100.0)
CASES = {
    "eprop": (EProp(), None, None),
    "eprop-textbook-between-map": (EProp(baseline_order="textbook", plastic="between", reward_map={"a": 3.0}), None, None),
    "eprop-continuous-excitatory": (EProp(variant="continuous", plastic="excitatory"), None, None),
    "eprop-half-block1": (EProp(snapshot_precision="half", block_steps=1), None, None),
    "eprop-adaptive": (EProp(adaptive=True), ADAPTIVE, None),
    "eprop-supervised": (EProp(variant="supervised", lr=10.0), None, _supervised_teach),
    "hebbian": (Hebbian(), None, None),
    "stdp3": (ThreeFactorSTDP(), None, None),
    "stdp3-continuous": (ThreeFactorSTDP(variant="continuous", block_steps=5), None, None),
}


@pytest.mark.parametrize("check", learning_rule_checks(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_builtin_rules_conform(case: str, check) -> None:
    rule, neuron, teach = CASES[case]
    check(rule, small_network(0, n_brains=2, neuron=neuron), teach=teach)


def test_builtin_rules_learn_something() -> None:
    """The checks above pass for a rule that does nothing; this one does not."""
    for case, (rule, neuron, teach) in CASES.items():
        net = small_network(0, n_brains=2, neuron=neuron)
        w0 = net.weight.clone()
        drive(rule.bind(net), net, teach=teach)
        assert bool((net.weight != w0).any()), f"{case}: a trial changed nothing"


# -- broken rules: each check must catch its own kind of breakage -----------------------


@attrs.frozen
class Broken:
    """A rule whose learner is built by ``make(network)``."""

    name = "broken"
    make: Any

    def bind(self, network: Any) -> Any:
        return self.make(network)


class Plain:
    """A minimal correct learner: a per-neuron spike trace; reward adds lr * r * trace[pre] * trace[post]."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.x = torch.zeros(net.n_neurons, dtype=net.weight.dtype, device=net.device)

    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        self.x.mul_(0.9).add_(z, alpha=0.1)

    def snapshot(self) -> None:
        pass

    def reward(self, r: float) -> None:
        self.net.weight.add_(0.1 * r * self.x[self.net.pre_index()] * self.x[self.net.post.long()])

    def reset(self) -> None:
        self.x.zero_()

    def traces(self) -> dict:
        return {"x": (self.x, 0.0, 1.0)}


class ReplacesWeights(Plain):
    def reward(self, r: float) -> None:
        self.net.weight = self.net.weight + 0.0


class Explodes(Plain):
    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        self.x.mul_(0.999).add_(z)  # the published defect: no normalisation


class NaNs(Plain):
    def reward(self, r: float) -> None:
        self.net.weight[0] = float("nan")


class LearnsFromSilence(Plain):
    def reward(self, r: float) -> None:
        self.net.weight.add_(1e-3)


class KeepsTraceOnReset(Plain):
    def reset(self) -> None:
        pass


class Shared(Plain):
    SHARED: torch.Tensor | None = None

    def __init__(self, net: Any) -> None:
        super().__init__(net)
        if Shared.SHARED is None or Shared.SHARED.shape != self.x.shape:
            Shared.SHARED = self.x
        self.x = Shared.SHARED


class Unseeded(Plain):
    def reward(self, r: float) -> None:
        self.net.weight.add_(torch.rand(self.net.n_synapses, dtype=self.net.weight.dtype) * 1e-3 * float(self.x.sum() > 0))


class MutatesInput(Plain):
    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        super().on_step(v, z)
        v.clamp_(max=0.0)


class ChangesDtype(Plain):
    def reward(self, r: float) -> None:
        self.net.weight = self.net.weight.to(torch.float16).to(torch.float32 if self.net.weight.dtype == torch.float64 else torch.float64)


class WideTrace(Plain):
    def __init__(self, net: Any) -> None:
        super().__init__(net)
        self.x = self.x.to(torch.float64)  # float64 state on a float32 network: twice the memory, other rounding


class ActsWhenDetached(Plain):
    def reward(self, r: float) -> None:
        self.net.weight.mul_(1.01)


@pytest.mark.parametrize(
    "learner,check,message",
    [
        (Plain, None, None),
        (ReplacesWeights, check_absent_synapses_unchanged, "replaced network.weight"),
        (Explodes, check_traces_bounded, "outside its bounds"),
        (NaNs, check_finite_updates, "non-finite weights"),
        (LearnsFromSilence, check_zero_activity_no_hebbian_change, "no neuron spiked"),
        (KeepsTraceOnReset, check_reset_clears_traces, "not zero after reset"),
        (Shared, check_fresh_bind_fresh_state, "freshly bound"),
        (Unseeded, check_deterministic, "different weights"),
        (MutatesInput, check_inputs_not_mutated, "changed its inputs"),
        (ChangesDtype, check_device_dtype_kept, "weights became"),
        (WideTrace, check_device_dtype_kept, "trace x is torch.float64 on a torch.float32 network"),
        (ActsWhenDetached, check_detached_changes_nothing, "without on_step"),
    ],
    ids=lambda x: getattr(x, "__name__", "") if not isinstance(x, str) else "",
)
def test_checks_catch_broken_learners(learner, check, message) -> None:
    net = small_network(1)
    if check is None:  # the well-behaved learner passes every check
        for c in learning_rule_checks():
            c(Broken(learner), net)
        return
    Shared.SHARED = None
    with pytest.raises(AssertionError, match=message):
        check(Broken(learner), net)


def test_checks_need_traces() -> None:
    class NoTraces(Plain):
        traces = None  # type: ignore[assignment]

    with pytest.raises(AssertionError, match="exposes no traces"):
        check_traces_bounded(Broken(NoTraces), small_network(0))


def test_bounds_check_catches_the_unnormalised_eprop() -> None:
    class Unnormalised(EPropLearner):
        def __init__(self, net: Any) -> None:
            super().__init__(EProp(), net)
            self.c_alpha = 1.0

    with pytest.raises(AssertionError, match="z_bar in"):
        check_traces_bounded(Broken(Unnormalised), small_network(0))


def test_checks_leave_the_callers_network_alone() -> None:
    net = small_network(2)
    before = net.weight.clone()
    for check in learning_rule_checks():
        check(EProp(lr=5.0), net)
    assert torch.equal(net.weight, before)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", ["eprop", "eprop-adaptive", "eprop-supervised", "hebbian", "stdp3"])
def test_builtin_rules_conform_on_cuda(case: str) -> None:
    rule, neuron, teach = CASES[case]
    net = small_network(0, n_brains=2, neuron=neuron, device="cuda")
    for check in learning_rule_checks():
        check(rule, net, teach=teach)
