"""Activity that outlasts its input: ``working_memory`` and ``sequence``."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen import validators as ev
from encephagen.interfaces import Metric, TaskContext
from encephagen_builtins import metrics as M
from encephagen_builtins.tasks.protocol import RATE, drive, evoked_response, fresh_learner, pattern_masks, per_neuron_step, region_mask, regions_of, run, spec_field, step_split


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
    baseline_steps: int = attrs.field(default=500, validator=ev.positive_int)
    stim_steps: int = attrs.field(default=500, validator=ev.positive_int)
    delay_steps: int = attrs.field(default=500, validator=ev.positive_int)
    amplitude: float = attrs.field(default=15.0, validator=ev.non_negative)
    stim_regions: dict[str, int] = spec_field({"visual": 0})
    memory_regions: dict[str, int] = spec_field({"prefrontal": 0})

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.stim_regions, *self.memory_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return step_split(self.baseline_steps + self.stim_steps + self.delay_steps, 0, rule)

    def metrics(self) -> tuple[Metric, ...]:
        return (
            Metric(
                "memory", "1",
                "(delay - baseline) / (stimulus - baseline) of the memory regions' rate when the stimulus raises it, else 0: "
                "the share of the evoked activity that outlasts the stimulus.",
                "higher",
            ),
        )

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        mem = regions_of(brain, self.memory_regions)
        x = drive(region_mask(brain, regions_of(brain, self.stim_regions)), self.amplitude)
        base = per_neuron_step(run(brain, self.baseline_steps), brain, mem, self.baseline_steps)
        stim = per_neuron_step(run(brain, self.stim_steps, x), brain, mem, self.stim_steps)
        delay = per_neuron_step(run(brain, self.delay_steps), brain, mem, self.delay_steps)
        return {"memory": np.array([M.working_memory_persistence(b, s, d) for b, s, d in zip(base, stim, delay)])}


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
    reversed order at the last test); series ``learning_curve``. With
    ``test_before`` the trained order is also tested before the first trial,
    and ``seq_gain`` is measured from that test.

    :ivar elements: the region groups of A, B, C, ... in trained order.
    :ivar element_regions: first n regions of each element group (0 = all).
    :ivar element_steps: steps per element (1000 = 100 ms).
    :ivar trials: rewarded sequences.
    :ivar gap_steps: pause after each.
    :ivar amplitude: mV per step on pattern neurons.
    :ivar response_regions: group -> first n regions measured.
    :ivar test_every: trials between tests.
    :ivar test_baseline_steps: baseline before a test.
    :ivar pattern_fraction: share of positions per pattern (of a region's neurons; on a cellular brain, of the stimulated neurons).
    :ivar pattern_seed: as in ``conditioning``.
    :ivar reward: reward after C.
    :ivar learn: attach the learning rule.
    :ivar test_before: also test before the first trial (``seq_gain`` then starts there).
    """

    name: ClassVar[str] = "sequence"
    elements: tuple[str, ...] = attrs.field(default=("visual", "auditory", "somatosensory"), converter=tuple)
    element_regions: int = attrs.field(default=0, validator=ev.non_negative)
    element_steps: int = attrs.field(default=1000, validator=ev.positive_int)
    trials: int = attrs.field(default=20, validator=ev.positive_int)
    gap_steps: int = attrs.field(default=500, validator=ev.non_negative)
    amplitude: float = attrs.field(default=12.0, validator=ev.non_negative)
    response_regions: dict[str, int] = spec_field({"prefrontal": 0})
    test_every: int = attrs.field(default=5, validator=ev.positive_int)
    test_baseline_steps: int = attrs.field(default=300, validator=ev.positive_int)
    pattern_fraction: float = attrs.field(default=0.3, validator=ev.fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True
    test_before: bool = False

    def __attrs_post_init__(self) -> None:
        if len(self.elements) < 2:
            raise ValueError(f"'elements' needs at least two region groups, got {list(self.elements)}")
        if self.trials < self.test_every:
            raise ValueError(
                f"'trials' must be at least test_every ({self.test_every}), or the response is never measured; got {self.trials}"
            )

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.elements, *self.response_regions]))

    def metrics(self) -> tuple[Metric, ...]:
        response = "the response regions' rate during the sequence minus their rate just before it (learning detached)"
        tests = f"every {self.test_every} trials" + (", and once before the first trial" if self.test_before else "")
        first = "the test before the first trial" if self.test_before else "the first test"
        return (
            Metric("seq_final", RATE, f"Response to the trained order at the last test: {response}.", "higher"),
            Metric("seq_gain", RATE, f"seq_final minus the response at {first}.", "higher", change=self.test_before),
            Metric("order_selectivity", RATE, "Response to the trained order minus the response to the reversed order, at the last test.", "higher"),
            Metric("learning_curve", RATE, f"Response to the trained order at each test: {response}.", "higher", x=f"test ({tests})"),
        )

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
        return step_split((tests * 2 + self.test_before) * (self.test_baseline_steps + sequence), self.trials * (sequence + self.gap_steps), rule and self.learn)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        sets = [regions_of(brain, {g: self.element_regions}) for g in self.elements]
        inputs = [drive(m, self.amplitude) for m in pattern_masks(brain, ctx, sets, self.pattern_fraction, self.pattern_seed)]
        response = regions_of(brain, self.response_regions)
        learner = fresh_learner(brain, ctx, self.learn)
        total_steps = self.element_steps * len(inputs)

        def test(order: list[torch.Tensor]) -> np.ndarray:
            return evoked_response(brain, response, self.test_baseline_steps, lambda: (self._present(brain, order, None), total_steps))

        forward, backward = ([test(inputs)] if self.test_before else []), []
        for trial in range(1, self.trials + 1):
            self._present(brain, inputs, learner)
            if learner is not None:
                learner.snapshot()
                learner.reward(self.reward)
            run(brain, self.gap_steps, None, learner)
            if trial % self.test_every == 0:
                forward.append(test(inputs))
                backward.append(test(inputs[::-1]))
        fwd = np.stack(forward, axis=1)
        ctx.series["learning_curve"] = fwd
        return {"seq_final": fwd[:, -1], "seq_gain": fwd[:, -1] - fwd[:, 0], "order_selectivity": fwd[:, -1] - np.stack(backward, axis=1)[:, -1]}
