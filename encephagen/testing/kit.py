"""The conformance kit for every kind, and ``parametrize_with_checks`` for pytest.

Modelled on scikit-learn's ``parametrize_with_checks``::

    from encephagen.testing import parametrize_with_checks
    from my_package import MyTask, MyNull

    @parametrize_with_checks([MyTask(), MyNull()], expected_failures={"check_x": "why"})
    def test_conformance(component, check):
        check(component)

Each check takes one component instance and raises ``AssertionError`` with a
clear message when the component breaks its kind's contract. The checks run
on tiny inputs (:func:`tiny_connectome`, :func:`tiny_brain`: 120 neurons),
so a task's cost is the steps its parameters ask for: give the kit tasks
with short phases (a few hundred steps), not the published protocol.
``expected_failures`` maps a check's name to the reason it is expected to
fail; such a check is marked ``xfail(strict=True)``, so it must keep failing
(a fixed component then says so).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import numpy as np
import torch

from encephagen.connectome import Connectome, centre_distances
from encephagen.contract import component_problem, per_brain
from encephagen.interfaces import KINDS, CountsSteps, DescribesMetrics, Metric, TaskContext

Check = Callable[[Any], None]


# -- tiny inputs ------------------------------------------------------------------------------


def task_groups() -> tuple[str, ...]:
    """Every region group a registered task needs with its default parameters, in registry order."""
    from encephagen.plugins import default_registry

    names: dict[str, None] = {}
    for entry in default_registry().entries("task"):
        try:
            needed = entry.cls().required_groups()
        except Exception:  # a task without defaults names its groups in the study; nothing to add here
            continue
        names.update(dict.fromkeys(needed))
    return tuple(names)


def tiny_connectome(n_regions: int = 12, seed: int = 0, groups: Iterable[str] | None = None) -> Connectome:
    """A directed random graph with positions and tract lengths (mm), for tests.

    :param groups: region group names; group ``k`` is region ``k % n_regions``.
        Default: :func:`task_groups`, so that every registered task runs on it.
    """
    names = task_groups() if groups is None else tuple(groups)
    rng = np.random.default_rng(seed)
    w = (rng.random((n_regions, n_regions)) < 0.4) * rng.integers(1, 4, size=(n_regions, n_regions)).astype(float)
    np.fill_diagonal(w, 0.0)
    pos = rng.uniform(-40.0, 40.0, size=(n_regions, 3))
    return Connectome(
        weights=w,
        labels=[f"R{i}" for i in range(n_regions)],
        positions=pos,
        tract_lengths=centre_distances(pos),
        groups={g: (k % n_regions,) for k, g in enumerate(names)},
        name=f"tiny:n{n_regions}-s{seed}",
        orientation="rows=sources (generated)",
        provenance="encephagen.testing.tiny_connectome: a random test graph, not brain data",
    )


def default_neuron() -> Any:
    """The registry's default neuron model, with its default parameters."""
    from encephagen.plugins import default_registry

    return default_registry().default("neuron_model").cls()


def tiny_brain(neuron: Any = None, n_brains: int = 2, neurons_per_region: int = 10, seed: int = 0) -> Any:
    """``n_brains`` brains of :func:`tiny_connectome` simulated together (an :class:`encephagen.engine.simulate.Brain`)."""
    from encephagen.engine import Microcircuit, build_batch
    from encephagen.engine.simulate import Brain

    neuron = default_neuron() if neuron is None else neuron
    conn = tiny_connectome()
    rngs = [np.random.default_rng(seed + b) for b in range(n_brains)]
    net = build_batch([conn] * n_brains, Microcircuit(neurons_per_region=neurons_per_region), rngs, neuron, device="cpu")
    return Brain(net, [np.random.default_rng(seed + 100 + b) for b in range(n_brains)])


def _rows(task: Any, out: Any, n_brains: int) -> list[dict[str, float]]:
    try:
        return per_brain(task.name, out, n_brains)
    except ValueError as exc:
        raise AssertionError(str(exc)) from None


def _context(n_brains: int, rule: Any = None, seed: int = 0) -> TaskContext:
    return TaskContext(learning_rule=rule, stimulus_rngs=[np.random.default_rng(seed + b) for b in range(n_brains)])


# -- every kind -------------------------------------------------------------------------------


def check_registers(component: Any) -> None:
    """The class passes the checks made when a plugin registers it (methods, signatures, attributes)."""
    kind = kind_of(component)
    problem = component_problem(kind, type(component))
    assert not problem, f"{type(component).__qualname__} {problem}"


def check_parameters_round_trip(component: Any) -> None:
    """Rebuilt from its own fields (as a study file would), the component is equal to itself."""
    fields = {a.name: getattr(component, a.name) for a in attrs.fields(type(component)) if a.init}
    again = type(component)(**fields)
    assert again == component, f"{type(component).__qualname__}(**its fields) differs from itself: {again!r}"


def kind_of(component: Any) -> str:
    """The kind whose required methods the component has (the first that fits, in :data:`KINDS` order)."""
    cls = type(component)
    for kind in KINDS:
        if not component_problem(kind, cls):
            return kind
    raise AssertionError(
        f"{cls.__qualname__} fits no component kind: " + "; ".join(f"{k}: {component_problem(k, cls)}" for k in KINDS)
    )


# -- tasks ------------------------------------------------------------------------------------


class _CountingBrain:
    """A brain that counts the steps run with and without a learner attached."""

    def __init__(self, brain: Any) -> None:
        self.brain, self.network = brain, brain.network
        self.plain = self.learning = 0

    def run(self, steps: int, external: Any = None, learner: Any = None, record: Any = None) -> Any:
        if learner is None:
            self.plain += steps
        else:
            self.learning += steps
        return self.brain.run(steps, external=external, learner=learner, record=record)


def _groups_available(task: Any) -> bool:
    return all(g in tiny_connectome().groups for g in task.required_groups())


def check_task_required_groups(task: Any) -> None:
    """``required_groups()`` is a tuple of group names."""
    groups = task.required_groups()
    assert isinstance(groups, tuple) and all(isinstance(g, str) and g for g in groups), (
        f"required_groups() must return a tuple of region group names, got {groups!r}"
    )


def check_task_one_value_per_brain(task: Any) -> None:
    """On a batch of two brains, ``run`` returns every metric as one finite-or-NaN value per brain."""
    if not _groups_available(task):
        return
    out = task.run(tiny_brain(n_brains=2), _context(2))
    rows = _rows(task, out, 2)
    assert rows[0], f"task {task.name!r} returned no metric"
    for b, row in enumerate(rows):
        bad = {k: v for k, v in row.items() if math.isinf(v)}
        assert not bad, f"task {task.name!r}: infinite metrics for brain {b}: {bad}"


def check_task_deterministic(task: Any) -> None:
    """The same brains and stimulus seeds give the same metrics."""
    if not _groups_available(task):
        return
    a = _rows(task, task.run(tiny_brain(seed=3), _context(2, seed=3)), 2)
    b = _rows(task, task.run(tiny_brain(seed=3), _context(2, seed=3)), 2)
    assert a == b or all(np.allclose(list(x.values()), list(y.values()), equal_nan=True) for x, y in zip(a, b)), (
        f"task {task.name!r}: the same seeds gave {a} and {b}"
    )


def check_task_brains_are_independent(task: Any) -> None:
    """A brain's metrics do not depend on the other brains of its batch (brain 0 alone equals brain 0 of two)."""
    if not _groups_available(task):
        return
    together = _rows(task, task.run(tiny_brain(n_brains=2, seed=5), _context(2, seed=5)), 2)[0]
    alone = _rows(task, task.run(tiny_brain(n_brains=1, seed=5), _context(1, seed=5)), 1)[0]
    assert together.keys() == alone.keys() and np.allclose(
        list(together.values()), list(alone.values()), rtol=1e-6, atol=1e-9, equal_nan=True
    ), f"task {task.name!r}: brain 0 gave {together} in a batch of two and {alone} alone"


def check_task_counts_its_steps(task: Any) -> None:
    """A task that declares ``step_counts`` (``CountsSteps``) simulates exactly those steps."""
    if not isinstance(task, CountsSteps) or not _groups_available(task):
        return
    brain = _CountingBrain(tiny_brain(n_brains=1))
    task.run(brain, _context(1))
    assert task.step_counts(False) == (brain.plain, brain.learning), (
        f"task {task.name!r}: step_counts(False) = {task.step_counts(False)}, ran {(brain.plain, brain.learning)}"
    )


def check_task_describes_its_metrics(task: Any) -> None:
    """The task describes (``DescribesMetrics``) exactly the metrics and series it returns, each validly."""
    assert isinstance(task, DescribesMetrics), (
        f"task {task.name!r} has no metrics() describing its metrics (unit, definition, direction, chance): "
        "without it the report names no winner and shows no unit; see encephagen.interfaces.Metric"
    )
    described = task.metrics()
    assert isinstance(described, tuple) and all(isinstance(m, Metric) for m in described), (
        f"task {task.name!r}: metrics() must return a tuple of encephagen.interfaces.Metric, got {described!r}"
    )
    names = [m.name for m in described]
    assert len(set(names)) == len(names), f"task {task.name!r}: metrics() describes a name twice: {names}"
    if not _groups_available(task):
        return
    ctx = _context(1)
    returned = set(task.run(tiny_brain(n_brains=1), ctx))
    metrics = {m.name for m in described if not m.is_series}
    series = {m.name for m in described if m.is_series}
    assert returned == metrics, f"task {task.name!r}: run() returned {sorted(returned)}, metrics() describes {sorted(metrics)}"
    assert set(ctx.series) == series, f"task {task.name!r}: run() filled the series {sorted(ctx.series)}, metrics() describes {sorted(series)}"


# -- neuron models ----------------------------------------------------------------------------


def check_neuron_dynamics_shape(neuron: Any) -> None:
    """``dynamics(network)`` gives state and constants of shape ``(N,)``, a hashable key and a finite background."""
    brain = tiny_brain(neuron, n_brains=1)
    dyn = neuron.dynamics(brain.network)
    n = brain.network.n_neurons
    assert dyn.state_names and dyn.state_names[0] == "v", f"state_names must start with 'v', got {dyn.state_names}"
    hash(dyn.key)
    assert math.isfinite(dyn.bg_rate) and dyn.bg_rate >= 0, f"bg_rate must be a finite rate >= 0, got {dyn.bg_rate}"
    assert math.isfinite(dyn.bg_weight), f"bg_weight must be finite, got {dyn.bg_weight}"
    state = dyn.init_state(torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    assert set(state) == set(dyn.state_names), f"init_state gave {sorted(state)}, state_names are {dyn.state_names}"
    for k, t in {**state, **dyn.const}.items():
        assert tuple(t.shape) == (n,) and t.dtype == torch.float32, f"{k} must be float32 of shape ({n},), got {t.dtype} {tuple(t.shape)}"


def check_neuron_step_is_pure(neuron: Any) -> None:
    """``advance`` and ``receive`` leave their inputs alone and return spikes as float 0/1."""
    brain = tiny_brain(neuron, n_brains=1)
    dyn = neuron.dynamics(brain.network)
    n = brain.network.n_neurons
    gen = torch.Generator().manual_seed(1)
    state = dyn.init_state(torch.rand(n, dtype=torch.float64, generator=gen))
    before = {k: t.clone() for k, t in state.items()}
    bg = torch.full((n,), float(dyn.bg_weight) * 30.0)  # a strong drive: some neurons spike
    v, spikes, new = dyn.advance(state, dyn.const, bg, None)
    assert all(torch.equal(state[k], before[k]) for k in state), "advance() changed its input state; return new tensors"
    assert tuple(v.shape) == (n,) and tuple(spikes.shape) == (n,), "advance() returns v and spikes of shape (N,)"
    assert bool(((spikes == 0) | (spikes == 1)).all()), "advance() returns spikes as float 0/1"
    frozen = {k: t.clone() for k, t in new.items()}
    dyn.receive(new, dyn.const, torch.ones(n))
    assert all(torch.equal(new[k], frozen[k]) for k in new), "receive() changed its input state; return new tensors"


def check_neuron_runs_finite(neuron: Any) -> None:
    """A tiny network of this neuron runs 500 steps with a finite state and spikes, below saturation."""
    brain = tiny_brain(neuron, n_brains=1)
    rec = brain.run(500, check=False)
    assert rec.health.ok, f"the state became unhealthy: {rec.health}"
    rate = float(rec.region_rates().mean()) / (float(brain.network.dt) / 1000.0)
    t_ref = float(neuron.t_ref)
    assert 0.0 < rate and (t_ref <= 0 or rate < 0.9 * 1000.0 / t_ref), f"mean rate {rate:.1f} Hz: silent or saturated"


# -- executors --------------------------------------------------------------------------------


def check_executor_maps_every_item_once(executor: Any) -> None:
    """``map(fn, items)`` yields every item once with ``fn(item)``; no items yield nothing."""
    items = list(range(-3, 4))
    got = list(executor.map(operator.neg, items))
    assert sorted(i for i, _ in got) == items, f"map yielded items {[i for i, _ in got]}, expected each of {items} once"
    assert all(r == -i for i, r in got), f"map yielded wrong results: {got}"
    assert list(executor.map(operator.neg, [])) == [], "map of no items must yield nothing"


def _reciprocal(x: float) -> float:
    return 1.0 / x


def check_executor_isolates_failures(executor: Any) -> None:
    """An item whose ``fn`` raises is yielded with the exception; the other items still come back."""
    got = dict(executor.map(_reciprocal, [1.0, 0.0, 4.0]))
    assert set(got) == {1.0, 0.0, 4.0}, f"map lost items: {sorted(got)}"
    assert isinstance(got[0.0], ZeroDivisionError), f"the failing item came back as {got[0.0]!r}, not its exception"
    assert got[1.0] == 1.0 and got[4.0] == 0.25


# -- the generator ----------------------------------------------------------------------------


def checks_for_kind(kind: str) -> list[Check]:
    """Every check of one kind (the common ones first)."""
    from encephagen.testing.checks import (
        check_connectome_source,
        check_null_model_invariants,
        check_null_model_keeps_anatomy,
        check_null_model_pure,
        check_null_model_seeded,
    )
    from encephagen.testing.learning import learning_rule_checks, small_network

    common: list[Check] = [check_registers, check_parameters_round_trip]
    specific: dict[str, list[Check]] = {
        "connectome": [check_connectome_source],
        "null_model": [check_null_model_seeded, check_null_model_pure, check_null_model_keeps_anatomy, check_null_model_invariants],
        "neuron_model": [check_neuron_dynamics_shape, check_neuron_step_is_pure, check_neuron_runs_finite],
        "learning_rule": [_on_small_network(c, small_network) for c in learning_rule_checks()],
        "task": [check_task_required_groups, check_task_one_value_per_brain, check_task_deterministic,
                 check_task_brains_are_independent, check_task_counts_its_steps, check_task_describes_its_metrics],
        "executor": [check_executor_maps_every_item_once, check_executor_isolates_failures],
    }
    return common + specific[kind]


def _on_small_network(check: Callable[..., None], small_network: Callable[..., Any]) -> Check:
    def run(rule: Any) -> None:
        check(rule, small_network(0, n_brains=2))

    run.__name__ = check.__name__
    run.__doc__ = check.__doc__
    return run


def all_checks(component: Any) -> list[Check]:
    """Every check that applies to ``component`` (its kind found from its methods)."""
    return checks_for_kind(kind_of(component))


def parametrize_with_checks(components: Iterable[Any], expected_failures: Mapping[str, str] | None = None) -> Any:
    """A ``pytest.mark.parametrize("component,check", ...)`` over every check of every component.

    Test ids read ``<name>-<check>``, e.g. ``geometric-check_null_model_pure``.
    :param expected_failures: check name (or ``"<name>-<check>"``) -> the
        reason; those checks are ``xfail(strict=True)``.
    """
    import pytest

    expected = dict(expected_failures or {})
    params = []
    for component in components:
        for check in all_checks(component):
            cid = f"{component.name}-{check.__name__}"
            reason = expected.get(cid) or expected.get(check.__name__)
            marks = [pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError)] if reason else []
            params.append(pytest.param(component, check, id=cid, marks=marks))
    return pytest.mark.parametrize("component,check", params)
