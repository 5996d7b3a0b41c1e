"""Tasks on background input only: ``warmup`` and ``differentiation`` (spec section 6)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from encephagen import validators as ev
from encephagen.interfaces import Metric, TaskContext
from encephagen_builtins import metrics as M
from encephagen_builtins.connectomes.groups import REFERENCE_GROUPS
from encephagen_builtins.tasks.protocol import per_neuron_step, run, step_split


@attrs.frozen
class Warmup:
    """Let the network settle with background input only; reports its firing rate.

    :ivar steps: simulation steps (0.1 ms each).
    """

    name: ClassVar[str] = "warmup"
    steps: int = attrs.field(default=3000, validator=ev.positive_int)

    def required_groups(self) -> tuple[str, ...]:
        return ()

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return step_split(self.steps, 0, rule)

    def metrics(self) -> tuple[Metric, ...]:
        return (Metric("rate_hz", "Hz", "Mean firing rate of every neuron of the brain over the warm-up, background input only.", "none"),)

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
    steps: int = attrs.field(default=2000, validator=ev.positive_int)
    groups: tuple[str, ...] = attrs.field(default=tuple(REFERENCE_GROUPS), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if len(self.groups) < 2:
            raise ValueError(f"'groups' needs at least two region groups to compare their rates, got {list(self.groups)}")

    def required_groups(self) -> tuple[str, ...]:
        return self.groups

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return step_split(self.steps, 0, rule)

    def metrics(self) -> tuple[Metric, ...]:
        return (
            Metric(
                "cv", "1",
                f"Coefficient of variation (population sd / mean) of the mean rates of the groups {', '.join(self.groups)} "
                "without input: how much the regions' activity differs; a property of the dynamics, not a performance.",
                "none",
            ),
        )

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        counts = run(brain, self.steps)
        rates = np.stack([per_neuron_step(counts, brain, list(brain.network.groups[g]), self.steps) for g in self.groups], axis=1)
        return {"cv": np.array([M.coefficient_of_variation(r) for r in rates])}
