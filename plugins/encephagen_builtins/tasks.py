"""Built-in tasks: the published protocol (spec sections 6 and 8) and the log's next steps.

Every task drives all brains of a batch at once: inputs are ``(N,)`` tensors
built from boolean masks, activity comes back as per-region spike counts
``(B, R)`` accumulated on the device, and each metric is a ``(B,)`` array,
one value per brain.

Rates inside metrics are in the published unit, **spikes per neuron per
step** (multiply by ``1e4`` for Hz at ``dt = 0.1`` ms), so that our numbers
can be put beside the published table.

Learning events. While a learner is attached, the engine calls
``learner.on_step`` every step. Tasks call, in this order within a trial:
``begin_window("cs")`` / ``end_window()`` around the conditioned stimulus
(used by the Hebbian rule; other rules may lack them), ``snapshot()`` at
its offset, ``begin_window("us")`` / ``end_window()`` around the
unconditioned stimulus, and ``reward(r)`` at its offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen_builtins import metrics as M
from encephagen.connectome import REFERENCE_GROUPS
from encephagen.interfaces import TaskContext

#: A group and how many of its first regions to use (0 = all of them).
GroupSpec = Mapping[str, int]


def _positive(inst: Any, att: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or value < 1:
        raise ValueError(f"'{att.name}' must be a positive integer, got {value!r}")


def _two_or_more(inst: Any, att: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or value < 2:
        raise ValueError(f"'{att.name}' must be at least 2 (the metrics compare patterns), got {value!r}")


def _non_negative(inst: Any, att: attrs.Attribute, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"'{att.name}' must be finite and >= 0, got {value!r}")


def _fraction(inst: Any, att: attrs.Attribute, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"'{att.name}' must be in (0, 1], got {value!r}")


def _group_spec(value: Any) -> dict[str, int]:
    if isinstance(value, str):
        return {value: 0}
    return {str(k): int(v) for k, v in dict(value).items()}


def _group_spec_valid(inst: Any, att: attrs.Attribute, value: Mapping[str, int]) -> None:
    if not value or any(n < 0 for n in value.values()):
        raise ValueError(f"'{att.name}' must map group names to a count of first regions (0 = all), got {value!r}")


def _spec_field(default: Mapping[str, int]) -> Any:
    return attrs.field(factory=lambda: dict(default), converter=_group_spec, validator=_group_spec_valid)


# -- running the brain --------------------------------------------------------------


def regions_of(brain: Any, spec: Mapping[str, int]) -> list[int]:
    """Region indices selected by ``{group: first n regions (0 = all)}``, in order, without repeats."""
    groups = brain.network.groups
    out: list[int] = []
    for g, n in spec.items():
        idx = list(groups[g])
        out.extend(idx[:n] if n else idx)
    return list(dict.fromkeys(out))


def region_mask(brain: Any, regions: list[int]) -> torch.Tensor:
    """bool ``(N,)``: every neuron of these regions, in every brain."""
    net = brain.network
    return torch.isin(net.region_of(), torch.tensor(regions, dtype=torch.long, device=net.device))


def pattern_mask(brain: Any, regions: list[int], positions: np.ndarray) -> torch.Tensor:
    """bool ``(N,)``: neurons at ``positions[b]`` (within their region) of these regions, per brain.

    :param positions: bool ``(B, npr)``: which neuron positions of a region
        belong to each brain's pattern (the same positions in every region).
    """
    net = brain.network
    pos = torch.as_tensor(positions, dtype=torch.bool, device=net.device)  # (B, npr)
    in_regions = torch.zeros(net.regions_per_brain, dtype=torch.bool, device=net.device)
    in_regions[regions] = True
    return (in_regions[None, :, None] & pos[:, None, :]).reshape(-1)


def draw_patterns(rngs: list[np.random.Generator], n_patterns: int, npr: int, fraction: float, seed: int | None) -> np.ndarray:
    """bool ``(n_patterns, B, npr)``: each pattern is ``round(fraction * npr)`` positions.

    Drawn in turn from each brain's generator, or from one
    ``default_rng(seed)`` shared by all brains when ``seed`` is given (the
    published code used seed 42).
    """
    k = max(1, int(round(fraction * npr)))
    out = np.zeros((n_patterns, len(rngs), npr), dtype=bool)
    for b, rng in enumerate(rngs):
        gen = np.random.default_rng(seed) if seed is not None else rng
        for p in range(n_patterns):
            out[p, b, gen.choice(npr, k, replace=False)] = True
    return out


def drive(mask: torch.Tensor, amplitude: float) -> torch.Tensor:
    """float32 ``(N,)`` external input: ``amplitude`` mV per step on ``mask``."""
    return mask.to(torch.float32) * float(amplitude)


def run(brain: Any, steps: int, external: torch.Tensor | None = None, learner: Any = None) -> torch.Tensor:
    """Simulate ``steps`` and return per-region spike counts ``(B, R)`` (float, on the device)."""
    if steps <= 0:
        net = brain.network
        return torch.zeros(net.n_brains, net.regions_per_brain, dtype=torch.float64, device=net.device)
    return brain.run(steps, external=external, learner=learner).region_counts.sum(0).to(torch.float64)


def per_neuron_step(counts: torch.Tensor, brain: Any, regions: list[int], steps: int) -> np.ndarray:
    """Mean rate of these regions, spikes per neuron per step, ``(B,)``."""
    npr = brain.network.neurons_per_region
    total = counts[:, regions].sum(dim=1)
    return (total / (len(regions) * npr * steps)).cpu().numpy().astype(np.float64)


def _event(learner: Any, name: str, *args: Any) -> None:
    fn = getattr(learner, name, None)
    if fn is not None:
        fn(*args)


def pairing_trial(brain: Any, learner: Any, cs: torch.Tensor, us: torch.Tensor, task: Any) -> None:
    """One CS-US pairing with the learner attached: CS, ``snapshot()``, US, ``reward``, gap.

    ``task`` supplies ``cs_steps``, ``us_steps``, ``gap_steps`` and ``reward``.
    """
    _event(learner, "begin_window", "cs")
    run(brain, task.cs_steps, cs, learner)
    _event(learner, "end_window")
    if learner is not None:
        learner.snapshot()
    _event(learner, "begin_window", "us")
    run(brain, task.us_steps, us, learner)
    _event(learner, "end_window")
    if learner is not None:
        learner.reward(task.reward)
    run(brain, task.gap_steps, None, learner)


def evoked_response(brain: Any, regions: list[int], baseline_steps: int, present: Any) -> np.ndarray:
    """Rate of ``regions`` while ``present()`` runs, minus their rate over ``baseline_steps`` before it, ``(B,)``.

    :param present: runs the stimulus (learning detached) and returns ``(counts, steps)``.
    """
    base = per_neuron_step(run(brain, baseline_steps), brain, regions, baseline_steps)
    counts, steps = present()
    return per_neuron_step(counts, brain, regions, steps) - base


def _counts(plain: int, learning: int, attached: bool) -> tuple[int, int]:
    """``(plain, learning)`` steps of a task whose learning phases run, learning detached, when no learner is attached."""
    return (plain, learning) if attached else (plain + learning, 0)


def _fresh_learner(brain: Any, ctx: TaskContext, learn: bool) -> Any:
    if not learn or ctx.learning_rule is None:
        return None
    return ctx.learning_rule.bind(brain.network)


# -- tasks ------------------------------------------------------------------------


@attrs.frozen
class Warmup:
    """Let the network settle with background input only; reports its firing rate.

    :ivar steps: simulation steps (0.1 ms each).
    """

    name: ClassVar[str] = "warmup"
    steps: int = attrs.field(default=3000, validator=_positive)

    def required_groups(self) -> tuple[str, ...]:
        return ()

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return _counts(self.steps, 0, rule)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        counts = run(brain, self.steps)
        all_regions = list(range(brain.network.regions_per_brain))
        rate = per_neuron_step(counts, brain, all_regions, self.steps)
        return {"rate_hz": rate * 1000.0 / brain.network.dt}


@attrs.frozen
class Differentiation:
    """Regional differentiation: coefficient of variation of group rates without input (metric ``cv``).

    :ivar steps: simulation steps.
    :ivar groups: the region groups whose rates are compared.
    """

    name: ClassVar[str] = "differentiation"
    steps: int = attrs.field(default=2000, validator=_positive)
    groups: tuple[str, ...] = attrs.field(default=tuple(REFERENCE_GROUPS), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if len(self.groups) < 2:
            raise ValueError(f"'groups' needs at least two region groups to compare their rates, got {list(self.groups)}")

    def required_groups(self) -> tuple[str, ...]:
        return self.groups

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return _counts(self.steps, 0, rule)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        counts = run(brain, self.steps)
        rates = np.stack([per_neuron_step(counts, brain, list(brain.network.groups[g]), self.steps) for g in self.groups], axis=1)
        return {"cv": np.array([M.coefficient_of_variation(r) for r in rates])}


@attrs.frozen
class Conditioning:
    """Classical conditioning: a visual CS paired with an amygdala US, learning attached.

    Every ``test_every`` trials, with learning detached, the response of the
    response regions to the CS alone is measured (CS rate minus baseline rate,
    spikes per neuron per step). Metrics: ``cond_slope`` (regression slope of
    the responses over tests), ``cond_final`` (the last response), and the
    series ``learning_curve``.

    :ivar trials: CS-US pairings.
    :ivar cs_steps: CS duration in steps.
    :ivar us_steps: US duration.
    :ivar gap_steps: pause after each trial.
    :ivar cs_amplitude: mV per step on the CS pattern neurons.
    :ivar us_amplitude: mV per step on every US neuron.
    :ivar cs_regions: group -> first n regions that receive the CS (0 = all).
    :ivar us_regions: group -> first n regions that receive the US.
    :ivar response_regions: group -> first n regions whose response is measured.
    :ivar test_every: trials between tests.
    :ivar test_baseline_steps: baseline before the test CS.
    :ivar pattern_fraction: share of each region's neuron positions in the CS pattern.
    :ivar pattern_seed: fixed pattern seed for all brains (published: 42), or
        ``null`` to draw from each replicate's seed.
    :ivar reward: reward delivered at US offset.
    :ivar learn: attach the study's learning rule (false: the same protocol without learning).
    """

    name: ClassVar[str] = "conditioning"
    trials: int = attrs.field(default=30, validator=_positive)
    cs_steps: int = attrs.field(default=500, validator=_positive)
    us_steps: int = attrs.field(default=500, validator=_positive)
    gap_steps: int = attrs.field(default=300, validator=_non_negative)
    cs_amplitude: float = attrs.field(default=12.0, validator=_non_negative)
    us_amplitude: float = attrs.field(default=20.0, validator=_non_negative)
    cs_regions: dict[str, int] = _spec_field({"visual": 4})
    us_regions: dict[str, int] = _spec_field({"amygdala": 0})
    response_regions: dict[str, int] = _spec_field({"amygdala": 0, "prefrontal": 4})
    test_every: int = attrs.field(default=5, validator=_positive)
    test_baseline_steps: int = attrs.field(default=300, validator=_positive)
    pattern_fraction: float = attrs.field(default=0.3, validator=_fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True

    def __attrs_post_init__(self) -> None:
        if self.trials < self.test_every:
            raise ValueError(
                f"'trials' must be at least test_every ({self.test_every}), or the CS response is never measured; got {self.trials}"
            )

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.cs_regions, *self.us_regions, *self.response_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        tests = self.trials // self.test_every
        return _counts(tests * (self.test_baseline_steps + self.cs_steps), self.trials * (self.cs_steps + self.us_steps + self.gap_steps), rule and self.learn)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        pattern = draw_patterns(ctx.stimulus_rngs, 1, net.neurons_per_region, self.pattern_fraction, self.pattern_seed)[0]
        cs = drive(pattern_mask(brain, regions_of(brain, self.cs_regions), pattern), self.cs_amplitude)
        us = drive(region_mask(brain, regions_of(brain, self.us_regions)), self.us_amplitude)
        response = regions_of(brain, self.response_regions)
        learner = _fresh_learner(brain, ctx, self.learn)
        curve = []
        for trial in range(1, self.trials + 1):
            pairing_trial(brain, learner, cs, us, self)
            if trial % self.test_every == 0:
                curve.append(evoked_response(brain, response, self.test_baseline_steps, lambda: (run(brain, self.cs_steps, cs), self.cs_steps)))
        if not curve:
            raise ValueError("conditioning: trials < test_every, so the CS response is never measured")
        curve_arr = np.stack(curve, axis=1)  # (B, tests)
        ctx.series["learning_curve"] = curve_arr
        slope = np.array([M.linear_slope(c) if len(c) > 1 else 0.0 for c in curve_arr])
        return {"cond_slope": slope, "cond_final": curve_arr[:, -1]}


@attrs.frozen
class Discrimination:
    """Pattern discrimination after reward-modulated exposure (metrics ``accuracy``, ``linear_accuracy``).

    Learning phase: ``epochs`` x ``n_patterns`` presentations on all stimulus
    regions, each followed by ``snapshot()`` and ``reward``. Test phase,
    learning detached: ``test_rounds`` x ``n_patterns`` presentations; each
    gives a vector of spike counts per readout region. ``accuracy`` is the
    leave-one-out nearest-centroid accuracy (cosine), ``linear_accuracy`` that
    of a leave-one-out ridge readout.

    :ivar n_patterns: patterns (classes).
    :ivar epochs: learning passes.
    :ivar stim_steps: presentation length.
    :ivar gap_steps: pause before each test and after each learning presentation.
    :ivar amplitude: mV per step on pattern neurons.
    :ivar stim_regions: group -> first n regions receiving the patterns (0 = all).
    :ivar readout_regions: group -> first n regions read out.
    :ivar test_rounds: presentations of each pattern at test.
    :ivar pattern_fraction: share of positions per pattern.
    :ivar pattern_seed: as in ``conditioning``.
    :ivar reward: reward after each learning presentation.
    :ivar learn: attach the learning rule.
    """

    name: ClassVar[str] = "discrimination"
    n_patterns: int = attrs.field(default=5, validator=_two_or_more)
    epochs: int = attrs.field(default=3, validator=_non_negative)
    stim_steps: int = attrs.field(default=500, validator=_positive)
    gap_steps: int = attrs.field(default=200, validator=_non_negative)
    amplitude: float = attrs.field(default=12.0, validator=_non_negative)
    stim_regions: dict[str, int] = _spec_field({"visual": 0})
    readout_regions: dict[str, int] = _spec_field({"prefrontal": 8, "hippocampus": 0})
    test_rounds: int = attrs.field(default=5, validator=_positive)
    pattern_fraction: float = attrs.field(default=0.3, validator=_fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.stim_regions, *self.readout_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        learning = self.epochs * self.n_patterns * (self.stim_steps + self.gap_steps) * (self.learn and rule)
        return self.test_rounds * self.n_patterns * (self.gap_steps + self.stim_steps), learning  # no learner: no learning phase

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        pats = draw_patterns(ctx.stimulus_rngs, self.n_patterns, net.neurons_per_region, self.pattern_fraction, self.pattern_seed)
        stim_regions = regions_of(brain, self.stim_regions)
        inputs = [drive(pattern_mask(brain, stim_regions, p), self.amplitude) for p in pats]
        readout = regions_of(brain, self.readout_regions)
        learner = _fresh_learner(brain, ctx, self.learn)
        if learner is not None:
            for _ in range(self.epochs):
                for x in inputs:
                    run(brain, self.stim_steps, x, learner)
                    learner.snapshot()
                    learner.reward(self.reward)
                    run(brain, self.gap_steps, None, learner)
        vectors, labels = [], []
        for _ in range(self.test_rounds):
            for p, x in enumerate(inputs):
                run(brain, self.gap_steps)
                vectors.append(run(brain, self.stim_steps, x)[:, readout].cpu().numpy().astype(np.float64))
                labels.append(p)
        X = np.stack(vectors, axis=1)  # (B, trials, readout)
        y = np.array(labels)
        return {
            "accuracy": np.array([M.loo_nearest_centroid_accuracy(xb, y) for xb in X]),
            "linear_accuracy": np.array([M.loo_linear_readout_accuracy(xb, y) for xb in X]),
        }


@attrs.frozen
class WorkingMemory:
    """Persistence of prefrontal activity after a visual stimulus (metric ``memory``).

    ``memory = (delay - baseline) / (stim - baseline)`` of the memory
    regions' rate when ``stim > baseline``, else 0.

    :ivar baseline_steps: before the stimulus.
    :ivar stim_steps: stimulus.
    :ivar delay_steps: after it.
    :ivar amplitude: mV per step on every stimulus neuron.
    :ivar stim_regions: group -> first n regions stimulated (0 = all).
    :ivar memory_regions: group -> first n regions measured.
    """

    name: ClassVar[str] = "working_memory"
    baseline_steps: int = attrs.field(default=500, validator=_positive)
    stim_steps: int = attrs.field(default=500, validator=_positive)
    delay_steps: int = attrs.field(default=500, validator=_positive)
    amplitude: float = attrs.field(default=15.0, validator=_non_negative)
    stim_regions: dict[str, int] = _spec_field({"visual": 0})
    memory_regions: dict[str, int] = _spec_field({"prefrontal": 0})

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.stim_regions, *self.memory_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return _counts(self.baseline_steps + self.stim_steps + self.delay_steps, 0, rule)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        mem = regions_of(brain, self.memory_regions)
        x = drive(region_mask(brain, regions_of(brain, self.stim_regions)), self.amplitude)
        base = per_neuron_step(run(brain, self.baseline_steps), brain, mem, self.baseline_steps)
        stim = per_neuron_step(run(brain, self.stim_steps, x), brain, mem, self.stim_steps)
        delay = per_neuron_step(run(brain, self.delay_steps), brain, mem, self.delay_steps)
        return {"memory": np.array([M.working_memory_persistence(b, s, d) for b, s, d in zip(base, stim, delay)])}


@attrs.frozen
class ResponseDiversity:
    """How differently the whole brain answers different patterns (spec section 8), no learning.

    Each presentation gives the rate of every region; metrics from
    :func:`encephagen_builtins.metrics.response_diversity`: ``cos_dist_mean``,
    ``cos_dist_min``, ``consistency``, ``fisher``, ``dimensionality``,
    ``breadth``, ``entropy``.

    :ivar n_patterns: patterns.
    :ivar rounds: presentations of each.
    :ivar stim_steps: presentation length.
    :ivar gap_steps: pause before each.
    :ivar amplitude: mV per step.
    :ivar stim_regions: group -> first n regions (0 = all).
    :ivar pattern_fraction: share of positions per pattern.
    :ivar pattern_seed: as in ``conditioning``.
    """

    name: ClassVar[str] = "response_diversity"
    n_patterns: int = attrs.field(default=5, validator=_two_or_more)
    rounds: int = attrs.field(default=8, validator=_positive)
    stim_steps: int = attrs.field(default=500, validator=_positive)
    gap_steps: int = attrs.field(default=200, validator=_non_negative)
    amplitude: float = attrs.field(default=12.0, validator=_non_negative)
    stim_regions: dict[str, int] = _spec_field({"visual": 0})
    pattern_fraction: float = attrs.field(default=0.3, validator=_fraction)
    pattern_seed: int | None = None

    def required_groups(self) -> tuple[str, ...]:
        return tuple(self.stim_regions)

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return _counts(self.rounds * self.n_patterns * (self.gap_steps + self.stim_steps), 0, rule)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        pats = draw_patterns(ctx.stimulus_rngs, self.n_patterns, net.neurons_per_region, self.pattern_fraction, self.pattern_seed)
        regions = regions_of(brain, self.stim_regions)
        inputs = [drive(pattern_mask(brain, regions, p), self.amplitude) for p in pats]
        vectors, labels = [], []
        for _ in range(self.rounds):
            for p, x in enumerate(inputs):
                run(brain, self.gap_steps)
                counts = run(brain, self.stim_steps, x)
                vectors.append((counts / (net.neurons_per_region * self.stim_steps)).cpu().numpy().astype(np.float64))
                labels.append(p)
        X = np.stack(vectors, axis=1)  # (B, trials, R)
        y = np.array(labels)
        per_brain = [M.response_diversity(xb, y) for xb in X]
        return {k: np.array([d[k] for d in per_brain]) for k in per_brain[0]}


@attrs.frozen
class SequenceTask:
    """Temporal credit assignment: an ordered A -> B -> C sequence, reward only after C.

    Each element is a pattern on its own region group, ``element_steps``
    long, back to back; the learner takes ``snapshot()`` and the reward at
    the end of C, so credit must reach back over the whole sequence. Every
    ``test_every`` trials, learning detached, the response regions' response
    (rate minus baseline) to the trained order and to the reversed order are
    measured. Metrics: ``seq_final`` (last response to the trained order),
    ``seq_gain`` (last minus first test), ``order_selectivity`` (trained minus
    reversed order at the last test); series ``learning_curve``.

    :ivar elements: the region groups of A, B, C, ... in trained order.
    :ivar element_regions: first n regions of each element group (0 = all).
    :ivar element_steps: steps per element (1000 = 100 ms).
    :ivar trials: rewarded sequences.
    :ivar gap_steps: pause after each.
    :ivar amplitude: mV per step on pattern neurons.
    :ivar response_regions: group -> first n regions measured.
    :ivar test_every: trials between tests.
    :ivar test_baseline_steps: baseline before a test.
    :ivar pattern_fraction: share of positions per pattern.
    :ivar pattern_seed: as in ``conditioning``.
    :ivar reward: reward after C.
    :ivar learn: attach the learning rule.
    """

    name: ClassVar[str] = "sequence"
    elements: tuple[str, ...] = attrs.field(default=("visual", "auditory", "somatosensory"), converter=tuple)
    element_regions: int = attrs.field(default=0, validator=_non_negative)
    element_steps: int = attrs.field(default=1000, validator=_positive)
    trials: int = attrs.field(default=20, validator=_positive)
    gap_steps: int = attrs.field(default=500, validator=_non_negative)
    amplitude: float = attrs.field(default=12.0, validator=_non_negative)
    response_regions: dict[str, int] = _spec_field({"prefrontal": 0})
    test_every: int = attrs.field(default=5, validator=_positive)
    test_baseline_steps: int = attrs.field(default=300, validator=_positive)
    pattern_fraction: float = attrs.field(default=0.3, validator=_fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True

    def __attrs_post_init__(self) -> None:
        if len(self.elements) < 2:
            raise ValueError(f"'elements' needs at least two region groups, got {list(self.elements)}")
        if self.trials < self.test_every:
            raise ValueError(
                f"'trials' must be at least test_every ({self.test_every}), or the response is never measured; got {self.trials}"
            )

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.elements, *self.response_regions]))

    def _present(self, brain: Any, inputs: list[torch.Tensor], learner: Any) -> torch.Tensor:
        total = None
        for x in inputs:
            c = run(brain, self.element_steps, x, learner)
            total = c if total is None else total + c
        return total

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        sequence = self.element_steps * len(self.elements)
        tests = self.trials // self.test_every
        return _counts(tests * 2 * (self.test_baseline_steps + sequence), self.trials * (sequence + self.gap_steps), rule and self.learn)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        pats = draw_patterns(ctx.stimulus_rngs, len(self.elements), net.neurons_per_region, self.pattern_fraction, self.pattern_seed)
        inputs = [
            drive(pattern_mask(brain, regions_of(brain, {g: self.element_regions}), p), self.amplitude)
            for g, p in zip(self.elements, pats)
        ]
        response = regions_of(brain, self.response_regions)
        learner = _fresh_learner(brain, ctx, self.learn)
        total_steps = self.element_steps * len(inputs)

        def test(order: list[torch.Tensor]) -> np.ndarray:
            return evoked_response(brain, response, self.test_baseline_steps, lambda: (self._present(brain, order, None), total_steps))

        forward, backward = [], []
        for trial in range(1, self.trials + 1):
            self._present(brain, inputs, learner)
            if learner is not None:
                learner.snapshot()
                learner.reward(self.reward)
            run(brain, self.gap_steps, None, learner)
            if trial % self.test_every == 0:
                forward.append(test(inputs))
                backward.append(test(inputs[::-1]))
        if not forward:
            raise ValueError("sequence: trials < test_every, so the response is never measured")
        fwd = np.stack(forward, axis=1)
        ctx.series["learning_curve"] = fwd
        return {"seq_final": fwd[:, -1], "seq_gain": fwd[:, -1] - fwd[:, 0], "order_selectivity": fwd[:, -1] - np.stack(backward, axis=1)[:, -1]}


@attrs.frozen
class Multisensory:
    """Multi-sensory association: auditory + visual CS together, paired with a US.

    Trials as in ``conditioning`` with both CS patterns at once. After
    training, learning detached, the response regions' response to each
    modality alone and to both is measured. Metrics: ``response_auditory``,
    ``response_visual``, ``response_both``, ``superadditivity`` (both minus
    the sum of the two alone).

    :ivar trials: pairings.
    :ivar cs_steps: CS length.
    :ivar us_steps: US length.
    :ivar gap_steps: pause.
    :ivar cs_amplitude: mV per step on CS pattern neurons.
    :ivar us_amplitude: mV per step on US neurons.
    :ivar auditory_regions: group -> first n regions of the auditory CS.
    :ivar visual_regions: group -> first n regions of the visual CS.
    :ivar us_regions: group -> first n regions receiving the US.
    :ivar response_regions: group -> first n regions measured.
    :ivar test_baseline_steps: baseline before each test.
    :ivar pattern_fraction: share of positions per pattern.
    :ivar pattern_seed: as in ``conditioning``.
    :ivar reward: reward at US offset.
    :ivar learn: attach the learning rule.
    """

    name: ClassVar[str] = "multisensory"
    trials: int = attrs.field(default=30, validator=_positive)
    cs_steps: int = attrs.field(default=500, validator=_positive)
    us_steps: int = attrs.field(default=500, validator=_positive)
    gap_steps: int = attrs.field(default=300, validator=_non_negative)
    cs_amplitude: float = attrs.field(default=12.0, validator=_non_negative)
    us_amplitude: float = attrs.field(default=20.0, validator=_non_negative)
    auditory_regions: dict[str, int] = _spec_field({"auditory": 0})
    visual_regions: dict[str, int] = _spec_field({"visual": 4})
    us_regions: dict[str, int] = _spec_field({"amygdala": 0})
    response_regions: dict[str, int] = _spec_field({"amygdala": 0, "prefrontal": 4})
    test_baseline_steps: int = attrs.field(default=300, validator=_positive)
    pattern_fraction: float = attrs.field(default=0.3, validator=_fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.auditory_regions, *self.visual_regions, *self.us_regions, *self.response_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return _counts(3 * (self.test_baseline_steps + self.cs_steps), self.trials * (self.cs_steps + self.us_steps + self.gap_steps), rule and self.learn)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        pats = draw_patterns(ctx.stimulus_rngs, 2, net.neurons_per_region, self.pattern_fraction, self.pattern_seed)
        aud = drive(pattern_mask(brain, regions_of(brain, self.auditory_regions), pats[0]), self.cs_amplitude)
        vis = drive(pattern_mask(brain, regions_of(brain, self.visual_regions), pats[1]), self.cs_amplitude)
        both = torch.maximum(aud, vis)  # the sum where the two do not overlap
        us = drive(region_mask(brain, regions_of(brain, self.us_regions)), self.us_amplitude)
        response = regions_of(brain, self.response_regions)
        learner = _fresh_learner(brain, ctx, self.learn)
        for _ in range(self.trials):
            pairing_trial(brain, learner, both, us, self)

        def test(x: torch.Tensor) -> np.ndarray:
            return evoked_response(brain, response, self.test_baseline_steps, lambda: (run(brain, self.cs_steps, x), self.cs_steps))

        a, v, av = test(aud), test(vis), test(both)
        return {"response_auditory": a, "response_visual": v, "response_both": av, "superadditivity": av - (a + v)}


TASKS: tuple[type, ...] = (Warmup, Differentiation, Conditioning, Discrimination, WorkingMemory, ResponseDiversity, SequenceTask, Multisensory)
