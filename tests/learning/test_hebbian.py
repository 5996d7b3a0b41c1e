"""The exp. 21 Hebbian rule: windows, thresholds, the outer product on existing synapses, live weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encephagen.testing.learning import network_from_synapses, small_network
from encephagen_builtins.learning import Hebbian


def _spikes(n: int, active: list[int], steps: int, per_neuron: int) -> list[torch.Tensor]:
    """``steps`` spike vectors in which each neuron of ``active`` spikes ``per_neuron`` times."""
    out = [torch.zeros(n) for _ in range(steps)]
    for k in range(per_neuron):
        for i in active:
            out[k][i] = 1.0
    return out


def _trial(learner, n: int, cs_active: list[int], us_active: list[int], count: int = 3) -> None:
    v = torch.zeros(n)
    learner.begin_window("cs")
    for z in _spikes(n, cs_active, 10, count):
        learner.on_step(v, z)
    learner.end_window()
    learner.snapshot()
    learner.begin_window("us")
    for z in _spikes(n, us_active, 10, count):
        learner.on_step(v, z)
    learner.end_window()


def test_defaults_are_the_published_values() -> None:
    h = Hebbian()
    assert (h.eta, h.threshold, h.w_min, h.w_max) == (0.003, 2, -20.0, 20.0)


def test_outer_product_on_existing_synapses_only() -> None:
    net = small_network(0, dtype=torch.float64)
    n = net.n_neurons
    learner = Hebbian().bind(net)
    cs, us = [0, 1, 2, 7], [1, 3, 7, 12]
    w0 = net.weight.clone()
    _trial(learner, n, cs, us)
    learner.reward(1.0)
    pre, post = net.pre_index().numpy(), net.post.numpy()
    expected = 0.003 * np.isin(pre, cs) * np.isin(post, us)
    np.testing.assert_allclose((net.weight - w0).numpy(), expected, atol=1e-15)
    assert expected.sum() > 0
    dense = torch.zeros(n, n, dtype=torch.float64)
    dense[net.pre_index(), net.post.long()] = 1.0
    assert int(dense.sum()) == net.n_synapses  # no synapse was added


def test_threshold_is_strict() -> None:
    net = small_network(1)
    learner = Hebbian().bind(net)
    w0 = net.weight.clone()
    everyone = list(range(net.n_neurons))
    _trial(learner, net.n_neurons, everyone, everyone, count=2)  # exactly 2 spikes: not active
    learner.apply()
    assert torch.equal(net.weight, w0)
    _trial(learner, net.n_neurons, everyone, everyone, count=3)
    learner.apply()
    torch.testing.assert_close(net.weight - w0, torch.full_like(w0, 0.003))


def test_changes_reach_the_live_weights_at_once() -> None:
    """The published defect: changes went to a copy. Here the engine's own weight tensor changes after each trial."""
    net = small_network(2)
    engine_view = net.weight  # what the engine holds
    learner = Hebbian(eta=0.5).bind(net)
    everyone = list(range(net.n_neurons))
    seen = [engine_view.clone()]
    for _ in range(3):
        _trial(learner, net.n_neurons, everyone, everyone)
        learner.reward(1.0)
        seen.append(engine_view.clone())
    assert net.weight is engine_view
    for before, after in zip(seen, seen[1:]):
        assert bool((after != before).any())


def test_clamped_to_bounds() -> None:
    net = network_from_synapses([0, 1], [1, 0], [19.9, -19.9], regions_per_brain=1, neurons_per_region=2)
    learner = Hebbian(eta=1.0).bind(net)
    _trial(learner, 2, [0, 1], [0, 1])
    learner.reward(1.0)
    _trial(learner, 2, [0, 1], [0, 1])
    learner.reward(-100.0)
    assert net.weight.tolist() == [-20.0, -20.0]


def test_reward_scales_and_counts_restart_each_trial() -> None:
    net = small_network(3, dtype=torch.float64)
    learner = Hebbian().bind(net)
    everyone = list(range(net.n_neurons))
    w0 = net.weight.clone()
    _trial(learner, net.n_neurons, everyone, everyone)
    learner.reward(-2.0)
    torch.testing.assert_close(net.weight - w0, torch.full_like(w0, -0.006))
    with pytest.raises(RuntimeError, match="missing: cs, us"):
        learner.reward(1.0)  # the windows were consumed by the last reward


def test_window_misuse_is_refused() -> None:
    learner = Hebbian().bind(small_network(4))
    with pytest.raises(ValueError, match="window must be one of"):
        learner.begin_window("gap")
    learner.begin_window("cs")
    with pytest.raises(RuntimeError, match="still open"):
        learner.begin_window("us")
    with pytest.raises(RuntimeError, match="still open"):
        learner.apply()
    learner.end_window()
    with pytest.raises(RuntimeError, match="without begin_window"):
        learner.end_window()
    with pytest.raises(RuntimeError, match="missing: us"):
        learner.reward(1.0)


def test_steps_outside_windows_are_not_counted() -> None:
    net = small_network(5)
    learner = Hebbian().bind(net)
    everyone = list(range(net.n_neurons))
    w0 = net.weight.clone()
    for z in _spikes(net.n_neurons, everyone, 10, 5):  # a gap full of spikes
        learner.on_step(torch.zeros(net.n_neurons), z)
    _trial(learner, net.n_neurons, everyone, [], count=3)
    learner.apply()
    assert torch.equal(net.weight, w0)
    assert learner.traces()["count_cs"][0].sum() == 0  # cleared by apply()


def test_reset_closes_windows() -> None:
    learner = Hebbian().bind(small_network(6))
    learner.begin_window("cs")
    learner.on_step(torch.zeros(18), torch.ones(18))
    learner.reset()
    assert learner.open is None and int(learner.counts["cs"].sum()) == 0
