"""Classical conditioning: ``conditioning`` (spec section 8) and ``multisensory`` (two CS, one US)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen import validators as ev
from encephagen.interfaces import Metric, TaskContext
from encephagen_builtins import metrics as M
from encephagen_builtins.tasks.protocol import RATE, drive, evoked_response, fresh_learner, pairing_trial, pattern_masks, region_mask, regions_of, run, spec_field, step_split


@attrs.frozen
class _Pairings:
    """What every CS-US pairing protocol has, first among its parameters (each task documents them)."""

    trials: int = attrs.field(default=30, validator=ev.positive_int)
    cs_steps: int = attrs.field(default=500, validator=ev.positive_int)
    us_steps: int = attrs.field(default=500, validator=ev.positive_int)
    gap_steps: int = attrs.field(default=300, validator=ev.non_negative)
    cs_amplitude: float = attrs.field(default=12.0, validator=ev.non_negative)
    us_amplitude: float = attrs.field(default=20.0, validator=ev.non_negative)


@attrs.frozen
class Conditioning(_Pairings):
    """Classical conditioning: a visual CS paired with an amygdala US, learning attached.

    Every ``test_every`` trials, with learning detached, the response of the
    response regions to the CS alone is measured (CS rate minus baseline rate,
    spikes per neuron per step). Metrics: ``cond_slope`` (regression slope of
    the responses over tests), ``cond_final`` (the last response), and the
    series ``learning_curve``. With ``test_before`` the CS response is also
    measured once before the first pairing (the first point of the curve),
    and ``cond_gain`` is the last test minus that one: what the pairings changed.

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
    :ivar pattern_fraction: share of each region's neuron positions in the CS pattern (on a cellular brain, share of the CS neurons).
    :ivar pattern_seed: fixed pattern seed for all brains (published: 42), or
        ``null`` to draw from each replicate's seed.
    :ivar reward: reward delivered at US offset.
    :ivar learn: attach the study's learning rule (false: the same protocol without learning).
    :ivar test_before: also test the CS response before the first pairing (metric ``cond_gain``).
    """

    name: ClassVar[str] = "conditioning"
    cs_regions: dict[str, int] = spec_field({"visual": 4})
    us_regions: dict[str, int] = spec_field({"amygdala": 0})
    response_regions: dict[str, int] = spec_field({"amygdala": 0, "prefrontal": 4})
    test_every: int = attrs.field(default=5, validator=ev.positive_int)
    test_baseline_steps: int = attrs.field(default=300, validator=ev.positive_int)
    pattern_fraction: float = attrs.field(default=0.3, validator=ev.fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True
    test_before: bool = False

    def __attrs_post_init__(self) -> None:
        if self.trials < self.test_every:
            raise ValueError(
                f"'trials' must be at least test_every ({self.test_every}), or the CS response is never measured; got {self.trials}"
            )

    def metrics(self) -> tuple[Metric, ...]:
        response = "the response regions' rate during the CS alone minus their rate just before it (learning detached)"
        tests = f"every {self.test_every} trials" + (", and once before the first pairing" if self.test_before else "")
        out = [
            Metric("cond_slope", f"{RATE}/test", f"Least-squares slope of the CS response over the tests ({tests}); the CS response is {response}.", "higher"),
            Metric("cond_final", RATE, f"The CS response at the last test: {response}.", "higher"),
        ]
        if self.test_before:
            out.append(Metric("cond_gain", RATE, "The CS response at the last test minus the one before the first pairing: what the pairings changed.", "higher", change=True))
        out.append(Metric("learning_curve", RATE, f"The CS response at each test: {response}.", "higher", x=f"test ({tests})"))
        return tuple(out)

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.cs_regions, *self.us_regions, *self.response_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        tests = self.trials // self.test_every + self.test_before
        return step_split(tests * (self.test_baseline_steps + self.cs_steps), self.trials * (self.cs_steps + self.us_steps + self.gap_steps), rule and self.learn)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        (cs_mask,) = pattern_masks(brain, ctx, [regions_of(brain, self.cs_regions)], self.pattern_fraction, self.pattern_seed)
        cs = drive(cs_mask, self.cs_amplitude)
        us = drive(region_mask(brain, regions_of(brain, self.us_regions)), self.us_amplitude)
        response = regions_of(brain, self.response_regions)
        learner = fresh_learner(brain, ctx, self.learn)

        def test() -> np.ndarray:
            return evoked_response(brain, response, self.test_baseline_steps, lambda: (run(brain, self.cs_steps, cs), self.cs_steps))

        curve = [test()] if self.test_before else []
        for trial in range(1, self.trials + 1):
            pairing_trial(brain, learner, cs, us, self)
            if trial % self.test_every == 0:
                curve.append(test())
        curve_arr = np.stack(curve, axis=1)  # (B, tests)
        ctx.series["learning_curve"] = curve_arr
        slope = np.array([M.linear_slope(c) if len(c) > 1 else 0.0 for c in curve_arr])
        out = {"cond_slope": slope, "cond_final": curve_arr[:, -1]}
        if self.test_before:
            out["cond_gain"] = curve_arr[:, -1] - curve_arr[:, 0]
        return out


@attrs.frozen
class Multisensory(_Pairings):
    """Multi-sensory association: auditory + visual CS together, paired with a US.

    Trials as in ``conditioning`` with both CS patterns at once. After
    training, learning detached, the response regions' response to each
    modality alone and to both is measured. Metrics: ``response_auditory``,
    ``response_visual``, ``response_both``, ``superadditivity`` (both minus
    the sum of the two alone). With ``test_before`` the response to both is
    also measured before the first pairing, and ``both_gain`` is the change.

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
    :ivar pattern_fraction: share of positions per pattern (of a region's neurons; on a cellular brain, of the stimulated neurons).
    :ivar pattern_seed: as in ``conditioning``.
    :ivar reward: reward at US offset.
    :ivar learn: attach the learning rule.
    :ivar test_before: also test the response to both CS before the first pairing (metric ``both_gain``).
    """

    name: ClassVar[str] = "multisensory"
    auditory_regions: dict[str, int] = spec_field({"auditory": 0})
    visual_regions: dict[str, int] = spec_field({"visual": 4})
    us_regions: dict[str, int] = spec_field({"amygdala": 0})
    response_regions: dict[str, int] = spec_field({"amygdala": 0, "prefrontal": 4})
    test_baseline_steps: int = attrs.field(default=300, validator=ev.positive_int)
    pattern_fraction: float = attrs.field(default=0.3, validator=ev.fraction)
    pattern_seed: int | None = None
    reward: float = 1.0
    learn: bool = True
    test_before: bool = False

    def metrics(self) -> tuple[Metric, ...]:
        response = "rate of the response regions during the CS minus their rate just before it, after training (learning detached)"
        out = [
            Metric("response_auditory", RATE, f"Response to the auditory CS alone: {response}.", "higher"),
            Metric("response_visual", RATE, f"Response to the visual CS alone: {response}.", "higher"),
            Metric("response_both", RATE, f"Response to both CS together: {response}.", "higher"),
            Metric("superadditivity", RATE, "response_both minus (response_auditory + response_visual): above 0, more than the sum of the parts.", "none"),
        ]
        if self.test_before:
            out.append(Metric("both_gain", RATE, "response_both minus the same response measured before the first pairing.", "higher", change=True))
        return tuple(out)

    def required_groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.auditory_regions, *self.visual_regions, *self.us_regions, *self.response_regions]))

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        """``(plain, learning)``: steps without and with the learner attached, with or without a study ``rule``."""
        return step_split((3 + self.test_before) * (self.test_baseline_steps + self.cs_steps), self.trials * (self.cs_steps + self.us_steps + self.gap_steps), rule and self.learn)

    def run(self, brain: Any, ctx: TaskContext) -> dict[str, np.ndarray]:
        sets = [regions_of(brain, self.auditory_regions), regions_of(brain, self.visual_regions)]
        aud, vis = (drive(m, self.cs_amplitude) for m in pattern_masks(brain, ctx, sets, self.pattern_fraction, self.pattern_seed))
        both = torch.maximum(aud, vis)  # the sum where the two do not overlap
        us = drive(region_mask(brain, regions_of(brain, self.us_regions)), self.us_amplitude)
        response = regions_of(brain, self.response_regions)
        learner = fresh_learner(brain, ctx, self.learn)

        def test(x: torch.Tensor) -> np.ndarray:
            return evoked_response(brain, response, self.test_baseline_steps, lambda: (run(brain, self.cs_steps, x), self.cs_steps))

        before = test(both) if self.test_before else None
        for _ in range(self.trials):
            pairing_trial(brain, learner, both, us, self)
        a, v, av = test(aud), test(vis), test(both)
        out = {"response_auditory": a, "response_visual": v, "response_both": av, "superadditivity": av - (a + v)}
        if before is not None:
            out["both_gain"] = av - before
        return out
