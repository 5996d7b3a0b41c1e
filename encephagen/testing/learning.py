"""Conformance checks for learning rules.

Each ``check_*`` takes a learning-rule component (an attrs class with
``bind(network) -> Learner``) and a small :class:`~encephagen.engine.network.Network`
(see :func:`small_network`), works on a copy of that network, and raises
``AssertionError`` with a clear message when the rule breaks the contract.
Parametrise them in a plugin's test suite::

    import pytest
    from encephagen.testing.learning import learning_rule_checks, small_network

    @pytest.mark.parametrize("check", learning_rule_checks(), ids=lambda c: c.__name__)
    def test_my_rule(check):
        check(MyRule(), small_network(seed=0))

What the checks drive: random membranes ``v ~ Uniform(0, 1.5 v_thr)`` (mV)
and Bernoulli spikes from a seeded generator, in two halves ("CS" and "US").
A learner with ``begin_window``/``end_window`` gets the halves marked as
windows ``"cs"`` and ``"us"``. Between the halves ``snapshot()`` is called;
at the end ``teach(learner)`` (default: ``learner.reward(1.0)``). A rule that
learns from something else (a supervised error) passes its own ``teach``.

Checks that inspect state need the learner to expose
``traces() -> {name: (tensor, low, high)}``: every state tensor with the
bounds it must stay in. Bounds are checked to a few units of the tensor
dtype's rounding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import numpy as np
import torch

from encephagen.engine.network import Network
from encephagen.interfaces import HasTraces, Windowed

Teach = Callable[[Any], None]


# -- fixtures ---------------------------------------------------------------------------


@attrs.frozen
class StandInNeuron:
    """The neuron fields a learning rule may read (mV, ms); no dynamics.

    ``beta`` (mV per unit of adaptation) and ``tau_a`` (ms) describe threshold
    adaptation ``A = v_thr + beta * a``, ``a <- exp(-dt/tau_a) a + z``; leave
    them ``None`` for a neuron without adaptation.
    """

    v_thr: float = 20.0
    tau_m: float = 20.0
    beta: float | None = None
    tau_a: float | None = None

    def pseudo_derivative(self, v: torch.Tensor) -> torch.Tensor:
        """``max(0, 1 - |v - v_thr| / v_thr)`` (dimensionless, shape of ``v``)."""
        return (1.0 - (v - self.v_thr).abs() / self.v_thr).clamp(min=0.0)


def network_from_synapses(
    pre: np.ndarray,
    post: np.ndarray,
    weight: np.ndarray,
    *,
    n_brains: int = 1,
    regions_per_brain: int,
    neurons_per_region: int,
    excitatory: np.ndarray | None = None,
    groups: dict[str, tuple[int, ...]] | None = None,
    neuron: Any = None,
    dt: float = 0.1,
    dtype: torch.dtype = torch.float32,
) -> Network:
    """A :class:`Network` from a synapse list (any order; duplicates are an error).

    The synapses are sorted into CSR order and ``pre`` becomes ``row_ptr``
    (:meth:`Network.pre_index` expands it again).

    :param pre: presynaptic global indices ``(E,)``.
    :param post: postsynaptic global indices ``(E,)``.
    :param weight: mV per spike ``(E,)``.
    :param excitatory: bool ``(N,)``; default: the first 80% of each region.
    """
    pre, post, weight = np.asarray(pre, np.int64), np.asarray(post, np.int64), np.asarray(weight, np.float64)
    n = n_brains * regions_per_brain * neurons_per_region
    if not (pre.shape == post.shape == weight.shape and pre.ndim == 1):
        raise ValueError("pre, post and weight must be 1-D arrays of one length")
    if len(pre) and (min(pre.min(), post.min()) < 0 or max(pre.max(), post.max()) >= n):
        raise ValueError(f"synapse indices must lie in [0, {n})")
    order = np.lexsort((post, pre))
    pre, post, weight = pre[order], post[order], weight[order]
    if len(pre) > 1 and bool(np.any((np.diff(pre) == 0) & (np.diff(post) == 0))):
        raise ValueError("duplicate synapses")
    row_ptr = np.zeros(n + 1, np.int64)
    row_ptr[1:] = np.cumsum(np.bincount(pre, minlength=n))
    if excitatory is None:
        excitatory = (np.arange(n) % neurons_per_region) < int(0.8 * neurons_per_region)
    return Network(
        n_brains=n_brains,
        regions_per_brain=regions_per_brain,
        neurons_per_region=neurons_per_region,
        post=torch.from_numpy(post.astype(np.int32)),
        weight=torch.from_numpy(weight).to(dtype),
        row_ptr=torch.from_numpy(row_ptr),
        excitatory=torch.from_numpy(np.asarray(excitatory, bool)),
        groups=dict(groups if groups is not None else {"a": (0,), "b": tuple(range(1, regions_per_brain))}),
        neuron=neuron if neuron is not None else StandInNeuron(),
        dt=dt,
    )


def small_network(
    seed: int = 0,
    *,
    n_brains: int = 1,
    regions: int = 3,
    neurons_per_region: int = 6,
    p: float = 0.3,
    dtype: torch.dtype = torch.float32,
    neuron: Any = None,
    dt: float = 0.1,
    device: str | torch.device = "cpu",
) -> Network:
    """A random block-diagonal network for tests: ``p`` connection probability inside each brain.

    Excitatory neurons (the first 80% of each region) carry ``+2`` mV, the
    others ``-5`` mV, each plus ``N(0, 0.5^2)``; no self-connections.
    Groups: ``a`` = region 0, ``b`` = the other regions.
    """
    rng = np.random.default_rng(seed)
    n_per = regions * neurons_per_region
    exc = (np.arange(n_brains * n_per) % neurons_per_region) < int(0.8 * neurons_per_region)
    pres, posts = [], []
    for b in range(n_brains):
        adj = rng.random((n_per, n_per)) < p
        np.fill_diagonal(adj, False)
        i, j = np.nonzero(adj)
        pres.append(i + b * n_per)
        posts.append(j + b * n_per)
    pre, post = np.concatenate(pres), np.concatenate(posts)
    weight = np.where(exc[pre], 2.0, -5.0) + rng.normal(0.0, 0.5, len(pre))
    net = network_from_synapses(
        pre, post, weight, n_brains=n_brains, regions_per_brain=regions, neurons_per_region=neurons_per_region,
        excitatory=exc, neuron=neuron, dt=dt, dtype=dtype,
    )
    return to_device(net, device)


def to_device(network: Network, device: str | torch.device) -> Network:
    """The same network with its tensors on ``device``."""
    return attrs.evolve(network, **{k: t.to(device) for k, t in _tensors(network).items()})


def _tensors(network: Network) -> dict[str, torch.Tensor]:
    """The network's tensor fields (``delay`` only when present)."""
    names = ("post", "weight", "row_ptr", "excitatory", "delay")
    return {k: getattr(network, k) for k in names if isinstance(getattr(network, k, None), torch.Tensor)}


def copy_network(network: Network) -> Network:
    """A deep copy (tensors cloned), so a check never changes the caller's network."""
    clones = {k: t.clone() for k, t in _tensors(network).items()}
    return attrs.evolve(network, groups=copy.deepcopy(dict(network.groups)), **clones)


def random_activity(
    network: Network, steps: int, seed: int, *, rate: float = 0.1, silent: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` pairs ``(v, z)``: ``v ~ Uniform(0, 1.5 v_thr)`` mV, ``z ~ Bernoulli(rate)`` (all 0 if ``silent``)."""
    gen = torch.Generator().manual_seed(seed)
    n, dtype = network.n_neurons, network.weight.dtype
    v_thr = float(getattr(network.neuron, "v_thr", 20.0))
    for _ in range(steps):
        v = (torch.rand(n, generator=gen, dtype=torch.float64) * 1.5 * v_thr).to(dtype)
        z = torch.rand(n, generator=gen) < rate
        if silent:
            z = torch.zeros_like(z)
        yield v.to(network.device), z.to(network.device, dtype)


def drive(
    learner: Any, network: Network, steps: int = 60, seed: int = 0, *, rate: float = 0.1,
    silent: bool = False, teach: Teach | None = None,
) -> None:
    """Run one trial on ``learner``: half the steps, ``snapshot()``, the other half, ``teach``."""
    windows = isinstance(learner, Windowed)
    half = steps // 2
    acts = random_activity(network, steps, seed, rate=rate, silent=silent)
    for phase, n_steps in (("cs", half), ("us", steps - half)):
        if windows:
            learner.begin_window(phase)
        for _ in range(n_steps):
            v, z = next(acts)
            learner.on_step(v, z)
        if windows:
            learner.end_window()
        if phase == "cs":
            learner.snapshot()
    (teach or _reward_one)(learner)


def _reward_one(learner: Any) -> None:
    learner.reward(1.0)


def _traces(learner: Any) -> dict[str, tuple[torch.Tensor, float, float]]:
    fn = learner.traces if isinstance(learner, HasTraces) else None
    assert callable(fn), (
        f"{type(learner).__name__} exposes no traces(); implement traces() -> {{name: (tensor, low, high)}} "
        "so that its state and bounds can be checked"
    )
    out = fn()
    assert isinstance(out, dict) and out, "traces() must return a non-empty dict name -> (tensor, low, high)"
    for name, item in out.items():
        assert isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], torch.Tensor), (
            f"traces()[{name!r}] must be (tensor, low, high)"
        )
    return out


def _tolerance(t: torch.Tensor, low: float, high: float) -> float:
    eps = torch.finfo(t.dtype).eps if t.is_floating_point() else 0.0
    return 8.0 * eps * max(abs(low), abs(high), 1e-30)


def _bounds_problems(learner: Any) -> list[str]:
    bad = []
    for name, (t, low, high) in _traces(learner).items():
        tf = t.double()
        if not bool(torch.isfinite(tf).all()):
            bad.append(f"{name} has non-finite values")
            continue
        tol = _tolerance(t, low, high)
        lo, hi = float(tf.min()) if t.numel() else low, float(tf.max()) if t.numel() else high
        if lo < low - tol or hi > high + tol:
            bad.append(f"{name} in [{lo:.6g}, {hi:.6g}], outside its bounds [{low:.6g}, {high:.6g}]")
    return bad


# -- checks -----------------------------------------------------------------------------


def check_finite_updates(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """After a trial the weights and every trace are finite."""
    net = copy_network(network)
    learner = rule.bind(net)
    for seed in range(3):
        drive(learner, net, seed=seed, teach=teach)
        assert bool(torch.isfinite(net.weight).all()), f"non-finite weights after trial {seed}"
    if isinstance(learner, HasTraces):
        for name, (t, _, _) in _traces(learner).items():
            assert bool(torch.isfinite(t.double()).all()), f"trace {name} has non-finite values"


def check_absent_synapses_unchanged(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """No synapse appears or disappears: the CSR structure is untouched and weights change in place."""
    net = copy_network(network)
    before = {k: getattr(net, k).clone() for k in ("post", "row_ptr", "excitatory")}
    weight = net.weight
    ptr, shape, dtype = weight.data_ptr(), tuple(weight.shape), weight.dtype
    learner = rule.bind(net)
    drive(learner, net, teach=teach)
    assert net.weight is weight and weight.data_ptr() == ptr, (
        "the learner replaced network.weight; update it in place (the engine holds a reference)"
    )
    assert tuple(weight.shape) == shape and weight.dtype == dtype, "the weight array changed shape or dtype"
    for k, t in before.items():
        assert torch.equal(getattr(net, k), t), f"the learner changed network.{k}; the wiring must stay fixed"


def check_traces_bounded(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """Every trace stays in its declared bounds, including under constant spiking."""
    net = copy_network(network)
    learner = rule.bind(net)
    bad = _bounds_problems(learner)
    assert not bad, "after bind: " + "; ".join(bad)
    for rate in (0.1, 1.0):
        drive(learner, net, steps=400 if rate == 1.0 else 60, seed=3, rate=rate, teach=teach)
        bad = _bounds_problems(learner)
        assert not bad, f"spike probability {rate}: " + "; ".join(bad)


def check_zero_activity_no_hebbian_change(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """Without any spike, a trial (and its reward) leaves every weight unchanged."""
    net = copy_network(network)
    w0 = net.weight.clone()
    learner = rule.bind(net)
    drive(learner, net, silent=True, teach=teach)
    changed = int((net.weight != w0).sum())
    assert changed == 0, f"{changed} weights changed although no neuron spiked"


def check_device_dtype_kept(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """Weights keep their dtype and device, for float32 and float64 networks; traces live on the same device
    in the network's dtype (or a deliberately smaller float16/bfloat16, such as e-prop's half-precision snapshot)."""
    for dtype in (torch.float32, torch.float64):
        net = copy_network(network)
        net.weight = net.weight.to(dtype)
        learner = rule.bind(net)
        drive(learner, net, teach=teach)
        assert net.weight.dtype == dtype, f"weights became {net.weight.dtype} on a {dtype} network"
        assert net.weight.device == network.device, "weights moved to another device"
        if isinstance(learner, HasTraces):
            for name, (t, _, _) in _traces(learner).items():
                assert t.device == net.device, f"trace {name} lives on {t.device}, the network on {net.device}"
                if t.is_floating_point():
                    assert t.dtype == dtype or t.dtype in (torch.float16, torch.bfloat16), (
                        f"trace {name} is {t.dtype} on a {dtype} network; keep traces in the network's dtype"
                    )


def check_reset_clears_traces(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """``reset()`` zeroes every trace and keeps the weights."""
    net = copy_network(network)
    learner = rule.bind(net)
    drive(learner, net, teach=teach)
    acts = random_activity(net, 7, seed=9)
    for v, z in acts:  # leave some steps unflushed
        learner.on_step(v, z)
    w = net.weight.clone()
    learner.reset()
    assert torch.equal(net.weight, w), "reset() changed the weights"
    for name, (t, _, _) in _traces(learner).items():
        assert not bool(t.ne(0).any()), f"trace {name} is not zero after reset()"


def check_detached_changes_nothing(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """A learner that never sees a step (detached) changes no weight, whatever the task calls."""
    net = copy_network(network)
    w0 = net.weight.clone()
    learner = rule.bind(net)
    drive(learner, net, steps=0, teach=teach)
    assert torch.equal(net.weight, w0), "a learner without on_step() calls changed the weights"


def check_fresh_bind_fresh_state(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """A new ``bind`` starts from zero traces and does not share state with an earlier learner."""
    net = copy_network(network)
    first = rule.bind(net)
    drive(first, net, teach=teach)
    second = rule.bind(net)
    for name, (t, _, _) in _traces(second).items():
        assert not bool(t.ne(0).any()), f"trace {name} of a freshly bound learner is not zero"
    mine = {id(t) for t, _, _ in _traces(first).values()}
    shared = [n for n, (t, _, _) in _traces(second).items() if id(t) in mine]
    assert not shared, f"two learners share the tensors {shared}"


def check_deterministic(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """The same inputs on copies of one network give bit-identical weights."""
    out = []
    for _ in range(2):
        net = copy_network(network)
        learner = rule.bind(net)
        for seed in range(2):
            drive(learner, net, seed=seed, teach=teach)
        out.append(net.weight.clone())
    assert torch.equal(out[0], out[1]), "the same inputs gave different weights"


def check_inputs_not_mutated(rule: Any, network: Network, *, teach: Teach | None = None) -> None:
    """``on_step`` leaves its ``v`` and ``z`` arguments unchanged."""
    net = copy_network(network)
    learner = rule.bind(net)
    for v, z in random_activity(net, 40, seed=4, rate=0.3):
        v0, z0 = v.clone(), z.clone()
        learner.on_step(v, z)
        assert torch.equal(v, v0) and torch.equal(z, z0), "on_step() changed its inputs"


def learning_rule_checks() -> list[Callable[..., None]]:
    """Every learning-rule check, for ``pytest.mark.parametrize``."""
    return [
        check_finite_updates,
        check_absent_synapses_unchanged,
        check_traces_bounded,
        check_zero_activity_no_hebbian_change,
        check_device_dtype_kept,
        check_reset_clears_traces,
        check_detached_changes_nothing,
        check_fresh_bind_fresh_state,
        check_deterministic,
        check_inputs_not_mutated,
    ]


def check_learning_rule(rule: Any, network: Network | None = None, *, teach: Teach | None = None) -> None:
    """Run every check (on :func:`small_network` when no network is given)."""
    net = network if network is not None else small_network()
    for check in learning_rule_checks():
        check(rule, net, teach=teach)
