"""Tasks on background input only: ``warmup`` and ``differentiation`` (spec section 6)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen import validators as ev
from encephagen.interfaces import Metric, TaskContext
from encephagen_builtins import metrics as M
from encephagen_builtins.connectomes.groups import REFERENCE_GROUPS
from encephagen_builtins.tasks.protocol import per_neuron_step, run, step_split


@attrs.frozen
class Warmup:
    """Let the network settle with background input only; reports its firing rate and whether it is steady.

    Steady state: the last ``2 x segment_steps`` steps of the warm-up (or its
    two halves, when it is shorter) are two segments; for the whole brain and
    for every region group, the relative change of the mean rate between them
    is ``|r_last - r_before| / max(r_before, 1 Hz)``, counted as 0 when the
    difference of the two spike counts is within 3 standard deviations of
    their Poisson noise (``3 sqrt(n_last + n_before)``). ``drift`` is the
    largest of these and the network counts as steady (``steady = 1``) when it
    is below ``tolerance``. Both are diagnostics: kept per replicate in
    ``results.csv`` and checked by the report, never compared between
    conditions. With ``until_steady`` the warm-up runs ``steps`` and then goes
    on, ``segment_steps`` at a time, until it is steady or has run
    ``max_steps`` (the brains of a batch run on together until every one is
    steady); ``warmup_ms`` says how long it ran.

    :ivar steps: simulation steps (0.1 ms each); the published protocol runs 3000.
    :ivar segment_steps: steps per segment of the steadiness test (750 = the last two quarters of the published warm-up).
    :ivar tolerance: the largest relative change of a rate between the two segments that counts as steady.
    :ivar until_steady: run on past ``steps`` until the network is steady (or ``max_steps``).
    :ivar max_steps: the longest warm-up with ``until_steady``.
    """

    name: ClassVar[str] = "warmup"
    steps: int = attrs.field(default=3000, validator=ev.positive_int)
    segment_steps: int = attrs.field(default=750, validator=ev.positive_int)
    tolerance: float = attrs.field(default=0.1, validator=[ev.finite, attrs.validators.gt(0.0)])
    until_steady: bool = False
    max_steps: int = attrs.field(default=30000, validator=ev.positive_int)

    def __attrs_post_init__(self) -> None:
        if self.until_steady and self.max_steps < self.steps:
            raise ValueError(f"'max_steps' must be at least steps ({self.steps}) with until_steady, got {self.max_steps}")

    def required_groups(self) -> tuple[str, ...]:
        return ()

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached (with ``until_steady``: at most)."""
        return step_split(self.max_steps if self.until_steady else self.steps, 0, rule)

    def metrics(self) -> tuple[Metric, ...]:
        out = [
            Metric("rate_hz", "Hz", "Mean firing rate of every neuron of the brain over the warm-up, background input only.", "none"),
            Metric(
                "drift", "1",
                f"Largest relative change of the mean rate, over the whole brain and each region group, between the last two "
                f"segments of {self.segment_steps} steps of the warm-up (rates below 1 Hz count as 1 Hz; a change within 3 sd of "
                "the spike counts' Poisson noise counts as 0).",
                "none", diagnostic=True,
            ),
            Metric("steady", "flag", f"1 when drift is below {self.tolerance:g}: the network was steady when the next task began.", "none", diagnostic=True),
        ]
        if self.until_steady:
            out.append(Metric("warmup_ms", "ms", f"How long the warm-up ran (at least {self.steps} steps, at most {self.max_steps}).", "none", diagnostic=True))
        return tuple(out)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        segment = min(self.segment_steps, self.steps // 2)
        head = self.steps - 2 * segment
        parts = ([run(brain, head)] if head else []) + ([run(brain, segment), run(brain, segment)] if segment else [])
        steps = self.steps
        drift = self._drift(brain, parts[-1], parts[-2], segment) if segment else np.full(net.n_brains, np.nan)
        while self.until_steady and not bool(np.all(drift < self.tolerance)) and steps + segment <= self.max_steps:
            parts.append(run(brain, segment))
            steps += segment
            drift = self._drift(brain, parts[-1], parts[-2], segment)
        rate = per_neuron_step(sum(parts[1:], parts[0]), brain, list(range(net.regions_per_brain)), steps)
        out = {"rate_hz": rate * 1000.0 / net.dt, "drift": drift, "steady": np.where(np.isnan(drift), np.nan, drift < self.tolerance)}
        if self.until_steady:
            out["warmup_ms"] = np.full(net.n_brains, steps * float(net.dt))
        return out

    @staticmethod
    def _drift(brain: Any, last: torch.Tensor, before: torch.Tensor, segment: int) -> np.ndarray:
        """``(B,)`` largest relative change of the rate between two segments' counts ``(B, R)``, over the brain and each group."""
        net = brain.network
        one_hz = float(net.dt) / 1000.0 * segment * net.neurons_per_region  # spikes of one region's neurons at 1 Hz
        worst = np.zeros(net.n_brains)
        for regions in [list(range(net.regions_per_brain)), *(list(idx) for idx in net.groups.values())]:
            a = last[:, regions].sum(1).cpu().numpy()
            b = before[:, regions].sum(1).cpu().numpy()
            change = np.abs(a - b)
            real = change > 3.0 * np.sqrt(a + b)  # more than the counts' own (Poisson) noise explains
            worst = np.maximum(worst, np.where(real, change / np.maximum(b, one_hz * len(regions)), 0.0))
        return worst


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
