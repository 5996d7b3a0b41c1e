"""Pattern tasks: ``discrimination`` (learned classification) and ``response_diversity`` (no learning)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen import validators as ev
from encephagen.interfaces import Metric, TaskContext
from encephagen_builtins import metrics as M
from encephagen_builtins.tasks.protocol import RATE, drive, fresh_learner, pattern_masks, regions_of, run, spec_field, step_split


@attrs.frozen
class Discrimination:
    """Pattern discrimination after reward-modulated exposure (metrics ``accuracy``, ``linear_accuracy``).

    Learning phase: ``epochs`` x ``n_patterns`` presentations on all stimulus
    regions, each followed by ``snapshot()`` and ``reward``. Test phase,
    learning detached: ``test_rounds`` x ``n_patterns`` presentations; each
    gives a vector of spike counts per readout region. ``accuracy`` is the
    leave-one-out nearest-centroid accuracy (cosine), ``linear_accuracy`` that
    of a leave-one-out ridge readout. With ``test_before`` the same test runs
    once before learning, and ``accuracy_gain`` is the change.

    :ivar n_patterns: patterns (classes).
    :ivar epochs: learning passes.
    :ivar stim_steps: presentation length.
    :ivar gap_steps: pause before each test and after each learning presentation.
    :ivar amplitude: mV per step on pattern neurons.
    :ivar stim_regions: group -> first n regions receiving the patterns (0 = all).
    :ivar readout_regions: group -> first n regions read out.
    :ivar test_rounds: presentations of each pattern at test.
    :ivar pattern_fraction: share of positions per pattern (of a region's neurons; on a cellular brain, of the stimulated neurons).
    :ivar pattern_seed: as in ``conditioning``.
    :ivar reward: reward after each learning presentation.
    :ivar learn: attach the learning rule.
    :ivar test_before: also run the test before learning (metric ``accuracy_gain``).
    """

    name: ClassVar[str] = "discrimination"
    n_patterns: int = attrs.field(default=5, validator=ev.at_least(2, "the metrics compare patterns"))
    epochs: int = attrs.field(default=3, validator=ev.non_negative)
    stim_steps: int = attrs.field(default=500, validator=ev.positive_int)
    gap_steps: int = attrs.field(default=200, validator=ev.non_negative)
    amplitude: float = attrs.field(default=12.0, validator=ev.non_negative)
    stim_regions: dict[str, int] = spec_field({"visual": 0})
    readout_regions: dict[str, int] = spec_field({"prefrontal": 8, "hippocampus": 0})
    test_rounds: int = attrs.field(default=5, validator=ev.positive_int)
    pattern_fraction: float = attrs.field(default=0.3, validator=ev.fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True
    test_before: bool = False

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.stim_regions, *self.readout_regions]))

    def metrics(self) -> tuple[Metric, ...]:
        vectors = f"{self.test_rounds} test presentations of each of {self.n_patterns} patterns, each a vector of spike counts of the readout regions"
        chance = 1.0 / self.n_patterns
        out = [
            Metric("accuracy", "1", f"Leave-one-out nearest-centroid (cosine) accuracy over {vectors}.", "higher", chance=chance),
            Metric("linear_accuracy", "1", f"Leave-one-out ridge-readout accuracy over {vectors}.", "higher", chance=chance),
        ]
        if self.test_before:
            out.append(Metric("accuracy_gain", "1", "accuracy after learning minus accuracy of the same test before it.", "higher", change=True))
        return tuple(out)

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        learning = self.epochs * self.n_patterns * (self.stim_steps + self.gap_steps) * (self.learn and rule)
        return (1 + self.test_before) * self.test_rounds * self.n_patterns * (self.gap_steps + self.stim_steps), learning  # no learner: no learning phase

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        stim_regions = regions_of(brain, self.stim_regions)
        masks = pattern_masks(brain, ctx, [stim_regions] * self.n_patterns, self.pattern_fraction, self.pattern_seed)
        inputs = [drive(m, self.amplitude) for m in masks]
        readout = regions_of(brain, self.readout_regions)
        before = self._test(brain, inputs, readout) if self.test_before else None
        learner = fresh_learner(brain, ctx, self.learn)
        if learner is not None:
            for _ in range(self.epochs):
                for x in inputs:
                    run(brain, self.stim_steps, x, learner)
                    learner.snapshot()
                    learner.reward(self.reward)
                    run(brain, self.gap_steps, None, learner)
        out = self._test(brain, inputs, readout)
        if before is not None:
            out["accuracy_gain"] = out["accuracy"] - before["accuracy"]
        return out

    def _test(self, brain: Any, inputs: list[torch.Tensor], readout: list[int]) -> dict[str, np.ndarray]:
        """Both accuracies, ``(B,)`` each, learning detached."""
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
    :ivar pattern_fraction: share of positions per pattern (of a region's neurons; on a cellular brain, of the stimulated neurons).
    :ivar pattern_seed: as in ``conditioning``.
    """

    name: ClassVar[str] = "response_diversity"
    n_patterns: int = attrs.field(default=5, validator=ev.at_least(2, "the metrics compare patterns"))
    rounds: int = attrs.field(default=8, validator=ev.positive_int)
    stim_steps: int = attrs.field(default=500, validator=ev.positive_int)
    gap_steps: int = attrs.field(default=200, validator=ev.non_negative)
    amplitude: float = attrs.field(default=12.0, validator=ev.non_negative)
    stim_regions: dict[str, int] = spec_field({"visual": 0})
    pattern_fraction: float = attrs.field(default=0.3, validator=ev.fraction)
    pattern_seed: int | None = None

    def required_groups(self) -> tuple[str, ...]:
        return tuple(self.stim_regions)

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return step_split(self.rounds * self.n_patterns * (self.gap_steps + self.stim_steps), 0, rule)

    def metrics(self) -> tuple[Metric, ...]:
        vectors = f"the stimulated regions' rate vectors ({RATE}) of {self.rounds} presentations of each of {self.n_patterns} patterns"
        means = "the mean vector of each pattern"
        return (
            Metric("cos_dist_mean", "1", f"Mean cosine distance (1 - cos) between {means}, over all pairs; from {vectors}.", "higher"),
            Metric("cos_dist_min", "1", f"Smallest cosine distance between two of {means} (the closest pair).", "higher"),
            Metric("consistency", "1", "Mean cosine similarity between presentations of the same pattern.", "higher"),
            Metric("fisher", "1", "Between-pattern over within-pattern sum of squares of the rate vectors.", "higher"),
            Metric("dimensionality", "1", "Participation ratio of the covariance eigenvalues of all rate vectors (effective dimensions).", "none"),
            Metric("breadth", "regions", "Number of regions where some pattern's mean differs from the mean over all patterns by more than 10 %.", "none"),
            Metric("entropy", "nats", f"Shannon entropy of {means} read as a distribution over regions, averaged over patterns: how evenly the response spreads.", "none"),
        )

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        net = brain.network
        regions = regions_of(brain, self.stim_regions)
        masks = pattern_masks(brain, ctx, [regions] * self.n_patterns, self.pattern_fraction, self.pattern_seed)
        inputs = [drive(m, self.amplitude) for m in masks]
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
