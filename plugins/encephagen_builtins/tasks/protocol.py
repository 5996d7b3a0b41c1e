"""What every built-in task does with a brain: region masks, stimulus patterns, runs, learning events.

Rates are in the published unit, **spikes per neuron per step** (multiply by
``1e4`` for Hz at ``dt = 0.1`` ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import torch

from encephagen.interfaces import TaskContext

#: The unit of every rate inside the built-in tasks' metrics (``1e4`` Hz at ``dt = 0.1`` ms).
RATE = "spikes/neuron/step"


#: A group and how many of its first regions to use (0 = all of them).
GroupSpec = Mapping[str, int]


def group_spec(value: Any) -> dict[str, int]:
    if isinstance(value, str):
        return {value: 0}
    return {str(k): int(v) for k, v in dict(value).items()}


def group_spec_valid(inst: Any, att: attrs.Attribute, value: Mapping[str, int]) -> None:
    if not value or any(n < 0 for n in value.values()):
        raise ValueError(f"'{att.name}' must map group names to a count of first regions (0 = all), got {value!r}")


def spec_field(default: Mapping[str, int]) -> Any:
    return attrs.field(factory=lambda: dict(default), converter=group_spec, validator=group_spec_valid)


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


def pattern_masks(
    brain: Any, ctx: TaskContext, region_sets: list[list[int]], fraction: float, seed: int | None
) -> list[torch.Tensor]:
    """bool ``(N,)`` per stimulus pattern: pattern ``p`` lies on the regions ``region_sets[p]``.

    A region of many neurons: a pattern is ``round(fraction * npr)`` neuron
    positions, the same in every region of its set (:func:`draw_patterns`,
    the published scheme). One neuron per region (a cellular brain, where a
    region *is* a neuron): a pattern is ``round(fraction * len(set))`` (at
    least one) of its set's neurons, so patterns on one group differ. Drawn
    in turn from each brain's generator, or from one ``default_rng(seed)``
    per brain when ``seed`` is given.
    """
    net = brain.network
    if net.neurons_per_region > 1:
        pats = draw_patterns(ctx.stimulus_rngs, len(region_sets), net.neurons_per_region, fraction, seed)
        return [pattern_mask(brain, regions, p) for regions, p in zip(region_sets, pats)]
    chosen = np.zeros((len(region_sets), net.n_brains, net.regions_per_brain), dtype=bool)
    for b, rng in enumerate(ctx.stimulus_rngs):
        gen = np.random.default_rng(seed) if seed is not None else rng
        for p, regions in enumerate(region_sets):
            k = max(1, int(round(fraction * len(regions))))
            chosen[p, b, np.asarray(regions)[gen.choice(len(regions), k, replace=False)]] = True
    return [torch.from_numpy(c.reshape(-1)).to(net.device) for c in chosen]


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


def event(learner: Any, name: str, *args: Any) -> None:
    fn = getattr(learner, name, None)
    if fn is not None:
        fn(*args)


def pairing_trial(brain: Any, learner: Any, cs: torch.Tensor, us: torch.Tensor, task: Any) -> None:
    """One CS-US pairing with the learner attached: CS, ``snapshot()``, US, ``reward``, gap.

    ``task`` supplies ``cs_steps``, ``us_steps``, ``gap_steps`` and ``reward``.
    """
    event(learner, "begin_window", "cs")
    run(brain, task.cs_steps, cs, learner)
    event(learner, "end_window")
    if learner is not None:
        learner.snapshot()
    event(learner, "begin_window", "us")
    run(brain, task.us_steps, us, learner)
    event(learner, "end_window")
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


def step_split(plain: int, learning: int, attached: bool) -> tuple[int, int]:
    """``(plain, learning)`` steps of a task whose learning phases run, learning detached, when no learner is attached."""
    return (plain, learning) if attached else (plain + learning, 0)


def fresh_learner(brain: Any, ctx: TaskContext, learn: bool) -> Any:
    if not learn or ctx.learning_rule is None:
        return None
    return ctx.learning_rule.bind(brain.network)
