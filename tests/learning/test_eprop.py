"""E-prop (and the shared reward machinery): parameters, reward arithmetic, variants, selection, state."""

from __future__ import annotations

import attrs
import pytest
import torch

from encephagen.errors import ConfigError
from encephagen.testing.checks import check_component_class
from encephagen.testing.learning import (
    StandInNeuron,
    copy_network,
    drive,
    network_from_synapses,
    random_activity,
    small_network,
)
from encephagen_builtins.learning import EProp, ThreeFactorSTDP
from encephagen_builtins.learning_rules import LEARNING_RULES


def _trained(rule, net, steps: int = 60, seed: int = 0):
    """A learner after ``steps`` of activity and a snapshot (no reward yet)."""
    learner = rule.bind(net)
    for v, z in random_activity(net, steps, seed, rate=0.3):
        learner.on_step(v, z)
    learner.snapshot()
    return learner


# -- the component -------------------------------------------------------------------


def test_registered_rules_are_components() -> None:
    assert [c.name for c in LEARNING_RULES] == ["eprop", "hebbian", "stdp3"]
    for cls in LEARNING_RULES:
        check_component_class(cls, "learning_rule")
        assert cls.summary


def test_defaults_are_the_published_values() -> None:
    r = EProp()
    assert (r.lr, r.tau_e, r.gamma, r.w_min, r.w_max, r.reward_decay) == (0.1, 50.0, 0.5, -15.0, 15.0, 0.99)
    assert (r.baseline_order, r.variant, r.plastic, r.adaptive) == ("published", "snapshot", "all", False)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"lr": -1.0}, "lr"),
        ({"tau_e": 0.0}, "tau_e"),
        ({"gamma": float("nan")}, "gamma"),
        ({"lr": "fast"}, "lr"),
        ({"reward_decay": 1.0}, "reward_decay"),
        ({"variant": "online"}, "variant"),
        ({"plastic": "inhibitory"}, "plastic"),
        ({"baseline_order": "late"}, "baseline_order"),
        ({"w_min": 5.0, "w_max": 5.0}, "w_min"),
        ({"reward_map": ["a"]}, "reward_map"),
        ({"reward_map": {"a": float("inf")}}, "reward_map"),
        ({"block_steps": 0}, "block_steps"),
        ({"snapshot_precision": "quarter"}, "snapshot_precision"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        EProp(**kwargs)


def test_bind_refuses_unknown_or_overlapping_groups() -> None:
    net = small_network(0)
    with pytest.raises(ConfigError, match="unknown region group 'amygdala'.*a, b"):
        EProp(reward_map={"amygdala": 2.0}).bind(net)
    net.groups = {"a": (0,), "ab": (0, 1)}
    with pytest.raises(ConfigError, match="region 0 is in both groups"):
        EProp(reward_map={"a": 2.0, "ab": 0.5}).bind(net)


def test_bind_refuses_plastic_weights_outside_the_bounds() -> None:
    net = small_network(0)
    with pytest.raises(ConfigError, match="outside \\[w_min, w_max\\]"):
        EProp(w_min=-1.0, w_max=1.0).bind(net)
    # Inhibitory weights (-5 mV) are outside [-1, 15] but not plastic under "excitatory": accepted.
    EProp(w_min=-1.0, plastic="excitatory").bind(net)


def test_adaptive_needs_the_neuron_adaptation() -> None:
    with pytest.raises(ConfigError, match="'beta'"):
        EProp(adaptive=True).bind(small_network(0))
    unstable = small_network(0, neuron=StandInNeuron(beta=5.0, tau_a=100.0))
    with pytest.raises(ConfigError, match="grows without bound"):
        EProp(adaptive=True, gamma=0.5).bind(unstable)


# -- reward arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize("order", ["published", "textbook"])
def test_reward_update_is_lr_delta_snapshot(order: str) -> None:
    net = small_network(1, dtype=torch.float64)
    rule = EProp(lr=0.7, baseline_order=order, reward_decay=0.9)
    learner = _trained(rule, net)
    snap = learner.snap.clone()
    baseline = 0.0
    for r in (1.0, 0.5, 2.0):
        w0 = net.weight.clone()
        learner.reward(r)
        if order == "published":
            baseline = 0.9 * baseline + 0.1 * r
            delta = r - baseline
        else:
            delta = r - baseline
            baseline = 0.9 * baseline + 0.1 * r
        torch.testing.assert_close(net.weight - w0, 0.7 * delta * snap, rtol=1e-12, atol=1e-14)
    assert float(snap.abs().max()) > 0


def test_published_order_shrinks_the_first_delta_by_decay() -> None:
    out = {}
    for order in ("published", "textbook"):
        net = small_network(1, dtype=torch.float64)
        w0 = net.weight.clone()
        _trained(EProp(baseline_order=order), net).reward(1.0)
        out[order] = net.weight - w0
    torch.testing.assert_close(out["published"], 0.99 * out["textbook"])


def test_snapshot_variant_ignores_activity_after_the_snapshot() -> None:
    """The reward reaches back to the snapshot (CS), not to what happened in between (US)."""
    results = []
    for us_seed in (5, 6):
        net = small_network(2, dtype=torch.float64)
        learner = _trained(EProp(), net)
        for v, z in random_activity(net, 40, us_seed, rate=0.5):
            learner.on_step(v, z)
        learner.reward(1.0)
        results.append(net.weight.clone())
    assert torch.equal(results[0], results[1])


def test_continuous_variant_rewards_the_live_trace() -> None:
    net = small_network(2, dtype=torch.float64)
    learner = EProp(variant="continuous").bind(net)
    acts = list(random_activity(net, 50, 3, rate=0.3))
    for v, z in acts[:20]:
        learner.on_step(v, z)
    learner.snapshot()  # does nothing in this variant
    for v, z in acts[20:]:
        learner.on_step(v, z)
    learner.flush()
    live = learner.e_filt.clone()
    w0 = net.weight.clone()
    learner.reward(1.0)
    torch.testing.assert_close(net.weight - w0, 0.1 * 0.99 * live)


def test_misused_variants_are_refused() -> None:
    net = small_network(0)
    with pytest.raises(RuntimeError, match="before any snapshot"):
        EProp().bind(net).reward(1.0)
    with pytest.raises(RuntimeError, match="error\\(y, y_target\\)"):
        EProp(variant="supervised").bind(net).reward(1.0)
    with pytest.raises(RuntimeError, match="supervised"):
        EProp().bind(net).error(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="one per brain"):
        _trained(EProp(), net).reward([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        EProp().bind(net).on_step(torch.zeros(3), torch.zeros(3))


def test_weights_stay_clamped() -> None:
    net = small_network(3)
    learner = _trained(EProp(lr=1e4, w_min=-9.0, w_max=4.5), net)
    learner.reward(1.0)
    assert float(net.weight.max()) == 4.5  # pushed to the bound, not beyond
    learner.reward(-50.0)
    assert float(net.weight.min()) == -9.0


# -- which synapses learn, and how much ----------------------------------------------


@pytest.mark.parametrize("plastic", ["excitatory", "between"])
def test_plastic_selection(plastic: str) -> None:
    net = small_network(4, n_brains=2)
    learner = _trained(EProp(lr=10.0, plastic=plastic), net)
    w0 = net.weight.clone()
    learner.reward(1.0)
    changed = net.weight != w0
    pre, post = net.pre_index(), net.post.long()
    if plastic == "excitatory":
        allowed = net.excitatory[pre]
    else:
        allowed = (pre // net.neurons_per_region) != (post // net.neurons_per_region)
    assert not bool((changed & ~allowed).any()), "a non-plastic synapse changed"
    assert bool(changed.any()) and int((changed & allowed).sum()) > allowed.sum() // 2


def test_reward_map_scales_per_postsynaptic_region() -> None:
    net = small_network(5, n_brains=2, regions=3, dtype=torch.float64)
    net.groups = {"a": (0,), "c": (2,)}
    rule = EProp(reward_map={"a": 2.0, "c": 0.0}, reward_default=0.5, lr=1.0)
    learner = _trained(rule, net)
    w0 = net.weight.clone()
    learner.reward(1.0)
    region = (net.post.long() % net.neurons_per_brain) // net.neurons_per_region
    scale = torch.tensor([2.0, 0.5, 0.0], dtype=torch.float64)[region]
    torch.testing.assert_close(net.weight - w0, 0.99 * scale * learner.snap)


def test_reward_per_brain() -> None:
    net = small_network(6, n_brains=2, dtype=torch.float64)
    learner = _trained(EProp(lr=1.0), net)
    w0 = net.weight.clone()
    learner.reward([1.0, -2.0])
    brain = net.post.long() // net.neurons_per_brain
    delta = torch.tensor([0.99, -1.98], dtype=torch.float64)[brain]
    torch.testing.assert_close(net.weight - w0, delta * learner.snap)


# -- state ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [EProp(), EProp(variant="continuous"), ThreeFactorSTDP()], ids=["eprop", "continuous", "stdp3"])
def test_reset_behaves_like_a_fresh_learner_with_the_same_baseline(rule) -> None:
    net_a, net_b = small_network(7), small_network(7)
    a = rule.bind(net_a)
    drive(a, net_a, seed=1)
    a.reset()
    b = rule.bind(net_b)
    b.writer.baseline = a.writer.baseline.clone()
    net_b.weight.copy_(net_a.weight)
    for learner, net in ((a, net_a), (b, net_b)):
        drive(learner, net, seed=2)
    assert torch.equal(net_a.weight, net_b.weight)


def test_learners_never_share_state() -> None:
    net = small_network(8)
    a, b = EProp().bind(net), EProp().bind(copy_network(net))
    drive(a, net)
    for t, _, _ in b.traces().values():
        assert not bool(t.ne(0).any())


def test_half_precision_snapshot() -> None:
    full_net, half_net = small_network(9), small_network(9)
    full = _trained(EProp(lr=1.0), full_net)
    half = _trained(EProp(lr=1.0, snapshot_precision="half"), half_net)
    w0 = full_net.weight.clone()
    full.reward(1.0)
    half.reward(1.0)
    d_full, d_half = full_net.weight - w0, half_net.weight - w0
    assert half.snap.dtype == torch.float16
    assert float((d_full - d_half).abs().max()) <= 1e-3 * float(d_full.abs().max())
    e = full_net.n_synapses
    assert full.state_bytes()["per_synapse"] == 8 * e and half.state_bytes()["per_synapse"] == 6 * e


def test_state_bytes_per_synapse() -> None:
    net = small_network(0)
    e = net.n_synapses
    assert EProp(variant="continuous").bind(net).state_bytes()["per_synapse"] == 4 * e
    assert EProp(variant="supervised").bind(net).state_bytes()["per_synapse"] == 4 * e
    alif = small_network(0, neuron=StandInNeuron(beta=0.5, tau_a=100.0))
    assert EProp(adaptive=True).bind(alif).state_bytes()["per_synapse"] == 12 * e


def test_rules_are_values() -> None:
    assert EProp() == EProp()
    assert attrs.evolve(EProp(), lr=0.2) != EProp()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        EProp().lr = 1.0  # type: ignore[misc]


def test_stdp3_reward_gates_the_update() -> None:
    net = small_network(10, dtype=torch.float64)
    learner = ThreeFactorSTDP(lr=2.0).bind(net)
    w0 = net.weight.clone()
    for v, z in random_activity(net, 80, 1, rate=0.3):
        learner.on_step(v, z)
    assert torch.equal(net.weight, w0), "no reward, no change"
    learner.snapshot()
    learner.reward(1.0)
    torch.testing.assert_close(net.weight - w0, 2.0 * 0.99 * learner.snap)
    assert float(learner.snap.abs().max()) > 0


def test_a_synapse_list_with_no_synapses() -> None:
    net = network_from_synapses([], [], [], regions_per_brain=2, neurons_per_region=3)
    for rule in (EProp(), ThreeFactorSTDP()):
        learner = rule.bind(net)
        drive(learner, net)
        assert net.weight.numel() == 0


def test_study_file_keys_structure_the_rules() -> None:
    """The parameters are study-file keys: cattrs builds the classes and reports bad values by field."""
    from typing import Annotated, Any

    from cattrs.errors import ClassValidationError

    from encephagen.config import Kind, make_converter
    from encephagen.registry import Entry, Registry

    registry = Registry([Entry("learning_rule", c.name, c, "encephagen", "0") for c in LEARNING_RULES])
    conv = make_converter(registry)
    kind = Annotated[Any, Kind("learning_rule")]
    rule = conv.structure({"kind": "eprop", "tau_e": 40, "reward_map": {"amygdala": 2}, "plastic": "between"}, kind)
    assert rule == EProp(tau_e=40.0, reward_map={"amygdala": 2.0}, plastic="between")
    assert conv.structure({"kind": "stdp3", "variant": "continuous"}, kind) == ThreeFactorSTDP(variant="continuous")
    with pytest.raises(ClassValidationError):
        conv.structure({"kind": "eprop", "variant": "online"}, kind)
