"""The protocols that each kind of component implements.

A component is an ``attrs`` class whose fields are its parameters (the study
file's keys next to ``kind:``) and which carries two class variables:

- ``name``: the ``kind:`` that selects it in a study file;
- ``summary``: one line for ``encephagen plugins`` (defaults to the first
  docstring line).

Units follow the reference model: time in ms, potentials in mV (rest 0,
threshold 20), ``dt`` = 0.1 ms, tensors float32. ``N`` is the number of
neurons simulated at once (all brains of a batch together), ``E`` the number
of synapses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from encephagen.connectome import Connectome

if TYPE_CHECKING:  # the engine imports torch; keep this module light
    import torch

#: The component kinds, as named on the command line and in errors.
KINDS: tuple[str, ...] = ("connectome", "null_model", "neuron_model", "learning_rule", "task", "executor")


@runtime_checkable
class Component(Protocol):
    """What every component class carries."""

    name: ClassVar[str]


@runtime_checkable
class ConnectomeSource(Component, Protocol):
    """Produces a :class:`~encephagen.connectome.Connectome` (rows = sources)."""

    def load(self) -> Connectome:
        """Read the data set; raise :class:`~encephagen.errors.DataError` on bad data."""
        ...


@runtime_checkable
class NullModel(Component, Protocol):
    """Randomises the wiring of a connectome and keeps everything else.

    ``invariants`` names the properties it preserves, each a key of
    :data:`encephagen.invariants.INVARIANTS`; the conformance kit checks them.
    """

    invariants: ClassVar[tuple[str, ...]]

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A surrogate of ``connectome`` drawn with ``rng``; never mutates the input.

        :returns: ``connectome.with_weights(new_weights, step)``, so labels,
            positions, tract lengths and groups are carried over.
        """
        ...


@runtime_checkable
class NeuronModel(Component, Protocol):
    """A point-neuron model; ``docs/engine.md`` gives the step order.

    ``dynamics(network)`` binds it to a network and returns an object that
    follows :class:`encephagen.engine.dynamics.Dynamics`: per-neuron constants
    and the pure tensor functions of one step, which the engine fuses.
    """

    def dynamics(self, network: Any) -> Any:
        """The model bound to ``network`` (an :class:`encephagen.engine.Network`)."""
        ...

    def pseudo_derivative(self, v: "torch.Tensor") -> "torch.Tensor":
        """``psi`` (dimensionless, ``(N,)``) of the spike function at membrane ``v`` (mV)."""
        ...


@runtime_checkable
class Learner(Protocol):
    """A learning rule bound to one network; holds the per-synapse state.

    The engine calls :meth:`on_step` every step while the learner is attached;
    tasks call :meth:`snapshot`, :meth:`reward` and :meth:`reset` at events.
    """

    def on_step(self, v: "torch.Tensor", z: "torch.Tensor") -> None:
        """Update traces from membrane ``v`` (mV, ``(N,)``, before reset) and spikes ``z`` (``(N,)``, 0/1)."""
        ...

    def snapshot(self) -> None:
        """Copy the current eligibility for a later reward."""
        ...

    def reward(self, r: float) -> None:
        """Apply a scalar reward to the weights (global or per region group)."""
        ...

    def reset(self) -> None:
        """Zero every trace (between trials or replicates); weights are kept."""
        ...


@runtime_checkable
class LearningRule(Component, Protocol):
    """Parameters of a learning rule; :meth:`bind` makes a stateful learner."""

    def bind(self, network: Any) -> Learner:
        """A learner for ``network`` (an :class:`encephagen.engine.Network`)."""
        ...


@runtime_checkable
class Task(Component, Protocol):
    """Drives a brain and returns named metrics.

    ``required_groups`` lets a study fail at validation, before any simulation,
    when the connectome lacks a group the task needs.
    """

    def required_groups(self) -> tuple[str, ...]:
        """Names of the region groups this task reads or stimulates."""
        ...

    def run(self, brain: Any, context: Any) -> Mapping[str, float]:
        """Run on ``brain`` (state carried over from earlier tasks) and return metrics."""
        ...


@runtime_checkable
class CountsSteps(Protocol):
    """Optional for a task: how many steps it simulates, so ``validate`` can estimate a study's time."""

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, when the study has a
        learning ``rule`` or not (0.1 ms each at the default dt)."""
        ...


@runtime_checkable
class Executor(Component, Protocol):
    """Runs replicates, serially, in local processes, or on a cluster."""

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        """Apply ``fn`` to every item; yield ``(item, result_or_exception)`` as each finishes.

        ``fn`` and the items are picklable; an exception raised by ``fn`` is
        yielded, not raised, so one failed replicate never stops the study.
        """
        ...
