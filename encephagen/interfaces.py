"""The protocols that each kind of component implements.

A component is an ``attrs`` class whose fields are its parameters (the study
file's keys next to ``kind:``) and which carries these class variables:

- ``name``: the ``kind:`` that selects it in a study file;
- ``summary``: one line for ``encephagen plugins`` (defaults to the first
  docstring line);
- ``default`` (optional): the role in which the registry picks it when a
  study names no component of its kind (:data:`DEFAULT_ROLES`).

Each kind's required methods are checked when a plugin registers its
classes (:func:`encephagen.contract.component_problem`); the optional
capabilities below are small protocols of their own, found with
``isinstance``, never by signature sniffing. ``encephagen.PLUGIN_API`` is
the version of this contract.

Units follow the reference model: time in ms, potentials in mV (rest 0,
threshold 20), ``dt`` = 0.1 ms, tensors float32. ``N`` is the number of
neurons simulated at once (all brains of a batch together), ``E`` the number
of synapses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Union, runtime_checkable

import attrs
import numpy as np

from encephagen.connectome import Connectome

if TYPE_CHECKING:  # the engine imports torch; keep this module light
    import torch

#: The one table of component kinds: kind (as named on the command line and in
#: errors) -> (how messages write it, the hook that registers it).
KIND_TABLE: dict[str, tuple[str, str]] = {
    "connectome": ("connectome source", "encephagen_register_connectomes"),
    "null_model": ("null model", "encephagen_register_null_models"),
    "neuron_model": ("neuron model", "encephagen_register_neuron_models"),
    "learning_rule": ("learning rule", "encephagen_register_learning_rules"),
    "task": ("task", "encephagen_register_tasks"),
    "executor": ("executor", "encephagen_register_executors"),
}
KINDS: tuple[str, ...] = tuple(KIND_TABLE)
#: How each kind is written in messages ("unknown null model 'x'").
KIND_WORDS: dict[str, str] = {kind: word for kind, (word, _) in KIND_TABLE.items()}
#: Registration hook -> the kind of component it returns.
HOOK_KINDS: dict[str, str] = {hook: kind for kind, (_, hook) in KIND_TABLE.items()}

#: Roles a component may fill by default (its class variable ``default``):
#: the neuron model of a study that names none, the executor that runs brains
#: in this process (a study of one brain, one core, or work that cannot be sent
#: to other processes) and the one that runs them in parallel on this machine.
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {"neuron_model": ("default",), "executor": ("in-process", "parallel")}


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
    Gap junctions count as anatomy (returned as they are) unless the model
    has a parameter ``gap_junctions`` set to ``"rewire"``
    (:func:`encephagen.invariants.rewires_gap_junctions`).
    """

    invariants: ClassVar[tuple[str, ...]]

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        """A surrogate of ``connectome`` drawn with ``rng``; never mutates the input.

        :returns: ``connectome.with_weights(new_weights, step)``, so labels,
            positions, tract lengths and groups are carried over.
        """
        ...


@runtime_checkable
class ChecksInvariants(Protocol):
    """Optional for a null model: its own check of some declared invariant (e.g. with a tolerance)."""

    def invariant_checks(self) -> Mapping[str, Callable[[Connectome, Connectome], str | None]]:
        """Invariant name -> ``check(original, surrogate)`` returning a message, or ``None`` when it holds."""
        ...


@runtime_checkable
class NeuronModel(Component, Protocol):
    """A point-neuron model; ``docs/engine.md`` gives the step order.

    ``dynamics(network)`` binds it to a network and returns an object that
    follows :class:`encephagen.engine.dynamics.Dynamics`: per-neuron constants
    and the pure tensor functions of one step, which the engine fuses.

    The constants a learning rule or the runner reads are declared fields:
    ``v_thr`` (threshold above rest, mV), ``tau_m`` (membrane time constant,
    ms) and ``t_ref`` (refractory period, ms).
    """

    v_thr: float
    tau_m: float
    t_ref: float

    def dynamics(self, network: Any) -> Any:
        """The model bound to ``network`` (an :class:`encephagen.engine.Network`)."""
        ...

    def pseudo_derivative(self, v: "torch.Tensor") -> "torch.Tensor":
        """``psi`` (dimensionless, ``(N,)``) of the spike function at membrane ``v`` (mV)."""
        ...


@runtime_checkable
class AdaptiveNeuron(Protocol):
    """Optional for a neuron model with an adaptive threshold ``A = v_thr + beta * a``
    (what the adaptive e-prop eligibility reads)."""

    beta: float  #: mV per unit of the adaptation trace
    tau_a: float  #: ms, the adaptation trace's time constant


@runtime_checkable
class NamesGroups(Protocol):
    """Optional for a neuron model whose parameters name region groups (e.g. where NMDA currents are)."""

    def required_groups(self) -> Mapping[str, tuple[str, ...]]:
        """Parameter name -> the region groups it names (checked against the connectome at validation)."""
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
class Flushes(Protocol):
    """Optional for a learner that buffers steps: fold them into its state now (before the weights are read)."""

    def flush(self) -> None:
        """Apply every buffered step."""
        ...


@runtime_checkable
class HasTraces(Protocol):
    """Optional for a learner: its state with the bounds it must stay in (the conformance kit checks them)."""

    def traces(self) -> Mapping[str, tuple["torch.Tensor", float, float]]:
        """Name -> ``(tensor, low, high)``."""
        ...


@runtime_checkable
class Windowed(Protocol):
    """Optional for a learner that counts activity in named windows (e.g. the CS and the US of a trial)."""

    def begin_window(self, name: str) -> None:
        """Start counting into window ``name``."""
        ...

    def end_window(self) -> None:
        """Stop counting."""
        ...


@runtime_checkable
class LearningRule(Component, Protocol):
    """Parameters of a learning rule; :meth:`bind` makes a stateful learner.

    ``network`` gives a learner these fields (see
    :class:`encephagen.engine.network.Network`): ``n_neurons``, ``n_synapses``,
    ``n_brains``, ``neurons_per_region``, ``dt`` (ms), ``device``, ``row_ptr``
    (int64 ``(N+1,)``, CSR by presynaptic neuron), ``post`` (int32 ``(E,)``),
    ``weight`` (float32 ``(E,)``, mV; the one field a learner writes, in
    place), ``excitatory`` (bool ``(N,)``), ``groups`` (name -> region
    indices), ``neuron`` (the :class:`NeuronModel`) and the methods
    ``region_of()``, ``brain_of()``, ``group_mask(name)``.
    """

    def bind(self, network: Any, generator: "torch.Generator | None" = None) -> Learner:
        """A learner for ``network``; ``generator`` (seeded from the replicate) is for any random draw it makes."""
        ...


@runtime_checkable
class ChecksBrain(Protocol):
    """Optional for a learning rule: refuse at validation, from the brain's parameters alone, a brain that
    every replicate would refuse (e.g. weight bounds that do not hold the weights)."""

    def check_brain(self, microcircuit: Any, connectome: Connectome) -> None:
        """Raise :class:`~encephagen.errors.ConfigError` (``ConfigError.at(field, message)``) when it cannot work."""
        ...


@attrs.define
class TaskContext:
    """What a task gets besides the brain.

    :ivar learning_rule: the study's rule, or ``None``; ``learning_rule.bind(brain.network)``
        makes a fresh learner (with its own seeded generator) for a learning phase.
    :ivar stimulus_rngs: one numpy generator per brain, for stimulus patterns.
    :ivar series: filled by tasks: ``{name: (B, T) array}`` (learning curves).
    """

    learning_rule: Any | None
    stimulus_rngs: list[np.random.Generator]
    series: dict[str, np.ndarray] = attrs.field(factory=dict)


#: What :meth:`Task.run` returns: metric name -> one value per brain of the
#: batch (a sequence or array of length ``B``); a plain number is accepted
#: when the batch holds one brain.
TaskResult = Mapping[str, Union[float, Sequence[float], np.ndarray]]


@runtime_checkable
class Task(Component, Protocol):
    """Drives a brain and returns named metrics.

    ``brain`` is the engine's brain (:class:`encephagen.engine.simulate.Brain`,
    watched for runaway activity): ``brain.network`` (the fields listed under
    :class:`LearningRule`), ``brain.run(steps, external=..., learner=...,
    record=...)`` returning a :class:`~encephagen.engine.simulate.Recording`,
    and ``brain.n_brains`` brains simulated together. ``required_groups`` lets
    a study fail at validation, before any simulation, when the connectome
    lacks a group the task needs.
    """

    def required_groups(self) -> tuple[str, ...]:
        """Names of the region groups this task reads or stimulates."""
        ...

    def run(self, brain: Any, context: TaskContext) -> TaskResult:
        """Run on ``brain`` (state carried over from earlier tasks) and return one value per brain per metric."""
        ...


@runtime_checkable
class CountsSteps(Protocol):
    """Optional for a task: how many steps it simulates, so ``validate`` can estimate a study's time."""

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, when the study has a
        learning ``rule`` or not (0.1 ms each at the default dt)."""
        ...


#: Which value of a metric is better: ``higher``, ``lower``, or ``none`` (a
#: difference is reported, nobody wins).
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "none")


def _direction(inst: Any, att: attrs.Attribute, value: Any) -> None:
    if value not in DIRECTIONS:
        raise ValueError(f"'{att.name}' must be one of {', '.join(DIRECTIONS)}, got {value!r}")


def _chance(inst: Any, att: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value)):
        raise ValueError(f"'{att.name}' must be a finite number or None, got {value!r}")


@attrs.frozen
class Metric:
    """What one metric (or series) of a task means: the report, the plots and ``docs/metrics.md`` show it.

    :ivar name: the key :meth:`Task.run` returns (or, for a series, the key in ``context.series``).
    :ivar unit: the unit of a value, e.g. ``"Hz"``, ``"spikes/neuron/step"``; ``"1"`` for a pure number.
    :ivar definition: one or two sentences: what is measured, over what.
    :ivar direction: ``"higher"`` or ``"lower"``: which value is better, so the report's winner is the
        better condition; ``"none"``: the report says that the conditions differ and names no winner.
    :ivar chance: the value expected by chance (e.g. accuracy ``1 / n_patterns``), or ``None``.
    :ivar x: for a series only: what one point is (e.g. ``"test, every 5 trials"``); ``None`` for a metric.
    :ivar change: the value is one brain's change (after minus before learning); the report tests within
        each condition whether it differs from 0 (did learning move it at all?).
    :ivar diagnostic: the value describes the run, not the brain's performance (e.g. whether the network was
        steady): kept per replicate in ``results.csv`` and checked by the report, never compared between
        conditions. A diagnostic with unit ``"flag"`` is 1 when all was well; the report lists every replicate
        where it is 0.
    """

    name: str
    unit: str
    definition: str
    direction: str = attrs.field(default="none", validator=_direction)
    chance: float | None = attrs.field(default=None, validator=_chance)
    x: str | None = None
    change: bool = False
    diagnostic: bool = False

    @property
    def is_series(self) -> bool:
        """Whether this describes a series (``context.series``) rather than a metric."""
        return self.x is not None

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values (what the store keeps)."""
        return attrs.asdict(self)


def undeclared(name: str) -> Metric:
    """The description of a metric its task does not declare (direction ``none``)."""
    return Metric(name, unit="", definition="not described by its task", direction="none")


@runtime_checkable
class DescribesMetrics(Protocol):
    """Optional for a task (every built-in has it): what each metric and series it returns means.

    A metric without a description is reported with direction ``none``
    ("differs", no winner) and no unit.
    """

    def metrics(self) -> tuple[Metric, ...]:
        """One :class:`Metric` per metric (and per series) that :meth:`Task.run` returns with these parameters."""
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
