"""The Hebbian co-activity rule of the published exp. 21 (spec section 5), with its defect fixed.

The task marks two windows per trial; the learner counts every neuron's
spikes in each::

    learner.begin_window("cs"); ...CS steps...; learner.end_window()
    learner.begin_window("us"); ...US steps...; learner.end_window()
    learner.reward(1.0)        # or learner.apply()

``cs_active = count_cs > threshold``, ``us_active = count_us > threshold``,
``dW_ji = eta * r * cs_active_i * us_active_j`` on existing (plastic)
synapses, ``W = clamp(W + dW, w_min, w_max)``. The published code wrote the
changes to a copy of the weights and put them back only after all trials;
here they go into the live weights at once, so the network feels them during
the next trial.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import attrs
import torch
from attrs import validators as v

from encephagen import validators as ev
from encephagen_builtins.learning.common import PLASTIC_CHOICES, WeightWriter, bounds_ordered, check_bounds

WINDOWS = ("cs", "us")


@attrs.frozen
class Hebbian:
    """Co-activity Hebbian rule of the published exp. 21, applied to the live weights.

    :ivar eta: weight change per co-active pair (mV, scaled by the reward).
    :ivar threshold: a neuron is active in a window with more than this many spikes.
    :ivar w_min: lower weight bound (mV).
    :ivar w_max: upper weight bound (mV).
    :ivar plastic: ``all``, ``excitatory`` or ``between``.
    """

    name: ClassVar[str] = "hebbian"
    summary: ClassVar[str] = "Co-activity Hebbian rule of the published exp. 21 (CS x US windows), on the live weights."

    eta: float = attrs.field(default=0.003, validator=[ev.finite, v.ge(0.0)])
    threshold: int = attrs.field(default=2, validator=[v.instance_of(int), v.ge(0)])
    w_min: float = attrs.field(default=-20.0, validator=ev.finite)
    w_max: float = attrs.field(default=20.0, validator=ev.finite)
    plastic: Literal["all", "excitatory", "between"] = attrs.field(default="all", validator=v.in_(PLASTIC_CHOICES))

    def __attrs_post_init__(self) -> None:
        bounds_ordered(self)

    def check_brain(self, microcircuit: Any, connectome: Any) -> None:
        """Refuse, at validation, bounds that would not hold this brain's plastic weights (see ``check_bounds``)."""
        check_bounds(self, microcircuit, connectome)

    def bind(self, network: Any, generator: torch.Generator | None = None) -> "HebbianLearner":
        """A fresh learner on ``network`` (``generator`` is unused: the rule draws nothing)."""
        return HebbianLearner(self, network)


class HebbianLearner:
    """Spike counts per neuron in the CS and US windows of the current trial."""

    def __init__(self, rule: Hebbian, network: Any) -> None:
        self.rule = rule
        self.net = network
        self.writer = WeightWriter(network, lr=rule.eta, w_min=rule.w_min, w_max=rule.w_max, plastic=rule.plastic)
        n = network.n_neurons
        self.counts = {w: torch.zeros(n, dtype=torch.int32, device=network.device) for w in WINDOWS}
        self.steps = {w: 0 for w in WINDOWS}
        self.seen = {w: False for w in WINDOWS}
        self.open: str | None = None

    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        """Count the spikes ``z`` (``(N,)``) into the open window; ``v`` is not used."""
        n = self.counts["cs"].shape[0]
        if z.shape != (n,):
            raise ValueError(f"on_step expects z of shape ({n},), got {tuple(z.shape)}")
        if self.open is not None:
            self.counts[self.open].add_(z.ne(0))
            self.steps[self.open] += 1

    def begin_window(self, window: str) -> None:
        """Start counting spikes for ``window`` (``"cs"`` or ``"us"``); its old counts are cleared."""
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
        if self.open is not None:
            raise RuntimeError(f"window {self.open!r} is still open; call end_window() first")
        self.counts[window].zero_()
        self.steps[window] = 0
        self.open = window

    def end_window(self) -> None:
        """Stop counting."""
        if self.open is None:
            raise RuntimeError("end_window() without begin_window()")
        self.seen[self.open] = True
        self.open = None

    def snapshot(self) -> None:
        """Nothing to do: the rule has no eligibility; the windows carry the timing."""

    def apply(self, scale: float = 1.0) -> None:
        """Write ``eta * scale * cs_active[pre] * us_active[post]`` into the live weights, then clear the windows."""
        if self.open is not None:
            raise RuntimeError(f"window {self.open!r} is still open; call end_window() before applying")
        missing = [w for w in WINDOWS if not self.seen[w]]
        if missing:
            raise RuntimeError(
                "hebbian needs the task to mark its windows before reward()/apply(): "
                "begin_window('cs') ... end_window(), begin_window('us') ... end_window(); "
                f"missing: {', '.join(missing)}"
            )
        dtype = self.net.weight.dtype
        cs = (self.counts["cs"] > self.rule.threshold).to(dtype)
        us = (self.counts["us"] > self.rule.threshold).to(dtype)
        step = self.rule.eta * float(scale)
        if step != 0.0:
            w = self.writer
            for ch in w.chunks.chunks:
                co_active = w.chunks.pre(cs, ch) * us.index_select(0, w.chunks.post_of(ch))
                w.write_chunk(ch, co_active.mul_(step))
        self._clear()

    def reward(self, r: float) -> None:
        """:meth:`apply` scaled by the reward ``r`` (``r = 1`` is the published rule)."""
        r = float(r)
        if not math.isfinite(r):
            raise ValueError(f"reward must be a finite number, got {r!r}")
        self.apply(r)

    def reset(self) -> None:
        """Clear the counts and close any window; weights are kept."""
        self._clear()
        self.open = None

    def _clear(self) -> None:
        for w in WINDOWS:
            self.counts[w].zero_()
            self.steps[w] = 0
            self.seen[w] = False

    def traces(self) -> dict[str, tuple[torch.Tensor, float, float]]:
        """The spike counts with their bounds (``0`` to the window's length in steps)."""
        return {f"count_{w}": (self.counts[w], 0.0, float(self.steps[w])) for w in WINDOWS}

    def state_bytes(self) -> dict[str, int]:
        """Bytes of learner state (no per-synapse state)."""
        return {"per_synapse": 0, "per_neuron": sum(c.numel() * c.element_size() for c in self.counts.values())}

